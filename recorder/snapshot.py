"""What the recorder copies out of a finished mitmproxy flow, on mitmproxy's event loop.

Redaction and YAML serialisation cost about 0.35 ms per chat-completion interaction;
run on the proxy's single event-loop thread they delayed every other user of the proxy
by as much. So the loop only takes this snapshot (plain bytes, strings and numbers,
about 10 µs: references to the flow's header tuples and body bytes, no decoding, no
parsing) and the writer process (:mod:`retape.recorder.sink`) turns it into a redacted
interaction (:mod:`retape.recorder.convert`) and appends it. The snapshot pickles
cheaply and needs no mitmproxy to be read back.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from retape.recorder.capture import BodyCapture

from retape.cassette.model import Close, InteractionType, Sender

if TYPE_CHECKING:
    from mitmproxy import http
    from mitmproxy.websocket import WebSocketData

ABNORMAL_CLOSURE = 1006  # RFC 6455: the connection dropped without a close frame

Fields = tuple[tuple[bytes, bytes], ...]
"""Header fields exactly as received: (name, value) bytes, in order, repeats kept."""


@dataclass(frozen=True, slots=True)
class BodySnapshot:
    """A body as sent, or, when it streamed past the cap, only its size and sha256."""

    raw: bytes
    content_type: str
    declared_encoding: str
    omitted_size: int | None = None
    omitted_sha256: str = ""


@dataclass(frozen=True, slots=True)
class RequestSnapshot:
    method: str
    path: bytes
    headers: Fields
    body: BodySnapshot | None


@dataclass(frozen=True, slots=True)
class ResponseSnapshot:
    status: int
    reason: str
    headers: Fields
    body: BodySnapshot | None


@dataclass(frozen=True, slots=True)
class FlowSnapshot:
    """One finished exchange; ``frames`` and ``close`` only for an accepted websocket.

    ``frames`` are (sender, seconds since the handshake, text or bytes) in order.
    """

    kind: InteractionType  # a rejected handshake is a websocket too
    request: RequestSnapshot
    response: ResponseSnapshot
    started: float  # epoch seconds the request started
    ended: float  # epoch seconds the response (or the session) ended
    http_version: str
    frames: tuple[tuple[Sender, float, bytes | str], ...] | None = None
    close: Close | None = None


def is_rejected_handshake(flow: http.HTTPFlow) -> bool:
    """A websocket upgrade the server refused: recorded as a websocket, not as plain HTTP."""
    upgrade = flow.request.headers.get("upgrade", "")
    accepted = flow.response is not None and flow.response.status_code == 101
    return flow.websocket is None and "websocket" in upgrade.lower() and not accepted


def http_snapshot(flow: http.HTTPFlow, now: float) -> FlowSnapshot:
    """An HTTP exchange, or a rejected websocket handshake (``messages: []``, no close)."""
    assert flow.response is not None
    return FlowSnapshot(
        kind="websocket" if is_rejected_handshake(flow) else "http",
        request=_request(flow.request),
        response=_response(flow.response),
        started=flow.request.timestamp_start,
        ended=flow.response.timestamp_end or now,
        http_version=flow.request.http_version,
    )


def websocket_snapshot(flow: http.HTTPFlow, now: float) -> FlowSnapshot:
    """An accepted websocket session: handshake, every message in order, how it ended.

    Taken at ``websocket_end``, or at shutdown for a session still open (then it has no
    close frame and is recorded as dropped).
    """
    assert flow.response is not None and flow.websocket is not None
    opened = flow.response.timestamp_end or flow.request.timestamp_start
    frames = tuple(
        (
            _sender(m.from_client),
            max(0.0, m.timestamp - opened),
            m.content.decode("utf-8", "replace") if m.is_text else m.content,
        )
        for m in flow.websocket.messages
    )
    return FlowSnapshot(
        kind="websocket",
        request=_request(flow.request),
        response=_response(flow.response),
        started=flow.request.timestamp_start,
        ended=flow.websocket.timestamp_end or now,
        http_version=flow.request.http_version,
        frames=frames,
        close=session_close(flow.websocket),
    )


def _sender(from_client: bool) -> Sender:
    return "client" if from_client else "server"


def session_close(websocket: WebSocketData) -> Close:
    """Plain-typed close; ``by: none`` with 1006 when no close frame was exchanged."""
    code = websocket.close_code
    if code is None or int(code) == ABNORMAL_CLOSURE:
        return Close(ABNORMAL_CLOSURE, "", "none")
    by: Literal["client", "server"] = "client" if websocket.closed_by_client else "server"
    return Close(int(code), str(websocket.close_reason or ""), by)


def _request(request: http.Request) -> RequestSnapshot:
    return RequestSnapshot(
        method=request.method,
        path=request.data.path,
        headers=tuple(request.headers.fields),
        body=_body(request),
    )


def _response(response: http.Response) -> ResponseSnapshot:
    return ResponseSnapshot(
        status=response.status_code,
        reason=response.reason,
        headers=tuple(response.headers.fields),
        body=_body(response),
    )


def _body(message: http.Message) -> BodySnapshot | None:
    """The bytes as sent (a streamed copy if the body streamed through a capture)."""
    declared = message.headers.get("content-encoding", "").strip()
    content_type = message.headers.get("content-type", "")
    capture = message.stream if isinstance(message.stream, BodyCapture) else None
    if capture is not None and capture.over_limit:
        return BodySnapshot(b"", content_type, declared, capture.size, capture.sha256())
    raw = capture.content() if capture is not None else message.raw_content
    if not raw:
        return None
    return BodySnapshot(raw, content_type, declared)
