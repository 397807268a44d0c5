"""A websocket session's messages read one at a time, instead of all held together.

A session of 100,000 messages parsed whole costs its size many times over in Python
objects (41 MB of messages took 1.2 GB). :class:`LazyMessages` is a read-only
sequence that loads a message when it is asked for and keeps only a few; replay walks
a session in order, so memory is bounded by a message, not by the session.
:class:`FileMessages` reads them from the cassette (:mod:`cassette.stream` finds where
each one is), the replayer keeps what a target sends in its own spool.

Each message is stored in the file as the recorder writes it, ``  - from: ...`` and its
lines indented under it; it is parsed on its own inside :data:`SHELL`, a minimal
websocket interaction, which is how it was validated on the first pass.
"""

from __future__ import annotations

import hashlib
import os
from array import array
from collections.abc import Callable, Sequence
from typing import IO

from retape.cassette import fastload
from retape.cassette.errors import CassetteError
from retape.cassette.load import parse_yaml
from retape.cassette.model import Message
from retape.common.sequences import OnDemand

# Where a message of a streamed session is parsed and validated on its own: a minimal
# websocket interaction in a cassette of one (stream.ITEM_PREFIX comes before it).
SHELL = (
    "- id: 1\n"
    "  type: websocket\n"
    "  request:\n"
    "    method: GET\n"
    "    path: /\n"
    "    headers: []\n"
    "  response:\n"
    "    status: 101\n"
    "    headers: []\n"
    "  messages:\n"
)
SHELL_LINES = SHELL.count("\n")
_PREFIX = "retape: 1\ninteractions:\n" + SHELL
_CACHED = 32  # messages kept after they were read: a conversation looks back a little
# In every repr of a lazy sequence, which shows none of its messages (replayer.auth.mask
# looks for it before it trusts a repr to show everything).
LAZY_MARK = " messages read as needed>"


def digest(data: bytes) -> bytes:
    """What the validating pass keeps of each item's and message's bytes (8 bytes), so
    that a later read can tell they are the ones it checked."""
    return hashlib.blake2b(data, digest_size=8).digest()


class LazyMessages(OnDemand[Message]):
    """Messages loaded when asked for (:meth:`_load`), the last few kept; a file the
    subclass opens (``_file``) is closed with it."""

    def __init__(self) -> None:
        self._cache: dict[int, Message] = {}
        self._file: IO[bytes] | None = None

    def _load(self, index: int) -> Message:
        raise NotImplementedError

    def _item(self, index: int) -> Message:
        message = self._cache.get(index)
        if message is None:
            message = self._load(index)
            if len(self._cache) >= _CACHED:
                del self._cache[next(iter(self._cache))]
            self._cache[index] = message
        return message

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def __del__(self) -> None:
        self.close()

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Sequence) or len(other) != len(self):
            return False
        return all(a == b for a, b in zip(self, other, strict=True))

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"<{len(self)}{LAZY_MARK}"

    def mapped(self, change: Callable[[Message], Message]) -> LazyMessages:
        """The same messages, each passed through ``change`` when it is read."""
        return _Mapped(self, change)

    def replaced(self, index: int, message: Message) -> LazyMessages:
        """The same messages with the one at ``index`` replaced."""
        return _Replaced(self, index, message)


class _Mapped(LazyMessages):
    def __init__(self, base: Sequence[Message], change: Callable[[Message], Message]) -> None:
        super().__init__()
        self._base, self._change = base, change

    def __len__(self) -> int:
        return len(self._base)

    def _load(self, index: int) -> Message:
        return self._change(self._base[index])


class _Replaced(LazyMessages):
    def __init__(self, base: Sequence[Message], index: int, message: Message) -> None:
        super().__init__()
        self._base, self._index, self._message = base, index, message

    def __len__(self) -> int:
        return len(self._base)

    def _load(self, index: int) -> Message:
        return self._message if index == self._index else self._base[index]


def mapped(messages: Sequence[Message], change: Callable[[Message], Message]) -> Sequence[Message]:
    """``messages`` with ``change`` applied to each: a list for a list, lazily for lazy ones."""
    if isinstance(messages, LazyMessages):
        return messages.mapped(change)
    return [change(m) for m in messages]


def replaced(messages: Sequence[Message], index: int, message: Message) -> Sequence[Message]:
    """``messages`` with the one at ``index`` replaced, without reading the others."""
    if isinstance(messages, LazyMessages):
        return messages.replaced(index, message)
    copy = list(messages)
    copy[index] = message
    return copy


class FileMessages(LazyMessages):
    """A session's messages in the cassette file: where each one is, read when asked for.

    The file is the one validated on the first pass, which left a digest of each
    message's bytes and whether it took the fast path: each read checks the digest
    (a file rewritten since is an error, never read as if it were the same), then only
    parses, by the path that validated it.
    """

    def __init__(
        self,
        path: str,
        offsets: array[int],
        sizes: array[int],
        digests: bytes | bytearray,
        fast: bytes | bytearray,
    ) -> None:
        super().__init__()
        self.path = path
        self._offsets, self._sizes = offsets, sizes
        self._digests, self._fast = digests, fast

    def __len__(self) -> int:
        return len(self._offsets)

    def _open(self) -> IO[bytes]:
        if self._file is None:
            try:
                # Unbuffered: each read is of the file as it is now, for its digest to check.
                self._file = open(self.path, "rb", buffering=0)  # noqa: SIM115
            except OSError as exc:
                raise CassetteError(f"cannot read: {exc.strerror or exc}", path=self.path) from None
        return self._file

    def _load(self, index: int) -> Message:
        raw = os.pread(self._open().fileno(), self._sizes[index], self._offsets[index])
        if digest(raw) != self._digests[8 * index : 8 * index + 8]:
            raise CassetteError(
                "changed after it was validated; nothing more is replayed from it",
                path=self.path,
            )
        text = _PREFIX + raw.decode("utf-8")
        data = fastload.reparse(text) if self._fast[index] else None
        if data is None:
            data = parse_yaml(text, path=self.path)
        return Message.from_data(data["interactions"][0]["messages"][0])
