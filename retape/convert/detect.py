"""Which kind of capture a file is, decided by its content, never by its name.

A HAR is JSON with ``log.entries`` (possibly with a BOM, as Fiddler writes it, or
zlib-compressed, as mitmproxy's ``.zhar``); a mitmproxy flow file is a stream of
tnetstrings, whose first item starts with its length and a colon (``1234:``).
Anything else is refused with one line saying what was expected.
"""

from __future__ import annotations

import json
import re
import zlib
from typing import Any, Literal

from retape.common.errors import RetapeError

Kind = Literal["har", "flows"]
_TNETSTRING = re.compile(rb"\d{1,12}:")
_ZLIB_HEADERS = (b"\x78\x01", b"\x78\x5e", b"\x78\x9c", b"\x78\xda")
MAX_HAR_BYTES = 512 * 1024 * 1024


class CaptureError(RetapeError):
    """A capture file that cannot be imported; ``str()`` is ``file: what``."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}")


def detect(head: bytes) -> Kind | None:
    """The kind of a capture from its first bytes, or None if it is neither."""
    head = head.removeprefix(b"\xef\xbb\xbf").lstrip()
    if head.startswith(b"{") or head.startswith(_ZLIB_HEADERS):
        return "har"
    if _TNETSTRING.match(head):
        return "flows"
    return None


def kind_of(path: str) -> Kind:
    """Open ``path`` and say what it holds; refuse it (one line) if it is not a capture."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(64)
    except OSError as exc:
        raise CaptureError(path, f"cannot read: {exc.strerror or exc}") from None
    kind = detect(head)
    if kind is None:
        what = "an empty file" if not head else "neither a HAR (JSON) nor a mitmproxy flow file"
        raise CaptureError(path, f"not a capture: {what}")
    return kind


def load_har(path: str) -> dict[str, Any]:
    """The parsed HAR document, after the same checks a reader of untrusted JSON needs."""
    try:
        with open(path, "rb") as handle:
            raw = handle.read(MAX_HAR_BYTES + 1)
    except OSError as exc:
        raise CaptureError(path, f"cannot read: {exc.strerror or exc}") from None
    if len(raw) > MAX_HAR_BYTES:
        raise CaptureError(path, f"larger than {MAX_HAR_BYTES} bytes")
    if raw.startswith(_ZLIB_HEADERS):
        try:
            raw = zlib.decompressobj().decompress(raw, MAX_HAR_BYTES)
        except zlib.error as exc:
            raise CaptureError(path, f"not a compressed HAR: {exc}") from None
    try:
        document = json.loads(raw.decode("utf-8-sig"))
    except UnicodeDecodeError:
        raise CaptureError(path, "not a HAR: not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise CaptureError(path, f"not a HAR: invalid JSON at line {exc.lineno}") from None
    except RecursionError:
        raise CaptureError(path, "not a HAR: JSON nested too deeply") from None
    log = document.get("log") if isinstance(document, dict) else None
    if not isinstance(log, dict) or not isinstance(log.get("entries"), list):
        raise CaptureError(path, "not a HAR: no log.entries list")
    return document
