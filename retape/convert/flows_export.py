"""Cassettes out as a mitmproxy flow file: ``mitmproxy -r``, ``mitmdump -nr``.

Each interaction becomes the :class:`~mitmproxy.http.HTTPFlow` mitmproxy would have
captured, written with mitmproxy's own :class:`~mitmproxy.io.FlowWriter`, so any
mitmproxy that reads flows reads it (and migrates it forward). Bodies are put back
into their recorded ``Content-Encoding``; placeholders stay placeholders.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from retape.cassette.model import Body, Cassette, Header, Interaction
from retape.convert.har_export import origin_of, recording_start
from retape.convert.mitmproxy_needed import require_mitmproxy

if TYPE_CHECKING:
    from mitmproxy import http


def _fields(headers: list[Header]) -> tuple[tuple[bytes, bytes], ...]:
    return tuple((n.encode("utf-8", "surrogateescape"), v.encode("utf-8", "surrogateescape"))
                 for n, v in headers)  # fmt: skip


def _fill(message: http.Message, body: Body | None) -> None:
    """Set a body as it went over the wire: encoded again if the cassette decoded it."""
    if body is None or body.is_omitted:
        message.raw_content = b""
        return
    data = body.to_bytes()
    if body.content_encoding:
        message.content = data  # mitmproxy encodes per the Content-Encoding header
    else:
        message.raw_content = data


def to_flow(interaction: Interaction, *, origin: str, start: float) -> http.HTTPFlow:
    """The flow mitmproxy would have recorded for this interaction."""
    from mitmproxy import connection, http
    from mitmproxy.websocket import WebSocketData, WebSocketMessage
    from wsproto.frame_protocol import Opcode

    parts = urlsplit(origin)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    host = parts.hostname or "localhost"
    began = start + interaction.at
    ended = began + interaction.duration
    client = connection.Client(
        peername=("127.0.0.1", 0), sockname=("127.0.0.1", 0), timestamp_start=began
    )
    server = connection.Server(address=(host, port), timestamp_start=began)
    flow = http.HTTPFlow(client, server)
    version = b"HTTP/2.0" if interaction.http_version.upper().startswith("HTTP/2") else b"HTTP/1.1"
    request, response = interaction.request, interaction.response
    flow.request = http.Request(
        host, port, request.method.encode(), parts.scheme.encode() or b"http",
        b"", request.path.encode("utf-8", "surrogateescape"), version,
        http.Headers(_fields(request.headers)), b"", None, began, began,
    )  # fmt: skip
    _fill(flow.request, request.body)
    handshake_end = began if interaction.accepted else ended
    flow.response = http.Response(
        version, response.status, response.reason.encode("utf-8", "replace"),
        http.Headers(_fields(response.headers)), b"", None, handshake_end, handshake_end,
    )  # fmt: skip
    _fill(flow.response, response.body)
    if interaction.type == "websocket" and response.status == 101:
        flow.websocket = WebSocketData()
        for message in interaction.messages:
            payload = message.payload()
            flow.websocket.messages.append(
                WebSocketMessage(
                    Opcode.TEXT if message.is_text else Opcode.BINARY,
                    message.sender == "client",
                    payload.encode("utf-8") if isinstance(payload, str) else payload,
                    handshake_end + message.at,
                )
            )
        close = interaction.close
        if close is not None and close.by != "none":
            flow.websocket.close_code = close.code
            flow.websocket.close_reason = close.reason
            flow.websocket.closed_by_client = close.by == "client"
        flow.websocket.timestamp_end = ended
    return flow


def write_flows(cassettes: list[Cassette], out: Path) -> int:
    """Write every interaction as a flow, in time order; return how many."""
    require_mitmproxy()
    from mitmproxy.io import FlowWriter

    flows = [
        to_flow(i, origin=origin_of(c), start=recording_start(c))
        for c in cassettes
        for i in c.interactions
    ]
    flows.sort(key=lambda f: f.request.timestamp_start)
    with open(out, "wb") as handle:
        writer = FlowWriter(handle)
        for flow in flows:
            writer.add(flow)
    return len(flows)
