"""Loopback servers for the benchmarks, run as their own processes.

``python -m bench.servers http --port N``: a plain ASGI app under uvicorn (no framework,
so the server costs as little as uvicorn allows) answering every generated request with
a canned chat completion, model list or SSE stream, and echoing websocket messages.
``python -m bench.servers ws --port N``: a ``websockets`` echo server, for the
websocket benchmark. Both listen on 127.0.0.1 only and exit on SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
from typing import Any

COMPLETION = json.dumps(
    {
        "id": "chatcmpl-bench",
        "object": "chat.completion",
        "created": 1764000000,
        "model": "demo-model",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "A short benchmark answer."},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 21, "completion_tokens": 34, "total_tokens": 55},
    }
).encode()
MODELS = b'{"object":"list","data":[{"id":"demo-model","object":"model","owned_by":"x"}]}'
STREAM = b"".join(
    b'data: {"choices":[{"delta":{"content":"%s "}}]}\n\n' % word
    for word in (b"a", b"short", b"answer")
) + (b"data: [DONE]\n\n")


async def _read_body(receive: Any) -> None:
    more = True
    while more:
        message = await receive()
        more = message.get("more_body", False)


async def _websocket(receive: Any, send: Any) -> None:
    """Accept, then echo every message until the client closes."""
    await receive()  # websocket.connect
    await send({"type": "websocket.accept"})
    while True:
        message = await receive()
        if message["type"] == "websocket.disconnect":
            return
        if message.get("text") is not None:
            await send({"type": "websocket.send", "text": message["text"]})
        else:
            await send({"type": "websocket.send", "bytes": message.get("bytes") or b""})


async def app(scope: dict, receive: Any, send: Any) -> None:
    """The whole HTTP target: route on method and path, answer from memory."""
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["type"] == "websocket":
        await _websocket(receive, send)
        return
    await _read_body(receive)
    if scope["path"] == "/v1/models":
        body, kind = MODELS, b"application/json"
    elif scope.get("query_string", b"").startswith(b"stream"):
        body, kind = STREAM, b"text/event-stream"
    else:
        body, kind = COMPLETION, b"application/json"
    headers = [(b"content-type", kind), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def serve_http(port: int) -> None:
    import uvicorn

    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


async def _echo(connection: Any) -> None:
    async for message in connection:
        await connection.send(message)


async def _serve_ws(port: int) -> None:
    from websockets.asyncio.server import serve

    stop = asyncio.get_running_loop().create_future()
    for sig in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set_result, None)
    async with serve(_echo, "127.0.0.1", port, max_size=None, ping_interval=None):
        await stop


def _exit_cleanly(signum: int, frame: Any) -> None:
    raise SystemExit(0)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.servers")
    parser.add_argument("kind", choices=["http", "ws"])
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    if args.kind == "http":
        signal.signal(signal.SIGTERM, _exit_cleanly)
        serve_http(args.port)
    else:
        asyncio.run(_serve_ws(args.port))


if __name__ == "__main__":
    main()
