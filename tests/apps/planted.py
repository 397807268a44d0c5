"""A server that plants secrets everywhere and echoes back whatever it is sent.

Run with ``python -m tests.apps.planted PORT``. The secrets it hands out come from the
environment variable ``PLANTED`` (a JSON object), so a test knows every one of them.

* ``/oauth/token?as=json|form|text``: a token response in that content type;
* ``/authorize``: a redirect whose ``Location`` carries ``code=`` and a fragment token;
* ``/headers``: credential-named response headers (vendor ones included);
* ``/gzip2`` and ``/xgzip``: a secret in a body sent ``gzip, gzip`` and ``x-gzip``;
* ``/sse``: token shapes in an event stream;
* ``/deep``: JSON nested 5,000 levels deep;
* ``/redirect``: a 302 to the ``REDIRECT_TO`` URL (the "other host" of a test);
* anything else: an echo of method, path, headers and body, and every request header
  copied back as ``X-Echo-<name>`` and base64-encoded in the body;
* websocket ``/ws``: secrets in text, binary frames and the close reason, then an echo
  of every message (text and binary) and of the handshake headers;
  ``/ws-redirect`` answers the handshake with a 302 to ``REDIRECT_TO``.
"""

from __future__ import annotations

import base64
import gzip
import json
import os
import sys
from collections.abc import AsyncIterator

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket

PLANTED: dict[str, str] = json.loads(os.environ.get("PLANTED", "{}"))
REDIRECT_TO = os.environ.get("REDIRECT_TO", "http://127.0.0.1:9/")


def p(name: str) -> str:
    return PLANTED.get(name, f"missing-{name}")


async def token(request: Request) -> Response:
    fields = {
        "access_token": p("minted_access"),
        "refresh_token": p("minted_refresh"),
        "id_token": p("minted_id"),
        "client_secret": p("minted_client_secret"),
        "token_type": "bearer",
        "expires_in": 3600,
    }
    kind = request.query_params.get("as", "json")
    if kind == "json":
        return JSONResponse(fields)
    text = "&".join(f"{k}={v}" for k, v in fields.items())
    media = "application/x-www-form-urlencoded" if kind == "form" else "text/plain"
    return Response(text, media_type=media)


async def authorize(request: Request) -> Response:
    location = f"/cb?code={p('oauth_code')}&state=ok#access_token={p('fragment_token')}&x=1"
    return Response(status_code=302, headers={"Location": location})


async def headers(request: Request) -> Response:
    planted = {
        "X-Csrf-Token": p("resp_csrf"),
        "X-Amz-Security-Token": p("resp_amz"),
        "Private-Token": p("resp_private"),
        "X-Goog-Api-Key": p("resp_goog"),
        "X-Session-Id": p("resp_session"),
        "X-Hub-Signature-256": p("resp_signature"),
        "X-Auth-Password": p("resp_password"),
        "X-Ratelimit-Remaining-Tokens": "1499",
    }
    response = JSONResponse({"ok": True}, headers=planted)
    response.set_cookie("sid", p("resp_cookie"), httponly=True)
    return response


async def gzip2(request: Request) -> Response:
    body = json.dumps({"password": p("gzip2_password"), "note": "twice"}).encode()
    return Response(
        gzip.compress(gzip.compress(body)),
        media_type="application/json",
        headers={"Content-Encoding": "gzip, gzip"},
    )


async def xgzip(request: Request) -> Response:
    body = json.dumps({"secret": p("xgzip_secret")}).encode()
    return Response(
        gzip.compress(body), media_type="application/json", headers={"Content-Encoding": "x-gzip"}
    )


async def sse(request: Request) -> Response:
    async def stream() -> AsyncIterator[str]:
        yield f"data: {json.dumps({'type': 'key', 'value': p('sse_stripe')})}\n\n"
        yield f"data: plain text with {p('sse_github')} inside\n\n"
        yield "data: [DONE]\n\n"

    return StreamingResponse(stream(), media_type="text/event-stream")


async def deep(request: Request) -> Response:
    return Response("[" * 5000 + "]" * 5000, media_type="application/json")


async def redirect(request: Request) -> Response:
    return Response(status_code=302, headers={"Location": REDIRECT_TO})


async def echo(request: Request) -> Response:
    body = (await request.body()).decode("utf-8", "replace")
    raw = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in request.headers.raw]
    copied = {f"X-Echo-{name}": value for name, value in raw if name.lower() not in ("host",)}
    encoded = {name: base64.b64encode(value.encode()).decode() for name, value in raw}
    data = {
        "method": request.method,
        "path": request.url.path,
        "query": request.url.query,
        "headers": dict(raw),
        "encoded": encoded,
        "body": body,
    }
    return JSONResponse(data, headers=copied)


async def socket(websocket: WebSocket) -> None:
    offered = websocket.scope.get("subprotocols") or []
    await websocket.accept()
    handshake = {k.decode("latin-1"): v.decode("latin-1") for k, v in websocket.scope["headers"]}
    await websocket.send_json({"type": "hello", "handshake": handshake, "offered": offered})
    await websocket.send_text(f"hook https://hooks.slack.com/services/{p('ws_slack')}")
    await websocket.send_bytes(b"\x00\x01key=" + p("ws_aws").encode() + b"\xff")
    while True:
        message = await websocket.receive()
        if message["type"] == "websocket.disconnect":
            return
        if message.get("bytes") is not None:
            await websocket.send_bytes(b"echo:" + message["bytes"])
            continue
        text = message.get("text") or ""
        if text == "close-please":
            await websocket.close(code=4001, reason=f"bye {p('ws_close_jwt')}"[:120])
            return
        await websocket.send_text(json.dumps({"type": "echo", "got": text}))


async def ws_redirect(websocket: WebSocket) -> None:
    location = REDIRECT_TO.replace("http", "ws", 1)
    await websocket.send_denial_response(Response(status_code=302, headers={"Location": location}))


routes = [
    Route("/oauth/token", token, methods=["GET", "POST"]),
    Route("/authorize", authorize),
    Route("/headers", headers),
    Route("/gzip2", gzip2),
    Route("/xgzip", xgzip),
    Route("/sse", sse),
    Route("/deep", deep),
    Route("/redirect", redirect),
    WebSocketRoute("/ws", socket),
    WebSocketRoute("/ws-redirect", ws_redirect),
    Route("/{path:path}", echo, methods=["GET", "POST", "PUT", "PATCH", "DELETE"]),
]
app = Starlette(routes=routes)

if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning")
