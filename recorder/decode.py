"""Undoing ``Content-Encoding`` for the cassette without letting a body balloon.

Bodies are stored decoded so a reader (and a diff) sees JSON, not gzip. A body under
the size cap can still decode to far more than the cap (large JSON compresses tenfold,
a crafted bomb a millionfold), so decoding stops as soon as the output passes the cap
and the body is then recorded as omitted. mitmproxy's own ``encoding.decode`` has no
such bound and caches its last result, which is why it is not used here.
"""

from __future__ import annotations

import io
import zlib
from collections.abc import Callable

import brotli
import zstandard

DECODABLE = frozenset({"gzip", "deflate", "br", "zstd"})
_ALIASES = {"x-gzip": "gzip", "x-deflate": "deflate"}


def codings(declared: str) -> list[str] | None:
    """A ``Content-Encoding`` value as the codings to undo, in the order they were
    applied (``gzip, gzip`` twice; ``x-gzip`` is gzip; ``identity`` is nothing), or None
    if one of them cannot be undone here."""
    names = [_ALIASES.get(c.strip().lower(), c.strip().lower()) for c in declared.split(",")]
    names = [name for name in names if name and name != "identity"]
    return names if all(name in DECODABLE for name in names) else None


def decode_all(data: bytes, declared: str, limit: int) -> bytes:
    """``data`` with every coding of ``declared`` undone, last applied first.

    Raises :class:`TooLarge` past ``limit`` decoded bytes, ValueError if a coding is
    unknown or the data is not valid in it.
    """
    names = codings(declared)
    if names is None:
        raise ValueError(f"cannot decode {declared!r}")
    for name in reversed(names):
        data = decode(data, name, limit)
    return data


_BROTLI_PIECE = 16 * 1024


class TooLarge(Exception):
    """The decoded body would be larger than the cap."""


def decode(data: bytes, encoding: str, limit: int) -> bytes:
    """``data`` decoded from ``encoding`` (one of :data:`DECODABLE`).

    Raises :class:`TooLarge` past ``limit`` decoded bytes, ValueError if ``data`` is
    not valid in that encoding.
    """
    decoder = _DECODERS[encoding.lower()]
    try:
        return decoder(data, limit)
    except (zlib.error, brotli.error, zstandard.ZstdError, EOFError) as exc:
        raise ValueError(f"not valid {encoding}: {exc}") from None


def _check(out: bytes | bytearray, limit: int) -> None:
    if len(out) > limit:
        raise TooLarge


def _zlib(data: bytes, limit: int, wbits: int, *, members: bool) -> bytes:
    out = bytearray()
    while True:
        stream = zlib.decompressobj(wbits)
        out += stream.decompress(data, limit + 1 - len(out))
        _check(out, limit)
        if not stream.eof:
            raise EOFError("truncated stream")
        data = stream.unused_data
        if not (members and data):  # gzip allows several members back to back
            return bytes(out)


def _gzip(data: bytes, limit: int) -> bytes:
    return _zlib(data, limit, zlib.MAX_WBITS | 16, members=True)


def _deflate(data: bytes, limit: int) -> bytes:
    """zlib-wrapped deflate, or the raw deflate some servers send under that name."""
    try:
        return _zlib(data, limit, zlib.MAX_WBITS, members=False)
    except zlib.error:
        return _zlib(data, limit, -zlib.MAX_WBITS, members=False)


def _zstd(data: bytes, limit: int) -> bytes:
    reader = zstandard.ZstdDecompressor().stream_reader(io.BytesIO(data), read_across_frames=True)
    out = bytearray()
    while chunk := reader.read(min(limit + 1 - len(out), 1 << 20)):
        out += chunk
        _check(out, limit)
    return bytes(out)


def _brotli(data: bytes, limit: int) -> bytes:
    """Fed in pieces, checking the size after each.

    The binding (Brotli 1.1) has no output limit, so one piece of a crafted bomb can
    still expand a lot before the check; ordinary bodies stop within a piece's worth.
    """
    decompressor = brotli.Decompressor()
    out = bytearray()
    for start in range(0, len(data), _BROTLI_PIECE):
        out += decompressor.process(data[start : start + _BROTLI_PIECE])
        _check(out, limit)
    if not decompressor.is_finished():
        raise EOFError("truncated stream")
    return bytes(out)


_DECODERS: dict[str, Callable[[bytes, int], bytes]] = {
    "gzip": _gzip,
    "deflate": _deflate,
    "br": _brotli,
    "zstd": _zstd,
}
