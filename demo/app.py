"""Starlette app shaped like vLLM's OpenAI-compatible server (just enough for demos and tests)."""

import json
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route, WebSocketRoute
from starlette.types import ASGIApp

from demo.answers import pieces, worded
from demo.auth import VARIANTS, AuthenticationMiddleware
from demo.realtime import realtime_endpoint_for
from demo.stateful import Store, routes

MODEL_ID = "demo-model"
_STARTED = int(time.time())


def _error(message: str, status: int, err_type: str = "BadRequestError") -> JSONResponse:
    """vLLM-style error body, so recordings look like the real server's."""
    body = {"object": "error", "message": message, "type": err_type, "param": None}
    return JSONResponse({**body, "code": status}, status_code=status)


def _text_of(content: Any) -> str:
    """Flatten OpenAI message content (a string or a list of text parts) to plain text."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = [p.get("text", "") for p in content if isinstance(p, dict)]
        return " ".join(p for p in parts if isinstance(p, str))
    return ""


def reply_for(messages: list[Any]) -> str:
    """Deterministic reply echoing the last user message, so replays can be compared exactly."""
    for message in reversed(messages):
        if isinstance(message, dict) and message.get("role") == "user":
            text = " ".join(_text_of(message.get("content")).split())
            if text:
                return f"You said: {text}"
    return "Hello from the retape demo model."


async def health(_: Request) -> Response:
    return Response(status_code=200)


async def list_models(_: Request) -> JSONResponse:
    model = {"id": MODEL_ID, "object": "model", "created": _STARTED, "owned_by": "retape"}
    return JSONResponse({"object": "list", "data": [model]})


async def chat_completions(request: Request) -> Response:
    return await _chat(request, request.app.state.variant)


async def _chat(request: Request, variant: str) -> Response:
    try:
        body = json.loads(await request.body())
    except ValueError as exc:
        return _error(f"Invalid JSON body: {exc}", 400)
    if not isinstance(body, dict) or not isinstance(body.get("messages"), list):
        return _error("Request body must be an object with a 'messages' list.", 400)
    model = body.get("model", MODEL_ID)
    if model != MODEL_ID:
        return _error(f"The model `{model}` does not exist.", 404, "NotFoundError")

    reply = worded(reply_for(body["messages"]), variant)
    completion_id = f"chatcmpl-{uuid.uuid4().hex}"
    created = int(time.time())
    if body.get("stream"):
        chunks = _stream_chunks(completion_id, created, reply, variant)
        return StreamingResponse(chunks, media_type="text/event-stream")

    prompt_tokens = sum(
        len(_text_of(m.get("content")).split()) for m in body["messages"] if isinstance(m, dict)
    )
    completion_tokens = len(reply.split())
    return JSONResponse(
        {
            "id": completion_id,
            "object": "chat.completion",
            "created": created,
            "model": MODEL_ID,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": reply},
                    "finish_reason": "stop",
                }
            ],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            },
        }
    )


async def _stream_chunks(
    completion_id: str, created: int, reply: str, variant: str
) -> AsyncIterator[str]:
    """SSE events: a role chunk, content chunks (a word each, or as the variant cuts
    them), a finish chunk, then [DONE]."""

    def chunk(delta: dict[str, str], finish_reason: str | None = None) -> str:
        choice = {"index": 0, "delta": delta, "finish_reason": finish_reason}
        payload = {
            "id": completion_id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": MODEL_ID,
            "choices": [choice],
        }
        return f"data: {json.dumps(payload)}\n\n"

    yield chunk({"role": "assistant", "content": ""})
    for piece in pieces(reply, variant):
        yield chunk({"content": piece})
    yield chunk({}, "stop")
    yield "data: [DONE]\n\n"


def create_app(variant: str, api_key: str | None) -> ASGIApp:
    """Build the demo app; like vLLM, auth middleware is only installed when a key is set."""
    if variant not in VARIANTS:
        raise ValueError(f"unknown variant {variant!r}; expected one of {VARIANTS}")
    # Installed via Starlette's middleware stack (as vLLM's `app.add_middleware` does): the
    # class has a sync `__call__`, which uvicorn would otherwise mistake for an ASGI2 app.
    store = Store(variant)
    middleware = []
    if api_key:
        middleware.append(
            Middleware(
                AuthenticationMiddleware,
                tokens=[api_key],
                variant=variant,
                ephemeral=store.is_ephemeral,
            )
        )
    state = routes(store)
    app = Starlette(
        routes=[
            Route("/health", health, methods=["GET"]),
            Route("/v1/models", list_models, methods=["GET"]),
            Route("/v1/chat/completions", chat_completions, methods=["POST"]),
            WebSocketRoute("/v1/realtime", realtime_endpoint_for(variant, api_key)),
            Route("/v1/responses", state["create_response"], methods=["POST"]),
            Route("/v1/responses/{ident}", state["get_response"], methods=["GET"]),
            Route("/v1/files", state["create_file"], methods=["POST"]),
            Route("/v1/files/{ident}", state["get_file"], methods=["GET"]),
            Route("/v1/files/{ident}", state["delete_file"], methods=["DELETE"]),
            Route("/v1/realtime/sessions", state["create_realtime_session"], methods=["POST"]),
            WebSocketRoute("/v1/realtime/sessions/{ident}/ws", state["ephemeral_realtime"]),
        ],
        middleware=middleware,
    )
    app.state.variant = variant
    return app
