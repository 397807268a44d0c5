"""A server that hands out and echoes secrets in every place a secret can hide.

Run with ``python -m tests.apps.leaky PORT``; the secrets come from the environment
(``LEAKY_*``), so a test can check that none of them reaches a cassette.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import AsyncIterator
from urllib.parse import parse_qs

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket

TOKEN = os.environ.get("LEAKY_TOKEN", "")
ISSUED = os.environ.get("LEAKY_ISSUED", "")  # a token the server hands out


def _authorised(request: Request | WebSocket) -> bool:
    return request.headers.get("authorization") == f"Bearer {TOKEN}"


async def login(request: Request) -> Response:
    form = parse_qs((await request.body()).decode())  # no python-multipart needed
    if not form.get("password"):
        return JSONResponse({"error": "password required"}, status_code=400)
    response = JSONResponse({"access_token": ISSUED, "refresh_token": ISSUED[::-1], "user": "ann"})
    response.set_cookie("session", ISSUED + "-cookie", httponly=True)
    return response


async def profile(request: Request) -> Response:
    if not _authorised(request):
        return JSONResponse({"error": "unauthorised"}, status_code=401)
    key = request.query_params.get("api_key", "")
    body = {"name": "ann", "apiKey": key, "note": f"you called with {TOKEN}", "plan": "pro"}
    return JSONResponse(body, headers={"Location": f"/next?token={ISSUED}"})


async def events(request: Request) -> Response:
    async def stream() -> AsyncIterator[str]:
        yield f"data: {json.dumps({'type': 'grant', 'token': ISSUED})}\n\n"
        yield "data: [DONE]\n\n"

    return StreamingResponse(stream(), media_type="text/event-stream")


async def socket(websocket: WebSocket) -> None:
    if not _authorised(websocket):
        await websocket.close(code=4401)
        return
    await websocket.accept()
    await websocket.send_json({"type": "hello", "session_token": ISSUED})
    while True:
        message = await websocket.receive()
        if message["type"] == "websocket.disconnect":
            return
        text = message.get("text") or ""
        await websocket.send_text(json.dumps({"type": "echo", "got": text}))


app = Starlette(
    routes=[
        Route("/login", login, methods=["POST"]),
        Route("/profile", profile),
        Route("/events", events),
        WebSocketRoute("/ws", socket),
    ]
)

if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning")
