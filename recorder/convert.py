"""Finished mitmproxy flows → cassette interactions, with every credential removed.

These are plain functions of a flow (no options, no I/O) so the rules that decide what
reaches disk can be pinned with mitmproxy's test flows. Redaction happens here, on the
only path from a flow to an :class:`Interaction`, so no write path can skip it: every
part (path, headers, bodies, messages) goes through the cassette's one
:class:`~cassette.redact.Redactor`, which also scrubs credential values wherever they
reappear, in this interaction or a later one.
"""

from __future__ import annotations

import logging
import time

from mitmproxy import http
from mitmproxy.net import encoding
from mitmproxy.websocket import WebSocketData

from cassette.model import Body, Close, Header, Interaction, Message, Request, Response
from cassette.redact import Redactor

logger = logging.getLogger(__name__)

ABNORMAL_CLOSURE = 1006  # RFC 6455: the connection dropped without a close frame
# Content-Encodings we undo; anything else (or a chain) is stored as the raw bytes.
DECODABLE = frozenset({"gzip", "deflate", "br", "zstd"})


def is_rejected_handshake(flow: http.HTTPFlow) -> bool:
    """A websocket upgrade the server refused: recorded as a websocket, not as plain HTTP."""
    upgrade = flow.request.headers.get("upgrade", "")
    accepted = flow.response is not None and flow.response.status_code == 101
    return flow.websocket is None and "websocket" in upgrade.lower() and not accepted


def http_interaction(
    flow: http.HTTPFlow, redactor: Redactor, started: float, *, streamed: bytes | None = None
) -> Interaction:
    """An HTTP exchange, or a rejected websocket handshake (``messages: []``, no close).

    ``streamed`` is the response body when it was passed through to the client as it
    arrived (server-sent events) instead of being buffered on the flow.
    """
    assert flow.response is not None
    kind = "websocket" if is_rejected_handshake(flow) else "http"
    end = flow.response.timestamp_end or time.time()
    raw = Interaction(
        id=0,
        type=kind,
        request=_request(flow.request),
        response=_response(flow.response, streamed),
        at=max(0.0, flow.request.timestamp_start - started),
        duration=max(0.0, end - flow.request.timestamp_start),
        http_version=flow.request.http_version,
    )
    return redactor.interaction(raw)


def websocket_interaction(flow: http.HTTPFlow, redactor: Redactor, started: float) -> Interaction:
    """An accepted websocket session: handshake, every message in order, and how it ended.

    Called at ``websocket_end``, or at shutdown for a session still open (then it has no
    close frame and is recorded as dropped).
    """
    assert flow.response is not None and flow.websocket is not None
    opened = flow.response.timestamp_end or flow.request.timestamp_start
    messages = [
        Message.from_frame(
            "client" if m.from_client else "server",
            max(0.0, m.timestamp - opened),
            m.content.decode("utf-8", "replace") if m.is_text else m.content,
        )
        for m in flow.websocket.messages
    ]
    end = flow.websocket.timestamp_end or time.time()
    raw = Interaction(
        id=0,
        type="websocket",
        request=_request(flow.request),
        response=_response(flow.response, None),
        at=max(0.0, flow.request.timestamp_start - started),
        duration=max(0.0, end - flow.request.timestamp_start),
        http_version=flow.request.http_version,
        messages=messages,
        close=session_close(flow.websocket),
    )
    return redactor.interaction(raw)


def session_close(websocket: WebSocketData) -> Close:
    """Plain-typed close; ``by: none`` with 1006 when no close frame was exchanged."""
    code = websocket.close_code
    if code is None or int(code) == ABNORMAL_CLOSURE:
        return Close(ABNORMAL_CLOSURE, "", "none")
    by = "client" if websocket.closed_by_client else "server"
    return Close(int(code), str(websocket.close_reason or ""), by)


def _request(request: http.Request) -> Request:
    return Request(
        method=request.method,
        path=_text(request.data.path),
        headers=_headers(request.headers),
        body=_body(request, request.raw_content),
    )


def _response(response: http.Response, streamed: bytes | None) -> Response:
    raw = streamed if streamed is not None else response.raw_content
    return Response(
        status=response.status_code,
        headers=_headers(response.headers),
        body=_body(response, raw),
        reason=response.reason,
    )


def _headers(headers: http.Headers) -> list[Header]:
    """Every field in received order, repeats kept, names in their original case."""
    return [(_text(name), _text(value)) for name, value in headers.fields]


def _text(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")  # RFC 9110 obs-text: never fails, never loses a byte


def _body(message: http.Message, raw: bytes | None) -> Body | None:
    """The decoded body; ``content_encoding`` says what it was decoded from.

    If the declared encoding is unknown or the bytes do not decode, the raw bytes are
    kept and ``content_encoding`` stays empty: the stored body is then exactly what went
    over the wire, and the Content-Encoding header still says how to read it.
    """
    if not raw:
        return None
    declared = message.headers.get("content-encoding", "").strip()
    content = raw
    decoded_from = None
    if declared.lower() in DECODABLE:
        try:
            content = encoding.decode(raw, declared.lower())
            decoded_from = declared
        except ValueError:
            logger.warning("kept a %s body undecoded: it is not valid %s", declared, declared)
    assert isinstance(content, bytes)
    content_type = message.headers.get("content-type", "")
    return Body.from_bytes(content, content_type, decoded_from)
