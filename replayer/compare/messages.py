"""The ``messages`` aspect: the server's websocket messages, as a keyed sequence.

Each JSON message is keyed by a field (``type`` by default, ``[tool.retape.compare]
message_key``), a text message by ``text`` and a binary one by ``binary``; see
:mod:`replayer.sequence` for how sequences are compared.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterable

from retape.replayer.compare.diff_json import Difference
from retape.replayer.compare.ignore import IgnoreRules
from retape.replayer.compare.sequence import Document, compare_sequence

from retape.cassette.model import Message

DEFAULT_KEY = "type"


def document_of(message: Message, *, key: str = DEFAULT_KEY) -> Document:
    if message.kind == "json":
        value = message.value
        name = value.get(key) if isinstance(value, dict) else None
        return Document(str(name) if name is not None else "json", value)
    if message.kind == "text":
        return Document("text", message.value)
    data = base64.b64decode(message.value)
    return Document("binary", f"{len(data)} bytes, sha256 {hashlib.sha256(data).hexdigest()[:12]}")


def compare_messages(
    expected: Iterable[Message],
    actual: Iterable[Message],
    *,
    rules: IgnoreRules,
    key: str = DEFAULT_KEY,
) -> list[Difference]:
    """Compare the server's side of two conversations (client messages are ours)."""
    return compare_sequence(
        [document_of(m, key=key) for m in expected if m.sender == "server"],
        [document_of(m, key=key) for m in actual if m.sender == "server"],
        aspect="messages",
        noun="message",
        key_name=key,
        rules=rules,
    )
