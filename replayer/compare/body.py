"""The ``body`` aspect: JSON structurally, SSE as an event sequence, text by line.

The expected side decides how the actual bytes are read: a body recorded as JSON must
come back as JSON, a recorded ``text/event-stream`` is split into events whose
``data`` is parsed as JSON when it is JSON. Pure: bytes in, differences out.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any, Literal

from retape.replayer.compare.assemble import assemble_events
from retape.replayer.compare.diff_json import MISSING, Difference, diff_json
from retape.replayer.compare.ignore import IgnoreRules
from retape.replayer.compare.sequence import Document, compare_sequence

from retape.cassette.model import Body, Header, header_value, loads_json

Kind = Literal["json", "sse", "text", "bytes"]
_EXCERPT = 200


@dataclass(frozen=True)
class Content:
    """A body as the comparison sees it: its kind and its parsed value."""

    kind: Kind
    value: Any


def _media(headers: list[Header]) -> str:
    return (header_value(headers, "content-type") or "").split(";", 1)[0].strip().lower()


def kind_of(headers: list[Header], data: bytes, recorded: Body | None = None) -> Kind:
    """How to read a body: from its recorded kind when there is one, else its type."""
    media = _media(headers)
    if media == "text/event-stream":
        return "sse"
    if recorded is not None:
        return {"json": "json", "text": "text", "base64": "bytes"}[recorded.kind]  # type: ignore[return-value]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return "bytes"
    if media == "application/json" or media.endswith("+json"):
        try:
            loads_json(text)
        except ValueError:
            return "text"
        return "json"
    return "text"


def parse_sse(text: str) -> list[Document]:
    """Server-sent events (WHATWG rules): ``data`` lines joined, comments dropped."""
    events: list[Document] = []
    name, data = "message", list[str]()
    for line in [*text.replace("\r\n", "\n").replace("\r", "\n").split("\n"), ""]:
        if not line:
            if data:
                events.append(_event(name, "\n".join(data), len(events) + 1))
            name, data = "message", []
            continue
        if line.startswith(":"):
            continue
        field, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if field == "data":
            data.append(value)
        elif field == "event":
            name = value or "message"
    return events


def _event(name: str, data: str, number: int) -> Document:
    try:
        parsed = loads_json(data)
    except ValueError:
        return Document(data if data == "[DONE]" else name, data, number)
    return Document(name, parsed, number)


def read_content(kind: Kind, data: bytes) -> Content:
    """The actual bytes read as ``kind``; JSON that does not parse stays text."""
    if kind == "bytes":
        return Content("bytes", data)
    text = data.decode("utf-8", errors="replace")
    if kind == "sse":
        return Content("sse", parse_sse(text))
    if kind == "json":
        try:
            return Content("json", loads_json(text))
        except ValueError:
            return Content("text", text)
    return Content("text", text)


def _excerpt(content: Content) -> str:
    if content.kind == "bytes":
        digest = hashlib.sha256(content.value).hexdigest()[:12]
        return f"{len(content.value)} bytes, sha256 {digest}"
    text = content.value if isinstance(content.value, str) else json.dumps(content.value)
    return text if len(text) <= _EXCERPT else text[:_EXCERPT] + "…"


def _text_difference(expected: str, actual: str) -> list[Difference]:
    left, right = expected.splitlines(), actual.splitlines()
    for number, (a, b) in enumerate(zip(left, right, strict=False), 1):
        if a != b:
            return [Difference("body", f"line {number}", "", a, b, ())]
    number = min(len(left), len(right)) + 1
    gone = MISSING
    return [
        Difference(
            "body",
            f"line {number}",
            "",
            left[number - 1] if len(left) >= number else gone,
            right[number - 1] if len(right) >= number else gone,
            (),
        )
    ]


def compare_contents(
    expected: Content | None,
    actual: Content | None,
    *,
    rules: IgnoreRules,
    assemble: bool = True,
) -> list[Difference]:
    """Differences between two bodies; ``None`` is an empty body.

    With ``assemble``, SSE completion chunks are joined before they are compared
    (:mod:`replayer.compare.assemble`): a stream cut into other chunks is the same body.
    """
    if rules.ignores(()):
        return []
    if expected is None or actual is None:
        if expected is actual:
            return []
        left = _excerpt(expected) if expected else MISSING
        right = _excerpt(actual) if actual else MISSING
        return [Difference("body", "", "$", left, right, ())]
    if expected.kind != actual.kind:
        reads = f"expected {expected.kind}, got {actual.kind}"
        return [Difference("body", reads, "$", _excerpt(expected), _excerpt(actual), ())]
    if expected.kind == "json":
        return diff_json(expected.value, actual.value, ignored=rules.ignores, shaped=rules.shaped)
    if expected.kind == "sse":
        events: list[Document] = expected.value
        replayed: list[Document] = actual.value
        if assemble:
            events, replayed = assemble_events(events), assemble_events(replayed)
        return compare_sequence(
            events, replayed, aspect="body", noun="event", key_name="name", rules=rules
        )
    if expected.value == actual.value:
        return []
    if expected.kind == "text":
        return _text_difference(expected.value, actual.value)
    return [Difference("body", "", "$", _excerpt(expected), _excerpt(actual), ())]
