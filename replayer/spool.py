"""The server messages of a replayed session, kept on disk past a bound.

A conversation keeps what the target sent until its row is judged (the comparison reads
it, a later client message may need a value from it). For a long session that is the
whole session; past :data:`IN_MEMORY_BYTES` the messages go to an unnamed temporary
file, one JSON line each, and are read back one at a time when asked for
(:class:`~retape.cassette.message_log.LazyMessages`). The file goes when the spool does.
"""

from __future__ import annotations

import json
import tempfile
from array import array
from typing import Any

from retape.cassette.message_log import LazyMessages
from retape.cassette.model import Message, loads_json

IN_MEMORY_BYTES = 1024 * 1024


def _size(message: Message) -> int:
    if message.kind == "json":
        return len(json.dumps(message.value, ensure_ascii=False))
    return len(message.value)


class MessageSpool(LazyMessages):
    """A list of received messages to append to and read back, in memory up to a bound."""

    def __init__(self, in_memory: int = IN_MEMORY_BYTES) -> None:
        super().__init__()
        self._limit = in_memory
        self._held = 0
        self._memory: list[Message] = []
        self._end = 0
        self._offsets: array[int] = array("q")

    def __len__(self) -> int:
        return len(self._memory) + len(self._offsets)

    def append(self, message: Message) -> None:
        if self._file is None:
            self._held += _size(message)
            if self._held <= self._limit:
                self._memory.append(message)
                return
            self._file = tempfile.TemporaryFile(prefix="retape-spool-")  # noqa: SIM115
        row: list[Any] = [message.sender, message.at, message.kind, message.value]
        line = json.dumps(row, ensure_ascii=False, separators=(",", ":")).encode() + b"\n"
        self._file.seek(self._end)
        self._file.write(line)
        self._offsets.append(self._end)
        self._end += len(line)

    def _load(self, index: int) -> Message:
        if index < len(self._memory):
            return self._memory[index]
        assert self._file is not None
        at = index - len(self._memory)
        start = self._offsets[at]
        end = self._offsets[at + 1] if at + 1 < len(self._offsets) else self._end
        self._file.seek(start)
        sender, when, kind, value = loads_json(self._file.read(end - start))
        return Message(sender, when, kind, value)
