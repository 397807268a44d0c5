"""Tiny real upstreams for the recorder's end-to-end tests.

``python -m tests.recorder_upstreams NAME PORT [CERT KEY]`` serves one of them on
127.0.0.1:PORT (with TLS when a certificate and key are given):

- ``http``: a starlette app with the messy kinds of HTTP traffic (slow SSE and chunked
  streams that report when they sent each part, compressed, binary and huge bodies,
  uploads) and a websocket echo.
- ``ws``: a ``websockets`` server for close-handshake edge cases a framework hides
  (close codes, a connection dropped without a close frame).
- ``h2``: an HTTP/2-only TLS server (the ``h2`` library mitmproxy itself uses; uvicorn
  speaks HTTP/1.1 only) answering every request with the protocol it was asked in.
"""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import json
import sys
import time
import zlib
from collections.abc import AsyncIterator

import brotli
import zstandard

GAP = 1.5  # seconds between the parts of a slow stream
MIB = 1024 * 1024
# The bytes of a huge body: 1 MiB of a fixed pattern, repeated (never all in memory twice).
PATTERN = (hashlib.sha256(b"retape").digest() * (MIB // 32))[:MIB]
ENCODERS = {
    "gzip": gzip.compress,
    "deflate": zlib.compress,
    "br": brotli.compress,
    "zstd": zstandard.ZstdCompressor().compress,
}
ENCODED_JSON = {"encoded": True, "words": ["repeated"] * 200}


def big_body(size: int) -> bytes:
    return (PATTERN * (size // MIB + 1))[:size]


def http_app():  # imported lazily: the ws upstream does not need starlette
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response, StreamingResponse
    from starlette.routing import Route, WebSocketRoute
    from starlette.websockets import WebSocket, WebSocketDisconnect

    async def slow(parts: list[str]) -> AsyncIterator[bytes]:
        for number, part in enumerate(parts):
            if number:
                await asyncio.sleep(GAP)
            yield part.replace("SENT", repr(time.time())).encode()

    async def sse(request: Request) -> StreamingResponse:
        events = [
            'data: {"n": 1, "sent": SENT}\n\n',
            'event: note\nid: 7\ndata: {"n": 2, "sent": SENT}\ndata: second line\n\n',
            "data: [DONE]\n\n",
        ]
        return StreamingResponse(slow(events), media_type="text/event-stream")

    async def chunked(request: Request) -> StreamingResponse:
        parts = ["part 1 sent=SENT\n", "part 2 sent=SENT\n"]
        return StreamingResponse(slow(parts), media_type="text/plain")

    async def encoded(request: Request) -> Response:
        name = request.path_params["name"]
        body = ENCODERS[name](json.dumps(ENCODED_JSON).encode())
        headers = {"content-encoding": name, "vary": "accept-encoding"}
        return Response(body, media_type="application/json", headers=headers)

    async def binary(request: Request) -> Response:
        return Response(b"\x89PNG\r\n\x1a\n" + await request.body(), media_type="image/png")

    async def big(request: Request) -> Response:
        size = int(request.query_params["size"])
        if request.query_params.get("chunked") != "1":
            return Response(big_body(size), media_type="application/octet-stream")

        async def pieces() -> AsyncIterator[bytes]:
            for start in range(0, size, MIB):
                yield PATTERN[: min(MIB, size - start)]

        return StreamingResponse(pieces(), media_type="application/octet-stream")

    async def upload(request: Request) -> Response:
        digest, size = hashlib.sha256(), 0
        async for chunk in request.stream():
            digest.update(chunk)
            size += len(chunk)
        return Response(json.dumps({"size": size, "sha256": digest.hexdigest()}))

    async def echo(request: Request) -> Response:
        return Response(await request.body(), media_type="application/json")

    async def ws_echo(websocket: WebSocket) -> None:
        await websocket.accept()
        try:
            while True:
                message = await websocket.receive()
                if message["type"] == "websocket.disconnect":
                    return
                if message.get("text") is not None:
                    await websocket.send_text(message["text"])
                else:
                    await websocket.send_bytes(message["bytes"])
        except WebSocketDisconnect:
            return

    return Starlette(
        routes=[
            Route("/sse", sse),
            Route("/chunked", chunked),
            Route("/encoded/{name}", encoded),
            Route("/binary", binary, methods=["POST"]),
            Route("/big", big),
            Route("/upload", upload, methods=["POST"]),
            Route("/echo", echo, methods=["POST"]),
            WebSocketRoute("/ws", ws_echo),
        ]
    )


async def ws_handler(websocket) -> None:
    """``/echo`` echoes; ``/policy`` closes with 4001 after one message; ``/drop`` aborts."""
    path = websocket.request.path
    async for message in websocket:
        if path == "/policy":
            await websocket.close(4001, "policy")
            return
        if path == "/drop":
            websocket.transport.abort()  # no close frame: the socket just goes away
            return
        await websocket.send(message)


async def serve_ws(port: int) -> None:
    from websockets.asyncio.server import serve

    async with serve(ws_handler, "127.0.0.1", port, ping_interval=None):
        await asyncio.Future()


class H2Protocol(asyncio.Protocol):
    """Just enough HTTP/2: a JSON ``{"protocol": "h2", "path": ...}`` for every request."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        from h2.config import H2Configuration
        from h2.connection import H2Connection

        self.transport = transport
        self.conn = H2Connection(H2Configuration(client_side=False, header_encoding="utf-8"))
        self.conn.initiate_connection()
        self.paths: dict[int, str] = {}
        self.flush()

    def flush(self) -> None:
        self.transport.write(self.conn.data_to_send())  # type: ignore[attr-defined]

    def data_received(self, data: bytes) -> None:
        from h2 import events

        for event in self.conn.receive_data(data):
            if isinstance(event, events.RequestReceived):
                self.paths[event.stream_id] = dict(event.headers)[":path"]
            elif isinstance(event, events.DataReceived):
                self.conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
            elif isinstance(event, events.StreamEnded):
                self.respond(event.stream_id)
            elif isinstance(event, events.ConnectionTerminated):
                self.transport.close()
        self.flush()

    def respond(self, stream_id: int) -> None:
        body = json.dumps({"protocol": "h2", "path": self.paths.pop(stream_id)}).encode()
        headers = [(":status", "200"), ("content-type", "application/json")]
        self.conn.send_headers(stream_id, [*headers, ("content-length", str(len(body)))])
        self.conn.send_data(stream_id, body, end_stream=True)


async def serve_h2(port: int, cert: str, key: str) -> None:
    import ssl

    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    context.set_alpn_protocols(["h2"])
    loop = asyncio.get_running_loop()
    server = await loop.create_server(H2Protocol, "127.0.0.1", port, ssl=context)
    async with server:
        await server.serve_forever()


def main(argv: list[str]) -> None:
    name, port, *tls = argv
    if name == "ws":
        asyncio.run(serve_ws(int(port)))
        return
    if name == "h2":
        asyncio.run(serve_h2(int(port), *tls))
        return
    import uvicorn

    ssl = {"ssl_certfile": tls[0], "ssl_keyfile": tls[1]} if tls else {}
    uvicorn.run(http_app(), host="127.0.0.1", port=int(port), log_level="warning", **ssl)


if __name__ == "__main__":
    main(sys.argv[1:])
