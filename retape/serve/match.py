"""Which recorded interaction answers a request, and why the closest one does not.

Matching is by what a client controls and a server acts on: the kind (websocket
handshake or plain HTTP), method, path, query (in any order) and body, and whether a
credential was present at all, so a request without a key gets the recorded 401 and
one with a key the recorded 200. A placeholder (``<redacted:N>``) in the recording
stands for any value: the client holds the real secret, the cassette never did.
Identical requests are answered in recorded order; once every one is used, the last
is answered again. The checks are small functions that return what differs, composed
the way vcrpy's matchers are, so "closest" and "why" come from the same code.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, unquote

from retape.cassette.model import Body, Interaction
from retape.cassette.rules import PLACEHOLDER_RE


@dataclass(frozen=True)
class Incoming:
    """What a client sent, as far as matching goes."""

    method: str
    path: str  # without the query
    query: tuple[tuple[str, str], ...]
    body: bytes
    credential: bool  # any credential header present
    websocket: bool

    @property
    def label(self) -> str:
        query = "&".join(f"{k}={v}" for k, v in self.query)
        kind = "websocket " if self.websocket else ""
        return f"{kind}{self.method} {self.path}{'?' + query if query else ''}"


@dataclass
class Recorded:
    """One interaction of a served cassette, and how often it has answered."""

    cassette: str
    interaction: Interaction
    order: int
    uses: int = 0
    path: str = field(init=False)
    query: tuple[tuple[str, str], ...] = field(init=False)

    def __post_init__(self) -> None:
        path, _, query = self.interaction.request.path.partition("?")
        self.path = unquote(path)
        self.query = tuple(sorted(parse_qsl(query, keep_blank_values=True)))

    @property
    def label(self) -> str:
        request = self.interaction.request
        return f"{self.cassette}#{self.interaction.id} {request.method} {request.path}"


def split_target(raw_path: str) -> tuple[str, tuple[tuple[str, str], ...]]:
    path, _, query = raw_path.partition("?")
    return unquote(path), tuple(sorted(parse_qsl(query, keep_blank_values=True)))


# -- values with placeholders ----------------------------------------------------------


def _pattern(recorded: str) -> re.Pattern[str]:
    parts = PLACEHOLDER_RE.split(recorded)
    return re.compile(".*?".join(re.escape(p) for p in parts), re.DOTALL)


def same_text(sent: str, recorded: str) -> bool:
    if sent == recorded:
        return True
    if PLACEHOLDER_RE.search(recorded) is None:
        return False
    return _pattern(recorded).fullmatch(sent) is not None


def json_difference(sent: Any, recorded: Any, where: str = "$") -> str | None:
    """The first place two JSON values differ, or None; placeholders match anything."""
    if isinstance(recorded, str) and isinstance(sent, str | int | float):
        if same_text(str(sent), recorded):
            return None
        return f"{where}: {_short(sent)}, recorded {_short(recorded)}"
    if isinstance(recorded, dict) and isinstance(sent, dict):
        for key in [*recorded, *(k for k in sent if k not in recorded)]:
            if key not in sent:
                return f"{where}.{key}: missing, recorded {_short(recorded[key])}"
            if key not in recorded:
                return f"{where}.{key}: {_short(sent[key])}, not in the recording"
            found = json_difference(sent[key], recorded[key], f"{where}.{key}")
            if found:
                return found
        return None
    if isinstance(recorded, list) and isinstance(sent, list):
        if len(sent) != len(recorded):
            return f"{where}: {len(sent)} items, recorded {len(recorded)}"
        for index, (a, b) in enumerate(zip(sent, recorded, strict=True)):
            found = json_difference(a, b, f"{where}[{index}]")
            if found:
                return found
        return None
    if sent == recorded and type(sent) is type(recorded):
        return None
    return f"{where}: {_short(sent)}, recorded {_short(recorded)}"


def _short(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False) if not isinstance(value, str) else repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def body_difference(sent: bytes, recorded: Body | None) -> str | None:
    if recorded is None:
        return None if not sent else f"body: {len(sent)} bytes, recorded none"
    if recorded.is_omitted:
        import hashlib

        if hashlib.sha256(sent).hexdigest() == recorded.sha256:
            return None
        return f"body: {len(sent)} bytes, recorded an omitted body of {recorded.size} bytes"
    if recorded.kind == "json":
        try:
            value = json.loads(sent)
        except ValueError:
            return "body: not JSON, recorded JSON"
        found = json_difference(value, recorded.value)
        return f"body {found}" if found else None
    if recorded.kind == "text":
        text = sent.decode("utf-8", "replace")
        if same_text(text, str(recorded.value)):
            return None
        return f"body: {_short(text)}, recorded {_short(recorded.value)}"
    if sent == recorded.to_bytes():
        return None
    return f"body: {len(sent)} bytes, recorded {len(recorded.to_bytes())} different bytes"


# -- the checks --------------------------------------------------------------------------


def _kind(sent: Incoming, rec: Recorded) -> str | None:
    recorded_ws = rec.interaction.type == "websocket"
    if sent.websocket == recorded_ws:
        return None
    return (
        "a websocket handshake, recorded as HTTP"
        if sent.websocket
        else ("plain HTTP, recorded as a websocket handshake")
    )


def _method(sent: Incoming, rec: Recorded) -> str | None:
    recorded = rec.interaction.request.method
    return None if sent.method == recorded else f"method {sent.method}, recorded {recorded}"


def _path(sent: Incoming, rec: Recorded) -> str | None:
    return None if same_text(sent.path, rec.path) else f"path {sent.path}, recorded {rec.path}"


def _query(sent: Incoming, rec: Recorded) -> str | None:
    if len(sent.query) == len(rec.query) and all(
        a[0] == b[0] and same_text(a[1], b[1]) for a, b in zip(sent.query, rec.query, strict=True)
    ):
        return None
    show = lambda q: "&".join(f"{k}={v}" for k, v in q) or "(none)"  # noqa: E731
    return f"query {show(sent.query)}, recorded {show(rec.query)}"


def _credential(sent: Incoming, rec: Recorded) -> str | None:
    recorded = bool(rec.interaction.request.credentials)
    if sent.credential == recorded:
        return None
    if recorded:
        return "no credential sent, the recording had one"
    return "a credential sent, the recording had none"


def _body(sent: Incoming, rec: Recorded) -> str | None:
    return body_difference(sent.body, rec.interaction.request.body)


# (check, weight): the heavier a difference, the less "close" a recording is.
CHECKS: tuple[tuple[Callable[[Incoming, Recorded], str | None], int], ...] = (
    (_kind, 16),
    (_path, 8),
    (_method, 4),
    (_credential, 2),
    (_query, 2),
    (_body, 1),
)


def differences(sent: Incoming, rec: Recorded) -> list[str]:
    return [found for check, _ in CHECKS if (found := check(sent, rec))]


def _distance(sent: Incoming, rec: Recorded) -> int:
    return sum(weight for check, weight in CHECKS if check(sent, rec))


@dataclass(frozen=True)
class Miss:
    """No recording matched: the closest one and what differs from it."""

    closest: Recorded | None
    why: list[str]


class Matcher:
    """The served interactions, in recorded order across cassettes."""

    def __init__(self, recorded: list[Recorded]) -> None:
        self.recorded = recorded

    def match(self, sent: Incoming) -> Recorded | Miss:
        fits = [rec for rec in self.recorded if not differences(sent, rec)]
        if fits:
            chosen = next((rec for rec in fits if rec.uses == 0), fits[-1])
            chosen.uses += 1
            return chosen
        if not self.recorded:
            return Miss(None, ["the cassettes hold no interactions"])
        closest = min(self.recorded, key=lambda rec: (_distance(sent, rec), rec.uses, rec.order))
        return Miss(closest, differences(sent, closest))

    def unused(self) -> list[Recorded]:
        return [rec for rec in self.recorded if rec.uses == 0]
