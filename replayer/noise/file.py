"""Per-cassette ignore rules: ``sessions/chat.yaml`` has them in ``sessions/chat.noise.toml``.

A sidecar, not a key in the cassette: the cassette stays exactly what was recorded
(its format is a contract shared with the recorder), the rules can be reviewed and
edited on their own, and ``retape replay DIR`` never mistakes them for a cassette
(only ``*.yaml``/``*.yml`` are cassettes). TOML, like ``[tool.retape]``, so a rule can
move between the two by copy and paste::

    # every interaction of chat.yaml
    ignore = ["$..event_id"]

    [interactions.3]            # interaction id 3 only
    ignore = ["$.created", "$.id"]

``--learn-noise`` adds what it learned under each interaction and never removes a
rule; delete the file (or a rule) to start over.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from retape.replayer.compare.ignore import IgnoreRules

from retape.common.errors import RetapeError
from retape.common.files import write_atomically

SUFFIX = ".noise.toml"


def noise_path(cassette: str | Path) -> Path:
    return Path(cassette).with_suffix(SUFFIX)


@dataclass
class NoiseFile:
    ignore: list[str] = field(default_factory=list)
    interactions: dict[int, list[str]] = field(default_factory=dict)

    def rules_for(self, interaction_id: int, *, where: str = "noise file") -> IgnoreRules:
        texts = [*self.ignore, *self.interactions.get(interaction_id, [])]
        return IgnoreRules.parse(texts, where=where)

    def merged(self, learned: Mapping[int, list[str]]) -> NoiseFile:
        """These rules plus ``learned``, without duplicates, in a stable order."""
        interactions = {k: list(v) for k, v in self.interactions.items()}
        for ident, rules in learned.items():
            if rules:
                interactions[ident] = sorted(set(interactions.get(ident, [])) | set(rules))
        return NoiseFile(list(self.ignore), dict(sorted(interactions.items())))


def _strings(value: Any, where: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise RetapeError(f"{where}: expected a list of strings")
    return value


def read_noise(path: Path) -> NoiseFile:
    """The sidecar's rules (parsed, so a typo fails before any traffic), or none."""
    if not path.is_file():
        return NoiseFile()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise RetapeError(f"{path}: cannot read noise rules: {exc}") from None
    unknown = sorted(set(data) - {"ignore", "interactions"})
    if unknown:
        raise RetapeError(f"{path}: unknown key {unknown[0]!r} (expected ignore, interactions)")
    noise = NoiseFile(ignore=_strings(data.get("ignore", []), f"{path}: ignore"))
    tables = data.get("interactions", {})
    if not isinstance(tables, dict):
        raise RetapeError(f"{path}: interactions: expected tables like [interactions.3]")
    for key, table in tables.items():
        where = f"{path}: [interactions.{key}]"
        if not key.isdigit() or not isinstance(table, dict) or set(table) - {"ignore"}:
            raise RetapeError(f"{where}: expected an interaction id with an ignore list")
        noise.interactions[int(key)] = _strings(table.get("ignore", []), f"{where} ignore")
    for ident in [None, *noise.interactions]:
        noise.rules_for(ident or 0, where=str(path))  # fail early on a bad rule
    return noise


def _toml_list(values: list[str]) -> str:
    if not values:
        return "[]"
    return "[\n" + "".join(f"  {json.dumps(v)},\n" for v in values) + "]"


def dump_noise(noise: NoiseFile, *, cassette: str) -> str:
    lines = [
        f"# Ignore rules for {cassette}: JSON paths (and header:NAME) whose values",
        "# differ between two runs of the same build. `retape replay --learn-noise` adds",
        "# to this file and never removes a rule; edit freely (see docs/replay.md).",
        "",
        f"ignore = {_toml_list(noise.ignore)}",
    ]
    for ident, rules in noise.interactions.items():
        lines += ["", f"[interactions.{ident}]", f"ignore = {_toml_list(rules)}"]
    return "\n".join(lines) + "\n"


def write_noise(path: Path, noise: NoiseFile, *, cassette: str) -> None:
    """Replace the file atomically: a crash leaves the old rules or the new, never half."""
    write_atomically(path, dump_noise(noise, cassette=cassette))
