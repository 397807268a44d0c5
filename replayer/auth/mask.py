"""One mask for every live secret of a replay, applied where results become output.

The live credentials of a run (``--bearer-env``, ``--header`` values, ``--secret``
values) and whatever other code learns during the run (a minted token or cookie that
the correlation step captures: :meth:`Masker.add`) must never reach stdout, stderr or a
report. A target may echo any of them back, in a body, a header or a websocket
message, possibly percent-encoded or base64-encoded; a library may quote one in an
error message. So the :class:`Masker` knows every form of every value and is applied
twice, both times before anything is cut short:

* to the :class:`~replayer.results.Outcome` the network produced, before it is compared
  (a difference line shortens values to 120 characters, an excerpt to 2,000: masking
  after that could leave half a token behind);
* to the :class:`~replayer.results.Result`, the only thing any reporter reads (text,
  JSON, JSONL, JUnit, Markdown, the pytest plugin), and to the Markdown text itself.

Values shorter than :data:`MIN_MASKED` characters are not masked: they would match by
chance everywhere. The mask never holds a byte of the value.
"""

from __future__ import annotations

import base64
import functools
import re
from dataclasses import fields, is_dataclass, replace
from typing import Any

from retape.cassette.forms import forms_of
from retape.cassette.message_log import LAZY_MARK, LazyMessages
from retape.cassette.model import Message

MASK = "<credential>"
MIN_MASKED = 4
_BINARY_MESSAGE = "kind='base64'"  # a Message's repr: its payload shows only encoded
# Printable ASCII that repr() shows as it is: no quote, no backslash.
_PLAIN = re.compile(r"[ !#-&(-\[\]-~]+")


class Masker:
    """Every live secret of one run, in every form; masks text, bytes and results."""

    def __init__(self, values: list[str] | tuple[str, ...] = ()) -> None:
        self._forms: set[str] = set()
        self._pattern: re.Pattern[str] | None = None
        self._bytes_pattern: re.Pattern[bytes] | None = None
        self._plain = True
        self._added: set[str] = set()
        for value in values:
            self.add(value)

    def add(self, value: str) -> None:
        """Register one more secret (for example a token the server minted this run)."""
        if not isinstance(value, str) or value in self._added or len(value.strip()) < MIN_MASKED:
            return  # known already: the engine adds a session's secrets after every row
        self._added.add(value)
        value = value.strip()
        new = forms_of(value, shortest=MIN_MASKED) - self._forms
        if not new:
            return
        self._forms |= new
        # repr() shows these forms as they are (printable ASCII, nothing it escapes), so
        # a value whose repr holds none of them holds none of them anywhere.
        self._plain = all(_PLAIN.fullmatch(form) for form in self._forms)
        ordered = sorted(self._forms, key=len, reverse=True)  # whole values first
        self._pattern = re.compile("|".join(re.escape(f) for f in ordered))
        self._bytes_pattern = re.compile(
            b"|".join(re.escape(f.encode("utf-8", "surrogateescape")) for f in ordered)
        )

    def __bool__(self) -> bool:
        return bool(self._forms)

    def text(self, text: str) -> str:
        if self._pattern is None or not text:
            return text
        return self._pattern.sub(MASK, text)

    def bytes(self, data: bytes) -> bytes:
        if self._bytes_pattern is None or not data:
            return data
        return self._bytes_pattern.sub(MASK.encode(), data)

    def value(self, value: Any) -> Any:
        """Any JSON-like value (or dataclass of them) with every string masked, keys too."""
        if self._pattern is None:
            return value
        if self._plain:  # one search of its repr instead of a walk, when nothing is there
            shown = repr(value)
            opaque = LAZY_MARK in shown or _BINARY_MESSAGE in shown  # walked: read, decoded
            if not opaque and self._pattern.search(shown) is None:
                return value
        return self._walk(value)

    def _walk(self, value: Any) -> Any:
        """``value`` masked; the very same object where nothing in it needed masking (most
        of every row: a walk that copied everything cost a tenth of a replay)."""
        if isinstance(value, str):  # unchanged values keep their type (a StrEnum stays one)
            assert self._pattern is not None
            return value if self._pattern.search(value) is None else self.text(value)
        if isinstance(value, bytes | bytearray):
            masked_bytes = self.bytes(bytes(value))
            return value if masked_bytes == value else masked_bytes
        if isinstance(value, dict):
            items = [(self._walk(k), self._walk(v)) for k, v in value.items()]
            if all(
                k is old_k and v is old_v
                for (k, v), (old_k, old_v) in zip(items, value.items(), strict=True)
            ):
                return value
            return dict(items)
        if isinstance(value, list | tuple):
            walked = [self._walk(v) for v in value]
            if all(new is old for new, old in zip(walked, value, strict=True)):
                return value
            if isinstance(value, list):
                return walked
            return type(value)(walked) if type(value) is not tuple else tuple(walked)
        if isinstance(value, LazyMessages):  # a long session: each message as it is read
            return value.mapped(self._walk)
        if isinstance(value, Message) and value.kind == "base64":
            raw = value.payload()
            assert isinstance(raw, bytes)
            masked_raw = self.bytes(raw)
            if masked_raw == raw:
                return value
            return replace(value, value=base64.b64encode(masked_raw).decode("ascii"))
        if is_dataclass(value) and not isinstance(value, type):
            changes = {}
            for name in _init_fields(type(value)):
                old = getattr(value, name)
                new = self._walk(old)
                if new is not old:
                    changes[name] = new
            return replace(value, **changes) if changes else value
        return value


@functools.cache
def _init_fields(kind: type) -> tuple[str, ...]:
    return tuple(f.name for f in fields(kind) if f.init)
