"""The server a replay talks to, from ``--target``, and what it means to miss it.

A cassette never names a host: every URL is the target's origin and path prefix
followed by the recorded path, joined by plain string concatenation. ``urljoin`` is
avoided on purpose, since it would let a recorded ``//evil.example/x`` or ``/../``
change the host or drop the prefix.

An https target is verified against the system's CAs unless ``--ca-file`` names the
CA to trust instead or ``--insecure`` turns verification off; the one
:class:`ssl.SSLContext` built here serves both the HTTP and the websocket client.

"Unreachable" means the target never answered: nothing listens (refused), the name
does not resolve, the TLS handshake fails, or the connection is reset or closed before
a single response byte. On the first interaction that is a configuration mistake and
the run stops with one line (exit 2); once the target has answered, the same failure
is one error row, and :attr:`Unreachable.row` is that row's text.
"""

from __future__ import annotations

import errno
import os
import socket
import ssl
from dataclasses import dataclass, field

from retape.replayer.results import ErrorKind

from retape.common.errors import RetapeError
from retape.common.tls import ca_context
from retape.common.urls import split_http_url

_WS_SCHEMES = {"http": "ws", "https": "wss"}  # every scheme split_http_url lets through
CLOSED_BY_SERVER = "connection closed by server"
TLS_HINT = "pass --ca-file FILE to trust the CA that signed it, or --insecure to skip verification"


class Unreachable(Exception):
    """The target did not answer at all (see the module docstring): no response to judge."""

    def __init__(self, reason: str, *, kind: ErrorKind, row: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.kind = kind
        self.row = row or f"cannot connect: {reason}"


def is_hang_up(exc: BaseException) -> bool:
    """A server that hangs up shows as EOF or as a reset, depending on who wrote last."""
    if isinstance(exc, ConnectionResetError | ConnectionAbortedError | BrokenPipeError):
        return True
    return isinstance(exc, OSError) and exc.errno in (errno.ECONNRESET, errno.EPIPE)


def describe_os_error(exc: OSError) -> str:
    """A short lowercase reason for a failed connect, as used in one-line errors."""
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, socket.gaierror):
        return f"cannot resolve host ({exc.strerror or exc})"
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"certificate verification failed ({exc.verify_message or exc.reason}); {TLS_HINT}"
    if isinstance(exc, ssl.SSLError):
        if exc.reason == "WRONG_VERSION_NUMBER":  # what a plain-HTTP server's reply looks like
            return "TLS error (WRONG_VERSION_NUMBER): does the target speak plain http?"
        return f"TLS error ({exc.reason or exc})"
    if is_hang_up(exc):
        return CLOSED_BY_SERVER
    if exc.errno and "Connect call failed" in (exc.strerror or ""):
        return os.strerror(exc.errno).lower()  # asyncio's wording hides the cause
    if exc.strerror:
        return exc.strerror.lower()
    text = str(exc)
    # asyncio's message when every address of a name failed, e.g. ::1 and 127.0.0.1.
    if "Connect call failed" in text:
        return "connection refused"
    return text or type(exc).__name__


def os_error_kind(exc: OSError) -> ErrorKind:
    """The :class:`ErrorKind` of a failed connect, from the exception, never its text."""
    if isinstance(exc, ConnectionRefusedError):
        return ErrorKind.REFUSED
    if isinstance(exc, socket.gaierror):
        return ErrorKind.DNS
    if isinstance(exc, ssl.SSLError):
        return ErrorKind.TLS
    if is_hang_up(exc):
        return ErrorKind.CLOSED
    if exc.errno == errno.ECONNREFUSED or (not exc.errno and "Connect call failed" in str(exc)):
        return ErrorKind.REFUSED  # asyncio's error when every address of a name refused
    return ErrorKind.CONNECT


def unreachable(exc: OSError) -> Unreachable:
    """The :class:`Unreachable` for a connection that failed before any response."""
    if is_hang_up(exc):
        return hung_up()
    return Unreachable(describe_os_error(exc), kind=os_error_kind(exc))


def hung_up() -> Unreachable:
    """Accepted, then closed or reset before a single response byte."""
    return Unreachable(
        f"{CLOSED_BY_SERVER} before any response", kind=ErrorKind.CLOSED, row=CLOSED_BY_SERVER
    )


def tls_context(*, insecure: bool = False, ca_file: str | None = None) -> ssl.SSLContext:
    """The context for an https target: system CAs, ``ca_file`` instead, or no checks."""
    if insecure and ca_file:
        raise RetapeError("--insecure and --ca-file contradict each other; pass one")
    if ca_file is None:
        context = ssl.create_default_context()
    else:
        context = ca_context(ca_file, flag="--ca-file")
    if insecure:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


@dataclass(frozen=True)
class Target:
    scheme: str  # "http" or "https"
    netloc: str  # host[:port] exactly as given, brackets kept for IPv6
    prefix: str  # "" or "/api": no trailing slash
    # How an https target's certificate is checked (see tls_context); None for http.
    tls: ssl.SSLContext | None = field(default=None, compare=False, repr=False)

    @property
    def base(self) -> str:
        return f"{self.scheme}://{self.netloc}{self.prefix}"

    def http_url(self, path: str) -> str:
        return f"{self.scheme}://{self.netloc}{self.prefix}{path}"

    def ws_url(self, path: str) -> str:
        return f"{_WS_SCHEMES[self.scheme]}://{self.netloc}{self.prefix}{path}"

    def __str__(self) -> str:
        return self.base


def parse_target(url: str, *, insecure: bool = False, ca_file: str | None = None) -> Target:
    """Validate ``--target`` (and the TLS flags) once, before any cassette is read.

    ``--insecure`` and ``--ca-file`` only matter for an https target; with an http one
    they are accepted and unused, so one command line serves both kinds of CI job.
    """
    parts = split_http_url(
        url,
        flag="--target",
        allow_path=True,
        credentials_hint="pass them with --bearer-env or --header",
        scheme_hint=" (websocket interactions use ws:// or wss:// derived from it)",
    )
    scheme = parts.scheme
    # A --ca-file is read even for http, so that a wrong path fails the same way everywhere.
    context = (
        tls_context(insecure=insecure, ca_file=ca_file) if scheme == "https" or ca_file else None
    )
    return Target(
        scheme=scheme,
        netloc=parts.netloc,
        prefix=parts.path.rstrip("/"),
        tls=context if scheme == "https" else None,
    )
