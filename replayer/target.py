"""The server a replay talks to, from ``--target``, and what it means to miss it.

A cassette never names a host: every URL is the target's origin and path prefix
followed by the recorded path, joined by plain string concatenation. ``urljoin`` is
avoided on purpose, since it would let a recorded ``//evil.example/x`` or ``/../``
change the host or drop the prefix.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

from cassette.errors import RetapeError

_WS_SCHEMES = {"http": "ws", "https": "wss"}


class Unreachable(Exception):
    """Nothing answered at the TCP level (refused, unknown host): no interaction ran."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def describe_os_error(exc: OSError) -> str:
    """A short lowercase reason for a failed connect, as used in one-line errors."""
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, socket.gaierror):
        return f"cannot resolve host ({exc.strerror or exc})"
    if exc.strerror:
        return exc.strerror.lower()
    text = str(exc)
    # asyncio's message when every address of a name failed, e.g. ::1 and 127.0.0.1.
    if "Connect call failed" in text:
        return "connection refused"
    return text or type(exc).__name__


@dataclass(frozen=True)
class Target:
    scheme: str  # "http" or "https"
    netloc: str  # host[:port] exactly as given, brackets kept for IPv6
    prefix: str  # "" or "/api": no trailing slash

    @property
    def base(self) -> str:
        return f"{self.scheme}://{self.netloc}{self.prefix}"

    def http_url(self, path: str) -> str:
        return f"{self.scheme}://{self.netloc}{self.prefix}{path}"

    def ws_url(self, path: str) -> str:
        return f"{_WS_SCHEMES[self.scheme]}://{self.netloc}{self.prefix}{path}"

    def __str__(self) -> str:
        return self.base


def parse_target(url: str) -> Target:
    """Validate ``--target`` once, before any cassette is read or any byte is sent."""
    try:
        parts = urlsplit(url.strip())
        parts.port  # noqa: B018 - raises ValueError for a port out of range or not a number
    except ValueError:
        raise RetapeError(f"--target: invalid URL {url!r}") from None
    scheme = parts.scheme.lower()
    if scheme not in _WS_SCHEMES:
        raise RetapeError(
            f"--target must be an http:// or https:// URL, got {url!r} "
            "(websocket interactions use ws:// or wss:// derived from it)"
        )
    if "@" in parts.netloc:
        # The URL is not echoed: whatever precedes '@' may be a password.
        raise RetapeError(
            "--target must not carry credentials; pass them with --bearer-env or --header"
        )
    if not parts.hostname:
        raise RetapeError(f"--target has no host: {url!r}")
    if parts.query or parts.fragment:
        raise RetapeError(f"--target must not have a query or fragment: {url!r}")
    return Target(scheme=scheme, netloc=parts.netloc, prefix=parts.path.rstrip("/"))
