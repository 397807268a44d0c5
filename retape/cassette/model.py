"""The cassette data model and its mapping to plain YAML-ready data.

The model mirrors the file one to one (see docs/cassette-format.md), so that what a
reader sees in the YAML is exactly what the replayer acts on. ``to_data`` builds plain
dicts/lists; ``from_data`` expects data that already passed schema validation.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from retape.cassette.refs import Source, Target
from retape.common.errors import RetapeError

Header = tuple[str, str]
BodyKind = Literal["json", "text", "base64", "omitted"]
PayloadKind = Literal["json", "text", "base64"]
Sender = Literal["client", "server"]
InteractionType = Literal["http", "websocket"]

_JSON_TYPES = ("application/json", "+json")
# JSON nested deeper than this is not read as JSON (validate.MAX_JSON_DEPTH says why).
MAX_JSON_DEPTH = 200


class TooDeep(ValueError):
    """JSON nested deeper than :data:`MAX_JSON_DEPTH`: read as text, never walked."""


def _depth_over(value: Any, limit: int) -> bool:
    """Iteratively: is ``value`` nested deeper than ``limit``? (No recursion to overflow.)"""
    stack = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            if depth >= limit:
                return True
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False


def loads_json(text: str | bytes) -> Any:
    """``json.loads`` for untrusted text (a server, a cassette): deep nesting is a
    :class:`TooDeep` ValueError, never a RecursionError that ends the run."""
    try:
        value = json.loads(text)
    except RecursionError:
        raise TooDeep(f"JSON nested deeper than {MAX_JSON_DEPTH} levels") from None
    if isinstance(value, dict | list) and _depth_over(value, MAX_JSON_DEPTH):
        raise TooDeep(f"JSON nested deeper than {MAX_JSON_DEPTH} levels")
    return value


# Control characters a YAML block string cannot hold (tab, LF and CR it can).
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def _is_json_type(content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    return media.endswith(_JSON_TYPES) or media == "application/json"


def _as_text(data: bytes) -> str | None:
    """Decode bytes as UTF-8 text fit for a YAML block string, or None if binary."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if _CONTROL.search(text):  # one C scan, not a Python loop per character
        return None
    return text


class OmittedBodyError(RetapeError):
    """The bytes of a body the recorder did not keep were asked for.

    A body over the recorder's ``--max-body-size`` is stored as a note (size and
    sha256) so a huge download cannot exhaust memory or bloat the cassette; there is
    nothing to send or compare byte for byte.
    """

    def __init__(self, size: int | None) -> None:
        super().__init__(
            f"the body of {size} bytes was not recorded (it was over the recorder's "
            "--max-body-size): the cassette holds only its size and sha256"
        )
        self.size = size


@dataclass(frozen=True)
class Body:
    """A message body stored readably: JSON as YAML structure, text as text, else base64.

    Bodies are stored decoded; ``content_encoding`` keeps the original
    ``Content-Encoding`` (gzip, br, ...) so a reader knows what went over the wire.
    A body over the recorder's size cap is ``omitted``: only ``size`` and ``sha256``
    (of the bytes as transferred, still encoded if ``content_encoding`` is set) and
    its ``content_type`` are kept, and ``value`` is None.
    """

    kind: BodyKind
    value: Any
    content_encoding: str | None = None
    size: int | None = None
    sha256: str | None = None
    content_type: str | None = None

    @classmethod
    def omitted(
        cls,
        *,
        size: int,
        sha256: str,
        content_type: str = "",
        content_encoding: str | None = None,
    ) -> Body:
        """The note that stands for a body too large to keep."""
        return cls("omitted", None, content_encoding, size, sha256, content_type or None)

    @property
    def is_omitted(self) -> bool:
        return self.kind == "omitted"

    @classmethod
    def from_bytes(
        cls, data: bytes, content_type: str = "", content_encoding: str | None = None
    ) -> Body | None:
        if not data:
            return None
        text = _as_text(data)
        if text is not None and _is_json_type(content_type):
            try:
                return cls("json", loads_json(text), content_encoding)
            except ValueError:
                pass
        if text is not None:
            return cls("text", text, content_encoding)
        return cls("base64", base64.b64encode(data).decode("ascii"), content_encoding)

    def to_bytes(self) -> bytes:
        """The decoded bytes; raises :class:`OmittedBodyError` for an omitted body."""
        if self.is_omitted:
            raise OmittedBodyError(self.size)
        if self.kind == "json":
            return json.dumps(self.value, ensure_ascii=False, separators=(",", ":")).encode()
        if self.kind == "text":
            return str(self.value).encode("utf-8")
        return base64.b64decode(self.value, validate=True)

    def to_data(self) -> dict[str, Any]:
        data: dict[str, Any]
        if self.is_omitted:
            data = {"omitted": True, "size": self.size, "sha256": self.sha256}
            if self.content_type:
                data["content_type"] = self.content_type
        else:
            data = {self.kind: self.value}
        if self.content_encoding:
            data["content_encoding"] = self.content_encoding
        return data

    @classmethod
    def from_data(cls, data: dict[str, Any] | None) -> Body | None:
        if data is None:
            return None
        if data.get("omitted"):
            return cls.omitted(
                size=data["size"],
                sha256=data["sha256"],
                content_type=data.get("content_type") or "",
                content_encoding=data.get("content_encoding"),
            )
        for kind in ("json", "text", "base64"):
            if kind in data:
                return cls(kind, data[kind], data.get("content_encoding"))
        return None


class InlineList(list):
    """A list the YAML writer prints on one line (``[name, value]``), for header pairs."""


def _headers_to_data(headers: list[Header]) -> list[list[str]]:
    return [InlineList((name, value)) for name, value in headers]


def _headers_from_data(data: list[list[str]] | None) -> list[Header]:
    return [(str(name), str(value)) for name, value in data or []]


def header_value(headers: list[Header], name: str) -> str | None:
    """The first value of a header, matched case-insensitively."""
    wanted = name.lower()
    for key, value in headers:
        if key.lower() == wanted:
            return value
    return None


@dataclass
class Request:
    method: str
    path: str
    headers: list[Header] = field(default_factory=list)
    body: Body | None = None
    # Lower-cased names of headers that carried a credential; their values were redacted
    # at record time and replay puts the live credential back in their place.
    credentials: list[str] = field(default_factory=list)

    def to_data(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "method": self.method,
            "path": self.path,
            "headers": _headers_to_data(self.headers),
        }
        if self.credentials:
            data["credentials"] = list(self.credentials)
        if self.body is not None:
            data["body"] = self.body.to_data()
        return data

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> Request:
        return cls(
            method=data["method"],
            path=data["path"],
            headers=_headers_from_data(data.get("headers")),
            body=Body.from_data(data.get("body")),
            credentials=[str(name).lower() for name in data.get("credentials") or []],
        )


@dataclass
class Response:
    status: int
    headers: list[Header] = field(default_factory=list)
    body: Body | None = None
    reason: str = ""

    def to_data(self) -> dict[str, Any]:
        data: dict[str, Any] = {"status": self.status}
        if self.reason:
            data["reason"] = self.reason
        data["headers"] = _headers_to_data(self.headers)
        if self.body is not None:
            data["body"] = self.body.to_data()
        return data

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> Response:
        return cls(
            status=data["status"],
            headers=_headers_from_data(data.get("headers")),
            body=Body.from_data(data.get("body")),
            reason=data.get("reason") or "",
        )


@dataclass(frozen=True)
class Message:
    """One WebSocket message; ``at`` is seconds since the handshake completed."""

    sender: Sender
    at: float
    kind: PayloadKind
    value: Any

    @classmethod
    def from_frame(cls, sender: Sender, at: float, content: bytes | str) -> Message:
        if isinstance(content, str):
            try:
                parsed = loads_json(content)
            except ValueError:
                return cls(sender, at, "text", content)
            if isinstance(parsed, dict | list):
                return cls(sender, at, "json", parsed)
            return cls(sender, at, "text", content)
        return cls(sender, at, "base64", base64.b64encode(content).decode("ascii"))

    @property
    def is_text(self) -> bool:
        return self.kind != "base64"

    def payload(self) -> bytes | str:
        """What goes over the wire: str for a text frame, bytes for a binary frame."""
        if self.kind == "json":
            return json.dumps(self.value, ensure_ascii=False, separators=(",", ":"))
        if self.kind == "text":
            return str(self.value)
        return base64.b64decode(self.value, validate=True)

    def to_data(self) -> dict[str, Any]:
        return {"from": self.sender, "at": round(self.at, 6), self.kind: self.value}

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> Message:
        kind = next(k for k in ("json", "text", "base64") if k in data)
        return cls(data["from"], float(data.get("at", 0.0)), kind, data[kind])  # type: ignore[arg-type]


@dataclass(frozen=True)
class Close:
    """How a WebSocket session ended. ``by`` is ``none`` for a drop without a close frame."""

    code: int | None
    reason: str = ""
    by: Literal["client", "server", "none"] = "client"

    def to_data(self) -> dict[str, Any]:
        return {"code": self.code, "reason": self.reason, "by": self.by}

    @classmethod
    def from_data(cls, data: dict[str, Any] | None) -> Close | None:
        if data is None:
            return None
        return cls(data.get("code"), data.get("reason") or "", data.get("by", "client"))


@dataclass(frozen=True)
class Correlation:
    """A value the server returned that the client then sent back (``uses:``).

    Written on the interaction that *uses* the value, with both ends: ``source`` (an
    earlier interaction's response, or an earlier server message of the same websocket
    session) and ``targets`` (parts of this interaction's request or client messages).
    ``value`` is the value as recorded (a ``<redacted:N>`` placeholder for a secret);
    at replay the live value taken from ``source`` replaces it in every target.
    ``match`` (a regular expression with one group) picks the value out of a longer
    source string, such as an id inside a ``Location`` URL. ``enabled: false`` keeps a
    reviewed correlation in the file but off. ``used_by`` is the id of the interaction
    it is written on (not a key of its own in the file).
    """

    value: str
    source: Source
    targets: tuple[Target, ...]
    name: str = ""
    match: str | None = None
    enabled: bool = True
    used_by: int = 0

    @property
    def label(self) -> str:
        """``kernel id``: what the value is, for reports."""
        return self.name or "value"

    def to_data(self) -> dict[str, Any]:
        data: dict[str, Any] = {}
        if self.name:
            data["name"] = self.name
        data["value"] = self.value
        data["from"] = str(self.source)
        if self.match is not None:
            data["match"] = self.match
        data["to"] = InlineList(str(t) for t in self.targets)
        if not self.enabled:
            data["enabled"] = False
        return data

    @classmethod
    def from_data(cls, data: dict[str, Any], *, used_by: int = 0) -> Correlation:
        return cls(
            value=str(data["value"]),
            source=Source.parse(data["from"]),
            targets=tuple(Target.parse(t) for t in data["to"]),
            name=str(data.get("name") or ""),
            match=data.get("match"),
            enabled=data.get("enabled", True) is not False,
            used_by=used_by,
        )


@dataclass
class Interaction:
    id: int
    type: InteractionType
    request: Request
    response: Response
    at: float = 0.0  # seconds since the recording started
    duration: float = 0.0  # seconds from request start to response end (session end for ws)
    http_version: str = "HTTP/1.1"
    # A list, or for a long session read from a file, its messages read as needed
    # (cassette.message_log).
    messages: Sequence[Message] = field(default_factory=list)
    close: Close | None = None
    # Values this interaction sends that an earlier response minted (docs/cassette-format.md).
    uses: list[Correlation] = field(default_factory=list)

    @property
    def accepted(self) -> bool:
        """For a websocket: did the recorded handshake succeed (101)?"""
        return self.type == "websocket" and self.response.status == 101

    def to_data(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": self.id,
            "type": self.type,
            "at": round(self.at, 6),
            "duration": round(self.duration, 6),
            "http_version": self.http_version,
            "request": self.request.to_data(),
            "response": self.response.to_data(),
        }
        if self.type == "websocket":
            data["messages"] = [m.to_data() for m in self.messages]
            data["close"] = self.close.to_data() if self.close else None
        if self.uses:
            data["uses"] = [c.to_data() for c in self.uses]
        return data

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> Interaction:
        return cls(
            id=data["id"],
            type=data["type"],
            request=Request.from_data(data["request"]),
            response=Response.from_data(data["response"]),
            at=float(data.get("at", 0.0)),
            duration=float(data.get("duration", 0.0)),
            http_version=data.get("http_version") or "HTTP/1.1",
            messages=[Message.from_data(m) for m in data.get("messages") or []],
            close=Close.from_data(data.get("close")),
            uses=[Correlation.from_data(c, used_by=data["id"]) for c in data.get("uses") or []],
        )


@dataclass
class Recording:
    """Where and when a cassette was recorded. Informational only: never a replay target."""

    at: str = ""
    retape: str = ""
    mitmproxy: str = ""
    upstream: str = ""

    def to_data(self) -> dict[str, Any]:
        return {
            "at": self.at,
            "retape": self.retape,
            "mitmproxy": self.mitmproxy,
            "upstream": self.upstream,
        }

    @classmethod
    def from_data(cls, data: dict[str, Any] | None) -> Recording:
        data = data or {}
        return cls(
            at=str(data.get("at", "")),
            retape=str(data.get("retape", "")),
            mitmproxy=str(data.get("mitmproxy", "")),
            upstream=str(data.get("upstream", "")),
        )


@dataclass
class Cassette:
    recording: Recording = field(default_factory=Recording)
    interactions: list[Interaction] = field(default_factory=list)
    path: str | None = None  # where it was loaded from, for error messages and reports
