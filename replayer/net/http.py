"""Replaying one HTTP interaction over a shared keep-alive ``aiohttp`` session.

The request goes out as recorded: method, path (byte for byte, no requoting), headers
in order with their recorded case, body. aiohttp is kept from adding headers of its own
(User-Agent, Accept, ...) and from following redirects or keeping cookies, because each
of those would make the replay differ from the recording; only ``Host`` and
``Content-Length`` are recomputed for the new target and body.

Request bodies are stored decoded. When the recording sent a gzip or deflate body the
body is compressed again, so a server whose request decompression is part of the
regression still sees what it saw; other encodings (br, zstd) cannot be rebuilt with
the standard library, so the decoded body is sent without ``Content-Encoding``, which
every server must accept.
"""

from __future__ import annotations

import gzip
import ssl
import zlib
from collections.abc import Callable

import aiohttp
from retape.replayer.auth.credentials import Credentials
from retape.replayer.net.target import (
    CLOSED_BY_SERVER,
    describe_os_error,
    hung_up,
    is_hang_up,
    os_error_kind,
    unreachable,
)
from retape.replayer.results import ErrorKind, Outcome
from yarl import URL

from retape.cassette.model import Body, Header, Interaction

# Connection-level headers describe the recorded hop, not the request (RFC 9110 7.6.1).
HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "trailer"}
    | {"upgrade"}
)
# Rebuilt for the target and the body actually sent.
RECOMPUTED = frozenset({"host", "content-length", "content-encoding"})
_AUTO_HEADERS = ("User-Agent", "Accept", "Accept-Encoding", "Content-Type")
_RECOMPRESS: dict[str, Callable[[bytes], bytes]] = {
    "gzip": gzip.compress,
    "x-gzip": gzip.compress,
    "deflate": zlib.compress,
}


def open_session(
    *, tls: ssl.SSLContext | None = None, connections: int = 100
) -> aiohttp.ClientSession:
    """One session per run: its connection pool keeps connections alive across requests.

    ``tls`` is how an https target is verified (:attr:`replayer.target.Target.tls`);
    ``None`` keeps aiohttp's default verification. ``connections`` bounds the pool;
    ``retape replay`` sets it to ``--concurrency``.
    """
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(ssl=tls if tls is not None else True, limit=connections),
        auto_decompress=True,
        skip_auto_headers=_AUTO_HEADERS,
        cookie_jar=aiohttp.DummyCookieJar(),
        trust_env=False,  # never route replay traffic through an environment proxy
        max_line_size=65536,
        max_field_size=65536,
    )


def encode_body(body: Body | None, recorded: str | None) -> tuple[bytes | None, Header | None]:
    """The bytes to send and the ``Content-Encoding`` header that describes them, if any."""
    if body is None:
        return None, None
    data = body.to_bytes()
    if body.content_encoding is None:  # stored as sent: whatever the header said still holds
        return data, ("Content-Encoding", recorded) if recorded else None
    compress = _RECOMPRESS.get(body.content_encoding.strip().lower())
    if compress is None:
        return data, None
    return compress(data), ("Content-Encoding", body.content_encoding)


def _hung_up(exc: BaseException) -> bool:
    if isinstance(exc, aiohttp.ServerDisconnectedError | aiohttp.ClientConnectionResetError):
        return True
    return is_hang_up(exc)


def _failure(exc: BaseException, *, timeout: float) -> tuple[ErrorKind, str]:
    if isinstance(exc, TimeoutError):
        return ErrorKind.TIMEOUT, f"timeout after {timeout:g}s"
    if _hung_up(exc):
        return ErrorKind.CLOSED, CLOSED_BY_SERVER
    if isinstance(exc, aiohttp.ClientPayloadError):
        return ErrorKind.PROTOCOL, "incomplete response body"
    if isinstance(exc, OSError):
        return os_error_kind(exc), describe_os_error(exc)
    if isinstance(exc, aiohttp.ClientResponseError):  # a malformed status line or header
        return ErrorKind.PROTOCOL, f"{type(exc).__name__}: {exc}"
    return ErrorKind.OTHER, f"{type(exc).__name__}: {exc}"


async def replay_http(
    interaction: Interaction,
    *,
    session: aiohttp.ClientSession,
    url: str,
    credentials: Credentials,
    timeout: float,
) -> Outcome:
    """Send the recorded request and read the whole response (SSE streams included).

    The response headers and the decoded body are kept on the outcome for deeper
    comparison; the engine drops them once the row is judged.

    Raises :class:`~replayer.target.Unreachable` when the connection could not be made,
    or was closed or reset before the status line: nothing answered.
    """
    request = interaction.request
    headers = credentials.headers_for(request, drop=HOP_BY_HOP | RECOMPUTED)
    recorded_encoding = next(
        (v for k, v in request.headers if k.lower() == "content-encoding"), None
    )
    data, encoding = encode_body(request.body, recorded_encoding)
    if encoding is not None:
        headers.append(encoding)
    status: int | None = None
    try:
        async with session.request(
            request.method,
            URL(url, encoded=True),
            headers=headers,
            data=data,
            allow_redirects=False,
            timeout=aiohttp.ClientTimeout(total=timeout),
        ) as response:
            status = response.status
            headers_back = [
                (name.decode("latin-1"), value.decode("latin-1"))
                for name, value in response.raw_headers
            ]
            body = await response.read()
    except aiohttp.ClientConnectorError as exc:
        raise unreachable(exc.os_error) from None
    except (TimeoutError, aiohttp.ClientError, OSError, ValueError) as exc:
        if status is None and _hung_up(exc):
            raise hung_up() from None
        kind, error = _failure(exc, timeout=timeout)
        return Outcome(status=status, error=error, error_kind=kind)
    details = {"response_bytes": len(body)}
    return Outcome(status=status, details=details, headers=headers_back, body=body)
