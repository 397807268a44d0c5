"""Finished mitmproxy flows → cassette interactions, with every credential removed.

These are plain functions of a flow (no options, no I/O) so the rules that decide what
reaches disk can be pinned with mitmproxy's test flows. Redaction happens here, on the
only path from a flow to an :class:`Interaction`, so no write path can skip it: every
part (path, headers, bodies, messages) goes through the cassette's one
:class:`~cassette.redact.Redactor`, which also scrubs credential values wherever they
reappear, in this interaction or a later one.
"""

from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import replace
from typing import Literal

from mitmproxy import http
from mitmproxy.websocket import WebSocketData
from retape.recorder.capture import DEFAULT_MAX_BODY, BodyCapture
from retape.recorder.decode import DECODABLE, TooLarge, decode

from retape.cassette.correlate import Correlator
from retape.cassette.model import (
    Body,
    Close,
    Header,
    Interaction,
    InteractionType,
    Message,
    Request,
    Response,
)
from retape.cassette.redact import Redactor

logger = logging.getLogger(__name__)

ABNORMAL_CLOSURE = 1006  # RFC 6455: the connection dropped without a close frame


def is_rejected_handshake(flow: http.HTTPFlow) -> bool:
    """A websocket upgrade the server refused: recorded as a websocket, not as plain HTTP."""
    upgrade = flow.request.headers.get("upgrade", "")
    accepted = flow.response is not None and flow.response.status_code == 101
    return flow.websocket is None and "websocket" in upgrade.lower() and not accepted


def finish(
    raw: Interaction, redactor: Redactor, correlator: Correlator | None, ident: int
) -> Interaction:
    """The interaction as it is written: redacted, numbered, with its correlations.

    Correlations are inferred from the raw traffic (a cookie the server set is still
    readable there), then their recorded values are redacted like the request that
    carries them, so a minted secret is the same ``<redacted:N>`` in both places.
    """
    raw.id = ident
    uses = correlator.observe(raw) if correlator is not None else []
    redacted = redactor.interaction(raw)
    return replace(redacted, uses=[redactor.correlation(c) for c in uses])


def http_interaction(
    flow: http.HTTPFlow,
    redactor: Redactor,
    started: float,
    *,
    max_body: int = DEFAULT_MAX_BODY,
    correlator: Correlator | None = None,
    ident: int = 0,
) -> Interaction:
    """An HTTP exchange, or a rejected websocket handshake (``messages: []``, no close).

    A body that streamed through a :class:`~recorder.capture.BodyCapture` is taken from
    it; one over ``max_body`` bytes (as sent, or once decoded) is recorded as omitted.
    """
    assert flow.response is not None
    kind: InteractionType = "websocket" if is_rejected_handshake(flow) else "http"
    end = flow.response.timestamp_end or time.time()
    raw = Interaction(
        id=0,
        type=kind,
        request=_request(flow.request, max_body),
        response=_response(flow.response, max_body),
        at=max(0.0, flow.request.timestamp_start - started),
        duration=max(0.0, end - flow.request.timestamp_start),
        http_version=flow.request.http_version,
    )
    return finish(raw, redactor, correlator, ident)


def websocket_interaction(
    flow: http.HTTPFlow,
    redactor: Redactor,
    started: float,
    *,
    max_body: int = DEFAULT_MAX_BODY,
    correlator: Correlator | None = None,
    ident: int = 0,
) -> Interaction:
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
        request=_request(flow.request, max_body),
        response=_response(flow.response, max_body),
        at=max(0.0, flow.request.timestamp_start - started),
        duration=max(0.0, end - flow.request.timestamp_start),
        http_version=flow.request.http_version,
        messages=messages,
        close=session_close(flow.websocket),
    )
    return finish(raw, redactor, correlator, ident)


def session_close(websocket: WebSocketData) -> Close:
    """Plain-typed close; ``by: none`` with 1006 when no close frame was exchanged."""
    code = websocket.close_code
    if code is None or int(code) == ABNORMAL_CLOSURE:
        return Close(ABNORMAL_CLOSURE, "", "none")
    by: Literal["client", "server"] = "client" if websocket.closed_by_client else "server"
    return Close(int(code), str(websocket.close_reason or ""), by)


def _request(request: http.Request, max_body: int) -> Request:
    return Request(
        method=request.method,
        path=_text(request.data.path),
        headers=_headers(request.headers),
        body=_body(request, max_body),
    )


def _response(response: http.Response, max_body: int) -> Response:
    return Response(
        status=response.status_code,
        headers=_headers(response.headers),
        body=_body(response, max_body),
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


def _body(message: http.Message, max_body: int) -> Body | None:
    """The decoded body; ``content_encoding`` says what it was decoded from.

    If the declared encoding is unknown or the bytes do not decode, the raw bytes are
    kept and ``content_encoding`` stays empty: the stored body is then exactly what went
    over the wire, and the Content-Encoding header still says how to read it. A body
    over ``max_body`` (as sent or decoded) becomes a note of its size and sha256, taken
    over the bytes as sent.
    """
    declared = message.headers.get("content-encoding", "").strip()
    content_type = message.headers.get("content-type", "")
    capture = message.stream if isinstance(message.stream, BodyCapture) else None
    if capture is not None and capture.over_limit:
        return _note(capture.size, capture.sha256(), content_type, declared)
    raw = capture.content() if capture is not None else message.raw_content
    if not raw:
        return None
    try:
        if len(raw) > max_body:
            raise TooLarge
        content, decoded_from = _decoded(raw, declared, max_body)
    except TooLarge:
        return _note(len(raw), hashlib.sha256(raw).hexdigest(), content_type, declared)
    return Body.from_bytes(content, content_type, decoded_from)


def _note(size: int, sha256: str, content_type: str, declared: str) -> Body:
    """An omitted body: what was sent, described instead of kept."""
    return Body.omitted(
        size=size, sha256=sha256, content_type=content_type, content_encoding=declared or None
    )


def _decoded(raw: bytes, declared: str, max_body: int) -> tuple[bytes, str | None]:
    """(content, the encoding it was decoded from); raises TooLarge past ``max_body``."""
    if declared.lower() not in DECODABLE:
        return raw, None
    try:
        return decode(raw, declared, max_body), declared
    except ValueError:
        logger.warning("kept a %s body undecoded: it is not valid %s", declared, declared)
        return raw, None
