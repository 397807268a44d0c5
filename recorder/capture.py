"""Bodies copied as they stream through the proxy, in bounded memory.

Without streaming, mitmproxy holds a whole body before the ``response`` hook runs: a
client waits for the last byte of a server-sent-event stream before it sees the first,
and a 50 MB download costs the recorder 50 MB. A :class:`BodyCapture` set as the flow's
``stream`` callable forwards every chunk the moment it arrives and keeps a copy for
the cassette only up to the size cap; past it the copy is dropped and only a running
size and sha256 remain, so the recorder's memory stays flat whatever the body size.

Bodies of a known size under the cap are left to mitmproxy's buffering on purpose:
the interaction is then written *before* the response is forwarded, so a client that
got a complete response always finds it in the cassette (see :func:`stream_for`).
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # importable without mitmproxy: retape's CLI reads DEFAULT_MAX_BODY
    from mitmproxy import http

DEFAULT_MAX_BODY = 10 * 1024 * 1024
_SSE = "text/event-stream"


class BodyCapture:
    """A ``stream`` callable: passes chunks through, keeps them up to ``limit`` bytes.

    ``keep=False`` (a declared size already over the cap) keeps nothing from the start.
    """

    def __init__(self, limit: int, *, keep: bool = True) -> None:
        self.limit = limit
        self.size = 0
        self._chunks: list[bytes] | None = [] if keep else None
        self._digest = None if keep else hashlib.sha256()

    def __call__(self, data: bytes) -> bytes:
        if data:
            self.size += len(data)
            if self._chunks is not None and self.size > self.limit:
                self._spill()
            if self._chunks is not None:
                self._chunks.append(data)
            else:
                self._digest.update(data)  # type: ignore[union-attr]
        return data

    def _spill(self) -> None:
        """Over the cap: fold what was kept into the hash and keep nothing more."""
        self._digest = hashlib.sha256()
        for chunk in self._chunks or ():
            self._digest.update(chunk)
        self._chunks = None

    @property
    def over_limit(self) -> bool:
        return self._chunks is None and self.size > 0

    def content(self) -> bytes:
        """Everything that passed, if it was kept; check :attr:`over_limit` first."""
        return b"".join(self._chunks or ())

    def sha256(self) -> str:
        """The hex digest of everything that passed (kept or not)."""
        if self._digest is None:
            return hashlib.sha256(self.content()).hexdigest()
        return self._digest.hexdigest()


def declared_size(message: http.Message) -> int | None:
    """The body size a message announces with ``Content-Length``, or None if unknown."""
    if "transfer-encoding" in message.headers:
        return None  # chunked (or worse): the size is only known at the end
    try:
        size = int(message.headers.get("content-length", ""))
    except ValueError:
        return None
    return size if size >= 0 else None


def stream_for(message: http.Message, limit: int) -> BodyCapture | None:
    """The capture to stream ``message``'s body through, or None to let mitmproxy buffer.

    Streamed: server-sent events and bodies of unknown size (chunked, read-until-close),
    which are streams the client expects to see as they arrive and which have no bound,
    and bodies announced over the cap (nothing kept). Buffered: known sizes up to the
    cap, whose interaction is written before the client gets the response.
    """
    media = message.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    size = declared_size(message)
    if size is not None and size > limit:
        return BodyCapture(limit, keep=False)
    if size is None or media == _SSE:
        return BodyCapture(limit)
    return None
