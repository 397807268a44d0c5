"""The stateful OpenAI shapes: each later request carries something an earlier one minted.

- ``POST /v1/responses`` (the Responses API): a chain, each turn naming the one before it
  in ``previous_response_id``; ``GET /v1/responses/{id}`` reads one back. An unknown id
  is a 404, as upstream: a replay that sends the recorded id to a fresh server fails.
- ``POST /v1/files`` (any body, multipart as the SDK sends it): a file object with an
  id and a ``Location``; ``GET`` and ``DELETE /v1/files/{id}``.
- ``POST /v1/realtime/sessions``: mints an ephemeral ``client_secret`` whose value is the
  only key ``/v1/realtime/sessions/{id}/ws`` accepts (the API key is refused there).

State lives in one process (:class:`Store`), so a fresh server knows none of the
recorded ids. The ``regressed`` variant also breaks the chain: a turn with a
``previous_response_id`` answers 500.
"""

from __future__ import annotations

import json
import secrets
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.websockets import WebSocket

MODEL_ID = "demo-model"


def _id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:24]}"


@dataclass
class Store:
    """Everything this server minted: responses, files, ephemeral realtime keys."""

    variant: str = "fixed"
    responses: dict[str, dict[str, Any]] = field(default_factory=dict)
    files: dict[str, dict[str, Any]] = field(default_factory=dict)
    ephemeral: dict[str, str] = field(default_factory=dict)  # session id -> its key

    def is_ephemeral(self, key: str) -> bool:
        return key in self.ephemeral.values()


def _not_found(what: str, ident: str) -> JSONResponse:
    error = {"message": f"No {what} found with id '{ident}'.", "type": "invalid_request_error"}
    return JSONResponse({"error": error}, status_code=404)


def _text_of(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return " ".join(_text_of(v.get("content", "")) for v in value if isinstance(v, dict))
    return ""


def routes(store: Store) -> dict[str, Any]:
    """The handlers, bound to ``store``; ``demo.app`` mounts them."""

    async def create_response(request: Request) -> Response:
        body = json.loads(await request.body() or b"{}")
        previous = body.get("previous_response_id")
        if previous is not None:
            if store.variant == "regressed":  # the chain is what this build broke
                error = {"message": "Internal server error", "type": "server_error"}
                return JSONResponse({"error": error}, status_code=500)
            if previous not in store.responses:
                return _not_found("response", previous)
        said = _text_of(body.get("input"))
        turns = 1 + (store.responses[previous]["turns"] if previous else 0)
        text = f"You said: {said} (turn {turns})"
        response = {
            "id": _id("resp"),
            "object": "response",
            "created_at": int(time.time()),
            "status": "completed",
            "model": MODEL_ID,
            "previous_response_id": previous,
            "output": [
                {
                    "id": _id("msg"),
                    "type": "message",
                    "role": "assistant",
                    "status": "completed",
                    "content": [{"type": "output_text", "text": text, "annotations": []}],
                }
            ],
            "usage": {"input_tokens": len(said.split()), "output_tokens": len(text.split())},
            "turns": turns,
        }
        store.responses[response["id"]] = response
        return JSONResponse(response)

    async def get_response(request: Request) -> Response:
        ident = request.path_params["ident"]
        found = store.responses.get(ident)
        return JSONResponse(found) if found else _not_found("response", ident)

    async def create_file(request: Request) -> Response:
        data = await request.body()
        ident = _id("file")
        store.files[ident] = {
            "id": ident,
            "object": "file",
            "bytes": len(data),
            "created_at": int(time.time()),
            "filename": "upload",
            "purpose": "assistants",
        }
        return JSONResponse(store.files[ident], headers={"Location": f"/v1/files/{ident}"})

    async def get_file(request: Request) -> Response:
        ident = request.path_params["ident"]
        found = store.files.get(ident)
        return JSONResponse(found) if found else _not_found("file", ident)

    async def delete_file(request: Request) -> Response:
        ident = request.path_params["ident"]
        if store.files.pop(ident, None) is None:
            return _not_found("file", ident)
        return JSONResponse({"id": ident, "object": "file", "deleted": True})

    async def create_realtime_session(request: Request) -> Response:
        ident = _id("sess")
        key = "ek_" + secrets.token_urlsafe(24)
        store.ephemeral[ident] = key
        session = {
            "id": ident,
            "object": "realtime.session",
            "model": MODEL_ID,
            "modalities": ["text"],
            "client_secret": {"value": key, "expires_at": int(time.time()) + 60},
        }
        return JSONResponse(session)

    async def ephemeral_realtime(websocket: WebSocket) -> None:
        """The realtime session the key was minted for: that key and no other."""
        from demo.realtime import serve_realtime

        ident = websocket.path_params["ident"]
        scheme, _, key = websocket.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or store.ephemeral.get(ident) != key:
            await websocket.close(code=4001, reason="this session needs its ephemeral key")
            return
        await serve_realtime(websocket, store.variant, [])  # the key was checked above

    return {
        "create_response": create_response,
        "get_response": get_response,
        "create_file": create_file,
        "get_file": get_file,
        "delete_file": delete_file,
        "create_realtime_session": create_realtime_session,
        "ephemeral_realtime": ephemeral_realtime,
    }
