"""Per-cassette rules: ``sessions/chat.yaml`` has them in ``sessions/chat.noise.toml``.

A sidecar, not a key in the cassette: the cassette stays exactly what was recorded
(its format is a contract shared with the recorder), the rules can be reviewed and
edited on their own, and ``retape replay DIR`` never mistakes them for a cassette
(only ``*.yaml``/``*.yml`` are cassettes). TOML, like ``[tool.retape]``, so a rule can
move between the two by copy and paste::

    # yours: every interaction of chat.yaml; --learn-noise never changes these
    ignore = ["$..event_id"]
    shape = ["$.choices[*].message.content"]   # compared by shape: keys and types
    message_key = "header.msg_type"            # how this cassette's messages are keyed
    correlate = ["parent_header.msg_id"]
    free_count = ["status"]

    [interactions.3]            # interaction id 3 only
    ignore = ["$.body_hash"]    # yours, kept
    learned = ["$.created", "$.id"]   # --learn-noise's: replaced when it learns again

What concerns one cassette (how its messages are keyed and correlated) lives here;
``[tool.retape.compare]`` only gives the defaults.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from retape.replayer.compare.ignore import IgnoreRules
from retape.replayer.compare.keys import MESSAGE_KEYS, MessageRules

from retape.common.errors import RetapeError
from retape.common.files import write_atomically

SUFFIX = ".noise.toml"
_TOP = frozenset({"ignore", "shape", "interactions"}) | MESSAGE_KEYS
_PER_INTERACTION = frozenset({"ignore", "shape", "learned"})


def noise_path(cassette: str | Path) -> Path:
    return Path(cassette).with_suffix(SUFFIX)


@dataclass
class InteractionRules:
    ignore: list[str] = field(default_factory=list)  # written by a person: kept
    shape: list[str] = field(default_factory=list)
    learned: list[str] = field(default_factory=list)  # written by --learn-noise: replaced


@dataclass
class NoiseFile:
    ignore: list[str] = field(default_factory=list)
    shape: list[str] = field(default_factory=list)
    messages: dict[str, Any] = field(default_factory=dict)  # message_key, correlate, ...
    interactions: dict[int, InteractionRules] = field(default_factory=dict)

    def rules_for(self, interaction_id: int, *, where: str = "noise file") -> IgnoreRules:
        own = self.interactions.get(interaction_id, InteractionRules())
        texts = [*self.ignore, *own.ignore, *own.learned]
        shapes = [*self.shape, *own.shape]
        return IgnoreRules.parse(texts, where=where) + IgnoreRules.shape(shapes, where=where)

    def user_rules_for(self, interaction_id: int, *, where: str = "noise file") -> IgnoreRules:
        """The rules a person wrote, without what --learn-noise learned."""
        own = self.interactions.get(interaction_id, InteractionRules())
        rules = IgnoreRules.parse([*self.ignore, *own.ignore], where=where)
        return rules + IgnoreRules.shape([*self.shape, *own.shape], where=where)

    def learned_for(self, interaction_id: int) -> list[str]:
        return list(self.interactions.get(interaction_id, InteractionRules()).learned)

    def message_rules(self, base: MessageRules, *, where: str = "noise file") -> MessageRules:
        return MessageRules.from_table(self.messages, where=where, base=base)

    def relearned(self, learned: Mapping[int, list[str]]) -> NoiseFile:
        """These rules with the learned lists of ``learned``'s interactions replaced
        (an empty list removes them): learning shrinks as well as grows."""
        interactions = {
            k: InteractionRules(list(v.ignore), list(v.shape), list(v.learned))
            for k, v in self.interactions.items()
        }
        for ident, rules in learned.items():
            own = interactions.setdefault(ident, InteractionRules())
            own.learned = sorted(set(rules))
        kept = {k: v for k, v in interactions.items() if v.ignore or v.shape or v.learned}
        return NoiseFile(
            list(self.ignore), list(self.shape), dict(self.messages), dict(sorted(kept.items()))
        )


def _strings(value: Any, where: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise RetapeError(f"{where}: expected a list of strings")
    return value


def read_noise(path: Path, *, base: MessageRules | None = None) -> NoiseFile:
    """The sidecar's rules (parsed, so a typo fails before any traffic), or none."""
    if not path.is_file():
        return NoiseFile()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise RetapeError(f"{path}: cannot read noise rules: {exc}") from None
    unknown = sorted(set(data) - _TOP)
    if unknown:
        expected = ", ".join(sorted(_TOP))
        raise RetapeError(f"{path}: unknown key {unknown[0]!r} (expected {expected})")
    noise = NoiseFile(
        ignore=_strings(data.get("ignore", []), f"{path}: ignore"),
        shape=_strings(data.get("shape", []), f"{path}: shape"),
        messages={k: v for k, v in data.items() if k in MESSAGE_KEYS},
    )
    noise.message_rules(base or MessageRules(), where=str(path))  # fail early on a bad value
    tables = data.get("interactions", {})
    if not isinstance(tables, dict):
        raise RetapeError(f"{path}: interactions: expected tables like [interactions.3]")
    for key, table in tables.items():
        where = f"{path}: [interactions.{key}]"
        if not key.isdigit() or not isinstance(table, dict) or set(table) - _PER_INTERACTION:
            raise RetapeError(
                f"{where}: expected an interaction id with ignore/shape/learned lists"
            )
        noise.interactions[int(key)] = InteractionRules(
            *(
                _strings(table.get(name, []), f"{where} {name}")
                for name in ("ignore", "shape", "learned")
            )
        )
    for ident in [None, *noise.interactions]:
        noise.rules_for(ident or 0, where=str(path))  # fail early on a bad rule
    return noise


def _toml_list(values: list[str], notes: Mapping[str, str] | None = None) -> str:
    if not values:
        return "[]"
    notes = notes or {}
    lines = []
    for value in values:
        note = notes.get(value)
        comment = f"  # {_one_line(note)}" if note else ""
        lines.append(f"  {json.dumps(value)},{comment}\n")
    return "[\n" + "".join(lines) + "]"


def _one_line(text: str) -> str:
    """A note fit for a TOML comment: what a server sent may hold anything."""
    return "".join(ch if ch.isprintable() else " " for ch in text)[:120]


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return _toml_list([str(v) for v in value])
    return json.dumps(value)


def dump_noise(
    noise: NoiseFile, *, cassette: str, notes: Mapping[int, Mapping[str, str]] | None = None
) -> str:
    """The file's text; ``notes`` say where each learned rule's difference was seen."""
    notes = notes or {}
    lines = [
        f"# Rules for {cassette}. `ignore` and `shape` are yours (JSON paths, header:NAME);",
        "# `learned` lists are written by `retape replay --learn-noise`, which replaces them",
        "# each time it learns, dropping rules no longer needed. See docs/replay.md.",
        "",
        f"ignore = {_toml_list(noise.ignore)}",
    ]
    if noise.shape:
        lines.append(f"shape = {_toml_list(noise.shape)}")
    lines += [f"{key} = {_toml_value(value)}" for key, value in noise.messages.items()]
    for ident, rules in noise.interactions.items():
        lines += ["", f"[interactions.{ident}]"]
        if rules.ignore:
            lines.append(f"ignore = {_toml_list(rules.ignore)}")
        if rules.shape:
            lines.append(f"shape = {_toml_list(rules.shape)}")
        lines.append(f"learned = {_toml_list(rules.learned, notes.get(ident))}")
    return "\n".join(lines) + "\n"


def write_noise(
    path: Path,
    noise: NoiseFile,
    *,
    cassette: str,
    notes: Mapping[int, Mapping[str, str]] | None = None,
) -> None:
    """Replace the file atomically: a crash leaves the old rules or the new, never half."""
    write_atomically(path, dump_noise(noise, cassette=cassette, notes=notes))
