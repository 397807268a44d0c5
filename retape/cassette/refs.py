"""Where a correlated value is captured and where it is used: the small reference language.

A correlation (``uses:`` in a cassette, see docs/cassette-format.md) names its two ends
in words a reviewer can read and edit:

* a **source**, something the *server* sent in an earlier interaction (or earlier in the
  same websocket session)::

      '#5 $.id'                      JSON response body of #5, at that JSON path
      '#5 header location'           a response header of #5 (the whole value, or ``match``)
      '#5 cookie _xsrf'              the value of a cookie #5 set (Set-Cookie)
      '#5 html _xsrf'                an HTML form field of #5's body (<input name=...>, <meta>)
      '#5 event 3 $.id'              SSE event 3 (from 0) of #5's body, its data at that path
      '#5 message 4 $.item.id'       websocket message 4 (from 0, a server message) of #5
      '#5 body'                      #5's whole text body (with ``match``)

* **targets**, parts of what the *client* sends in the interaction that holds the
  correlation::

      path                           the request path and query (the websocket URL)
      header authorization           a request header (subprotocols: sec-websocket-protocol)
      body                           a text or form body, as text
      body $.previous_response_id    a JSON request body, at that path
      message 6                      websocket client message 6, as text
      message 6 $.item_id            websocket client message 6, at that JSON path

JSON paths are concrete (keys and indices, no wildcards) and spelled as in ignore rules
and diffs: ``$.a.b[0]``, ``$['odd key']``. Everything here is pure.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

Part = str | int
SourcePart = Literal["body", "header", "cookie", "html", "event", "message"]
TargetPart = Literal["path", "header", "body", "message"]

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")
_STEP = re.compile(r"\.([A-Za-z_][A-Za-z0-9_-]*)|\[(\d+)\]|\['((?:[^'\\]|\\.)*)'\]")
_TOKEN = re.compile(r"[^\s]+")
_SOURCE = re.compile(
    r"#(?P<id>[1-9][0-9]*)[ ]+(?:"
    r"(?P<json>\$.*)"
    r"|(?P<named>header|cookie|html)[ ]+(?P<name>\S+)"
    r"|(?P<indexed>event|message)[ ]+(?P<index>[0-9]+)(?:[ ]+(?P<ipath>\$.*))?"
    r"|(?P<body>body)(?:[ ]+(?P<bpath>\$.*))?"
    r")"
)
_TARGET = re.compile(
    r"(?P<path>path)"
    r"|header[ ]+(?P<header>\S+)"
    r"|body(?:[ ]+(?P<bpath>\$.*))?"
    r"|message[ ]+(?P<index>[0-9]+)(?:[ ]+(?P<mpath>\$.*))?"
)


class RefError(ValueError):
    """A reference or JSON path that does not parse; the message says what was expected."""


def format_path(parts: Sequence[Part]) -> str:
    """``("choices", 0, "id")`` -> ``$.choices[0].id``."""
    out = "$"
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        elif _NAME.fullmatch(part):
            out += f".{part}"
        else:
            escaped = part.replace("\\", "\\\\").replace("'", "\\'")
            out += f"['{escaped}']"
    return out


def parse_path(text: str) -> tuple[Part, ...]:
    """``$.choices[0].id`` -> ``("choices", 0, "id")``; raises :class:`RefError`."""
    if not text.startswith("$"):
        raise RefError(f"a JSON path starts with '$', got {text!r}")
    parts: list[Part] = []
    at = 1
    while at < len(text):
        match = _STEP.match(text, at)
        if match is None:
            raise RefError(f"not a JSON path of keys and indices: {text!r}")
        key, index, quoted = match.groups()
        if key is not None:
            parts.append(key)
        elif index is not None:
            parts.append(int(index))
        else:
            parts.append(re.sub(r"\\(.)", r"\1", quoted))
        at = match.end()
    return tuple(parts)


_MISSING = object()


def get_at(value: Any, parts: Sequence[Part]) -> Any:
    """The value at ``parts`` inside JSON data, or :data:`MISSING`."""
    for part in parts:
        in_list = isinstance(part, int) and isinstance(value, list) and 0 <= part < len(value)
        if not in_list and not (
            isinstance(part, str) and isinstance(value, dict) and part in value
        ):
            return _MISSING
        value = value[part]
    return value


MISSING = _MISSING


def replace_at(value: Any, parts: Sequence[Part], change: Any) -> tuple[Any, bool]:
    """A copy of ``value`` with ``change(old)`` put at ``parts``; and whether it was there.

    ``change`` gets the old leaf and returns the new one. Containers on the way are
    copied, everything else is shared.
    """
    if not parts:
        return change(value), True
    head, rest = parts[0], parts[1:]
    if isinstance(head, int) and isinstance(value, list) and 0 <= head < len(value):
        new, found = replace_at(value[head], rest, change)
        if not found:
            return value, False
        copy = list(value)
        copy[head] = new
        return copy, True
    if isinstance(head, str) and isinstance(value, dict) and head in value:
        new, found = replace_at(value[head], rest, change)
        if not found:
            return value, False
        return {**value, head: new}, True
    return value, False


@dataclass(frozen=True)
class Source:
    """Where the server sent a value: ``#5 $.id``, ``#5 header location``, ..."""

    id: int
    part: SourcePart
    path: tuple[Part, ...] = ()  # JSON path (body, event, message)
    name: str = ""  # header, cookie or html field name (headers lower-cased)
    index: int | None = None  # SSE event or websocket message index

    def __str__(self) -> str:
        path = format_path(self.path) if self.path or self.part == "body" else ""
        if self.part == "body":
            return f"#{self.id} {path}" if self.path else f"#{self.id} body"
        if self.part in ("header", "cookie", "html"):
            return f"#{self.id} {self.part} {self.name}"
        tail = f" {path}" if self.path else ""
        return f"#{self.id} {self.part} {self.index}{tail}"

    @classmethod
    def parse(cls, text: str) -> Source:
        match = _SOURCE.fullmatch(text.strip())
        if match is None:
            raise RefError(
                f"expected a source such as '#5 $.id', '#5 header location', "
                f"'#5 cookie NAME', '#5 html NAME', '#5 event 0 $.id' or "
                f"'#5 message 3 $.item.id', got {text!r}"
            )
        ident = int(match["id"])
        if match["json"] is not None:
            return cls(ident, "body", parse_path(match["json"]))
        if match["named"] is not None:
            name = match["name"].lower() if match["named"] == "header" else match["name"]
            return cls(ident, match["named"], name=name)  # type: ignore[arg-type]
        if match["indexed"] is not None:
            path = parse_path(match["ipath"]) if match["ipath"] else ()
            return cls(ident, match["indexed"], path, index=int(match["index"]))  # type: ignore[arg-type]
        return cls(ident, "body", parse_path(match["bpath"]) if match["bpath"] else ())


@dataclass(frozen=True)
class Target:
    """Where the client used the value: ``path``, ``header authorization``, ..."""

    part: TargetPart
    name: str = ""  # header name, lower case
    path: tuple[Part, ...] | None = None  # JSON path; None: the part as text
    index: int | None = None  # websocket message index

    def __str__(self) -> str:
        path = f" {format_path(self.path)}" if self.path is not None else ""
        if self.part == "path":
            return "path"
        if self.part == "header":
            return f"header {self.name}"
        if self.part == "body":
            return f"body{path}"
        return f"message {self.index}{path}"

    @classmethod
    def parse(cls, text: str) -> Target:
        match = _TARGET.fullmatch(text.strip())
        if match is None:
            raise RefError(
                "expected a target such as 'path', 'header NAME', 'body', 'body $.field', "
                f"'message 3' or 'message 3 $.field', got {text!r}"
            )
        if match["path"]:
            return cls("path")
        if match["header"]:
            return cls("header", name=match["header"].lower())
        if match["index"] is not None:
            path = parse_path(match["mpath"]) if match["mpath"] else None
            return cls("message", path=path, index=int(match["index"]))
        return cls("body", path=parse_path(match["bpath"]) if match["bpath"] else None)
