"""How a cassette's websocket messages are told apart: key paths, correlation, terminals.

A realtime event says what it is in ``type``; a Jupyter message in ``header.msg_type``
and which request it answers in ``parent_header.msg_id``. :class:`MessageRules` holds
those facts for one cassette (its ``.noise.toml``, else ``[tool.retape.compare]``): the
comparison reads them to align messages (:mod:`replayer.compare.messages`) and the
conversation to know when a server's turn is over (:mod:`replayer.conversation`).
Pure: paths and values only.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

from retape.common.errors import RetapeError

DEFAULT_KEY = "type"
# Fields that tie a server message to what it answers or belongs to, tried in order.
DEFAULT_CORRELATE = ("parent_header.msg_id", "response_id", "response.id", "item_id", "event_id")
# Messages that end a server's turn when the recording ended the turn with them:
# realtime ``response.done``, ``*.completed`` transcriptions, Jupyter ``execute_reply``
# and the kernel's ``status`` going back to idle.
DEFAULT_TERMINAL = (
    "*.done",
    "*.completed",
    "*.failed",
    "*_reply",
    "error",
    "status[content.execution_state=idle]",
)
_MISSING = object()


def parse_path(text: str, *, where: str = "key path") -> tuple[str, ...]:
    """``header.msg_type`` -> ``("header", "msg_type")``; a leading ``$.`` is allowed."""
    path = text.strip().removeprefix("$").removeprefix(".")
    parts = tuple(path.split(".")) if path else ()
    if not parts or any(not part for part in parts):
        raise RetapeError(f"{where}: {text!r} is not a dotted key path (e.g. 'header.msg_type')")
    return parts


def value_at(value: Any, path: tuple[str, ...]) -> Any:
    """The value at ``path`` inside nested objects, or ``None`` when it is not there."""
    for part in path:
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


def paths_of(value: Any, wanted: str, prefix: tuple[str | int, ...] = ()) -> Iterator[tuple]:
    """Every path at which the string ``wanted`` occurs in a JSON document."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield from paths_of(item, wanted, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from paths_of(item, wanted, (*prefix, index))
    elif isinstance(value, str) and value == wanted:
        yield prefix


def get(value: Any, parts: tuple) -> Any:
    """Like :func:`value_at` for paths with list indices; ``None`` when absent."""
    for part in parts:
        if isinstance(part, int):
            if not isinstance(value, list) or part >= len(value):
                return None
        elif not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


@dataclass(frozen=True)
class Terminal:
    """``name[path=value]``: a glob over message keys, optionally with one field condition."""

    text: str
    glob: str
    field: tuple[str, ...] = ()
    equals: str | None = None

    @classmethod
    def parse(cls, text: str, *, where: str = "terminal") -> Terminal:
        glob, bracket, rest = text.strip().partition("[")
        if not glob:
            raise RetapeError(f"{where}: {text!r} names no message key")
        if not bracket:
            return cls(text, glob)
        condition = rest.removesuffix("]")
        name, equals, value = condition.partition("=")
        if not rest.endswith("]") or not equals or not name.strip():
            raise RetapeError(f"{where}: {text!r}: expected KEY or KEY[path=value]")
        return cls(text, glob, parse_path(name, where=where), value.strip())

    def matches(self, key: str, value: Any) -> bool:
        if not fnmatch.fnmatchcase(key, self.glob):
            return False
        return not self.field or str(value_at(value, self.field)) == self.equals


@dataclass(frozen=True)
class MessageRules:
    """How one cassette's messages are keyed, correlated, counted and ordered.

    - ``key``: the field naming a message's kind (``type``, ``header.msg_type``);
    - ``correlate``: fields tying a reply to its request (``parent_header.msg_id``);
    - ``terminal``: message kinds that end a server's turn (``*.done``);
    - ``free_count``: kinds that may come any number of times (Jupyter ``status``);
    - ``unordered``: messages of one server turn may arrive in any order;
    - ``assemble``: streamed ``*.delta`` events are compared as their joined text.
    """

    key: tuple[str, ...] = (DEFAULT_KEY,)
    correlate: tuple[tuple[str, ...], ...] = tuple(parse_path(p) for p in DEFAULT_CORRELATE)
    terminal: tuple[Terminal, ...] = tuple(Terminal.parse(t) for t in DEFAULT_TERMINAL)
    free_count: frozenset[str] = frozenset()
    unordered: bool = False
    assemble: bool = True

    @property
    def key_name(self) -> str:
        return ".".join(self.key)

    def key_of(self, value: Any) -> str | None:
        """A JSON message's kind, or ``None`` when it has no such field."""
        name = value_at(value, self.key)
        return None if name is None or isinstance(name, dict | list) else str(name)

    def is_terminal(self, key: str | None, value: Any) -> bool:
        return key is not None and any(t.matches(key, value) for t in self.terminal)

    @classmethod
    def from_table(
        cls, table: dict[str, Any], *, where: str, base: MessageRules | None = None
    ) -> MessageRules:
        """The keys of a ``.noise.toml`` or ``[tool.retape.compare]`` over ``base``."""
        base = base or cls()
        fields: dict[str, Any] = {}
        if "message_key" in table:
            fields["key"] = parse_path(_string(table["message_key"], f"{where} message_key"))
        if "correlate" in table:
            texts = _strings(table["correlate"], f"{where} correlate")
            fields["correlate"] = tuple(parse_path(t, where=f"{where} correlate") for t in texts)
        if "terminal" in table:
            texts = _strings(table["terminal"], f"{where} terminal")
            fields["terminal"] = tuple(Terminal.parse(t, where=f"{where} terminal") for t in texts)
        if "free_count" in table:
            fields["free_count"] = frozenset(_strings(table["free_count"], f"{where} free_count"))
        for flag in ("unordered", "assemble"):
            if flag in table:
                if not isinstance(table[flag], bool):
                    raise RetapeError(f"{where} {flag}: expected true or false")
                fields[flag] = table[flag]
        return replace(base, **fields)


MESSAGE_KEYS = frozenset(
    {"message_key", "correlate", "terminal", "free_count", "unordered", "assemble"}
)


def _string(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise RetapeError(f"{where}: expected a non-empty string")
    return value


def _strings(value: Any, where: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise RetapeError(f"{where}: expected a list of strings")
    return value
