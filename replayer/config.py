"""``[tool.retape.compare]`` and ``[tool.retape.auth_matrix]`` from the nearest pyproject.toml.

Project-wide settings live with the project, like ruff's or pytest's: ignore rules
that hold for every cassette, the defaults for how websocket messages are keyed and
correlated (a cassette's ``.noise.toml`` overrides them for that cassette), and what
counts as a refusal. Flags on the command line add to (rules) or override (refusal)
these.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from retape.replayer.compare.ignore import IgnoreRules
from retape.replayer.compare.keys import DEFAULT_KEY, MESSAGE_KEYS, MessageRules

from retape.common.errors import RetapeError
from retape.common.pyproject import read_tool, section, strings

DEFAULT_REFUSAL = frozenset({401, 403})
_KNOWN = {"compare": {"ignore", "shape", *MESSAGE_KEYS}, "auth_matrix": {"refusal", "public"}}


@dataclass(frozen=True)
class ReplayConfig:
    ignore: IgnoreRules = field(default_factory=IgnoreRules)
    message_key: str = DEFAULT_KEY
    messages: MessageRules = field(default_factory=MessageRules)  # defaults for every cassette
    refusal: frozenset[int] = DEFAULT_REFUSAL
    public: tuple[str, ...] = ()  # path globs that answer without a credential by design

    def is_public(self, path: str) -> bool:
        bare = path.split("?", 1)[0]
        return any(fnmatch.fnmatchcase(bare, pattern) for pattern in self.public)


def parse_refusal(values: Any, *, where: str) -> frozenset[int]:
    if isinstance(values, str):
        values = [v.strip() for v in values.split(",") if v.strip()]
    codes: set[int] = set()
    for value in values if isinstance(values, list) else [values]:
        try:
            code = int(value)
        except (TypeError, ValueError):
            code = 0
        if not 100 <= code <= 599 or isinstance(value, bool):
            raise RetapeError(f"{where}: {value!r} is not an HTTP status code")
        codes.add(code)
    if not codes:
        raise RetapeError(f"{where}: expected at least one status code")
    return frozenset(codes)


def load_config(pyproject: Path | None = None) -> ReplayConfig:
    """The settings of the nearest pyproject.toml (from the working directory up)."""
    tool, path = read_tool(pyproject)
    if path is None:
        return ReplayConfig()
    compare = section(tool, "compare", _KNOWN["compare"], path)
    auth = section(tool, "auth_matrix", _KNOWN["auth_matrix"], path)
    where = f"{path}: [tool.retape.compare]"
    key = compare.get("message_key", DEFAULT_KEY)
    if not isinstance(key, str) or not key:
        raise RetapeError(f"{where} message_key: expected a non-empty string")
    refusal = DEFAULT_REFUSAL
    if "refusal" in auth:
        refusal = parse_refusal(auth["refusal"], where=f"{path}: [tool.retape.auth_matrix] refusal")
    ignore = IgnoreRules.parse(strings(compare, "ignore", where), where=f"{where} ignore")
    shape = IgnoreRules.shape(strings(compare, "shape", where), where=f"{where} shape")
    return ReplayConfig(
        ignore=ignore + shape,
        message_key=key,
        messages=MessageRules.from_table(compare, where=where),
        refusal=refusal,
        public=tuple(strings(auth, "public", f"{path}: [tool.retape.auth_matrix]")),
    )
