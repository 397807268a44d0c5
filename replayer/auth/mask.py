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
import re
from dataclasses import fields, is_dataclass, replace
from typing import Any

from retape.cassette.forms import forms_of
from retape.cassette.message_log import LazyMessages
from retape.cassette.model import Message

MASK = "<credential>"
MIN_MASKED = 4


class Masker:
    """Every live secret of one run, in every form; masks text, bytes and results."""

    def __init__(self, values: list[str] | tuple[str, ...] = ()) -> None:
        self._forms: set[str] = set()
        self._pattern: re.Pattern[str] | None = None
        self._bytes_pattern: re.Pattern[bytes] | None = None
        for value in values:
            self.add(value)

    def add(self, value: str) -> None:
        """Register one more secret (for example a token the server minted this run)."""
        if not isinstance(value, str) or len(value.strip()) < MIN_MASKED:
            return
        value = value.strip()
        new = forms_of(value, shortest=MIN_MASKED) - self._forms
        if not new:
            return
        self._forms |= new
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
        return self._walk(value)

    def _walk(self, value: Any) -> Any:
        if isinstance(value, str):  # unchanged values keep their type (a StrEnum stays one)
            masked = self.text(value)
            return value if masked == value else masked
        if isinstance(value, bytes | bytearray):
            masked_bytes = self.bytes(bytes(value))
            return value if masked_bytes == value else masked_bytes
        if isinstance(value, dict):
            return {self._walk(k): self._walk(v) for k, v in value.items()}
        if isinstance(value, tuple):
            walked = [self._walk(v) for v in value]
            return type(value)(walked) if type(value) is not tuple else tuple(walked)
        if isinstance(value, list):
            return [self._walk(v) for v in value]
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
            changes = {f.name: self._walk(getattr(value, f.name)) for f in fields(value) if f.init}
            return replace(value, **changes)
        return value
