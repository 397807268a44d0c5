"""Checking ``--upstream``, ``--listen`` and ``--upstream-ca-file`` before anything starts.

Every mistake here becomes one :class:`RetapeError` line at start, rather than a proxy
that comes up and then fails on the first request.
"""

from __future__ import annotations

import contextlib
import errno
import socket
from pathlib import Path

from retape.common.errors import RetapeError
from retape.common.tls import ca_context
from retape.common.urls import split_http_url


def parse_upstream(url: str) -> str:
    """``http(s)://host[:port]``, normalised (no trailing slash), or a RetapeError."""
    parts = split_http_url(
        url,
        flag="--upstream",
        allow_path=False,  # requests keep the path the client sent
        credentials_hint="they would be written into the cassette; let the client send them",
    )
    return f"{parts.scheme}://{parts.netloc}"


def parse_listen(listen: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[::1]:PORT`` for IPv6) → (host, port), or a RetapeError."""
    host, sep, port_text = listen.strip().rpartition(":")
    host = host.removeprefix("[").removesuffix("]")
    if not sep or not host or not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise RetapeError(f"--listen {listen!r}: expected HOST:PORT with a port from 1 to 65535")
    return host, int(port_text)


def ensure_can_listen(host: str, port: int) -> None:
    """Bind once, like the proxy will, so a busy port is reported before it starts."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise RetapeError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    for family, kind, proto, _name, address in infos:
        with contextlib.closing(socket.socket(family, kind, proto)) as sock:
            # asyncio's servers set SO_REUSEADDR, so a port in TIME_WAIT is not "busy".
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind(address)
            except OSError as exc:
                reason = (
                    "address already in use"
                    if exc.errno == errno.EADDRINUSE
                    else (exc.strerror or str(exc)).lower()
                )
                raise RetapeError(f"cannot listen on {host}:{port}: {reason}") from None


def check_ca_file(path: str) -> str:
    """The absolute path of a readable PEM file of CA certificates, or a RetapeError."""
    ca_context(path, flag="--upstream-ca-file")
    return str(Path(path).resolve())
