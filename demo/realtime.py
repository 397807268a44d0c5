"""WebSocket `/v1/realtime`: a deterministic stand-in for OpenAI-style realtime events."""

import base64
import binascii
import json
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.datastructures import Headers
from starlette.websockets import WebSocket, WebSocketDisconnect

from demo.answers import pieces, worded
from demo.auth import token_hashes, verify_bearer

SESSION_DEFAULTS: dict[str, Any] = {
    "object": "realtime.session",
    "model": "demo-model",
    "modalities": ["text"],
    "input_audio_format": "pcm16",
}


def _new_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:20]}"


class RealtimeSession:
    """Per-connection state: session config, buffered audio size, last transcript."""

    def __init__(self, websocket: WebSocket, variant: str = "fixed") -> None:
        self.ws = websocket
        self.variant = variant
        self.session: dict[str, Any] = {"id": _new_id("sess"), **SESSION_DEFAULTS}
        self.audio_bytes = 0
        self.transcript = ""
        self.items: dict[str, dict[str, Any]] = {}  # conversation items, by the id minted here

    async def emit(self, event_type: str, **fields: Any) -> None:
        """Send a server event; every event gets a fresh event_id."""
        event = {"type": event_type, "event_id": _new_id("event"), **fields}
        await self.ws.send_text(json.dumps(event))

    async def error(self, message: str, event_id: Any = None) -> None:
        err = {"type": "invalid_request_error", "message": message, "event_id": event_id}
        await self.emit("error", error=err)

    async def handle(self, event: dict[str, Any]) -> None:
        kind = event.get("type")
        if kind == "session.update":
            update = event.get("session")
            if isinstance(update, dict):
                self.session.update({k: v for k, v in update.items() if k != "id"})
            await self.emit("session.updated", session=self.session)
        elif kind == "input_audio_buffer.append":
            try:
                self.audio_bytes += len(base64.b64decode(event.get("audio", ""), validate=True))
            except (binascii.Error, TypeError, ValueError):
                await self.error("audio must be base64", event.get("event_id"))
        elif kind == "input_audio_buffer.commit":
            await self._commit()
        elif kind == "response.create":
            await self._respond()
        elif kind == "conversation.item.create":
            await self._create_item(event.get("item"))
        elif kind in ("conversation.item.delete", "conversation.item.truncate"):
            await self._change_item(kind, event)
        else:
            await self.error(f"unknown event type {kind!r}", event.get("event_id"))

    async def _create_item(self, item: Any) -> None:
        """A client item gets an id minted here; the client refers to it by that id."""
        item = dict(item) if isinstance(item, dict) else {}
        item["id"] = _new_id("item")
        self.items[item["id"]] = item
        await self.emit("conversation.item.created", previous_item_id=None, item=item)

    async def _change_item(self, kind: str, event: dict[str, Any]) -> None:
        item_id = event.get("item_id")
        if item_id not in self.items:
            await self.error(f"no item with id {item_id!r}", event.get("event_id"))
        elif kind == "conversation.item.delete":
            del self.items[item_id]
            await self.emit("conversation.item.deleted", item_id=item_id)
        else:
            index = event.get("content_index", 0)
            await self.emit("conversation.item.truncated", item_id=item_id, content_index=index)

    async def _commit(self) -> None:
        item_id = _new_id("item")
        await self.emit("input_audio_buffer.committed", previous_item_id=None, item_id=item_id)
        self.transcript = f"heard {self.audio_bytes} bytes"
        self.audio_bytes = 0
        await self.emit(
            "conversation.item.input_audio_transcription.completed",
            item_id=item_id,
            content_index=0,
            transcript=self.transcript,
        )

    async def _respond(self) -> None:
        response_id = _new_id("resp")
        text = f"You said: {self.transcript}" if self.transcript else "Hello from demo-model."
        text = worded(text, self.variant)
        base = {"id": response_id, "object": "realtime.response"}
        await self.emit("response.created", response={**base, "status": "in_progress"})
        for delta in pieces(text, self.variant):
            await self.emit("response.text.delta", response_id=response_id, delta=delta)
        done = {**base, "status": "completed", "output_text": text}
        await self.emit("response.done", response=done)


def realtime_endpoint_for(
    variant: str, api_key: str | None
) -> Callable[[WebSocket], Awaitable[None]]:
    """The realtime endpoint of ``variant`` (see demo/auth.py for what each one does)."""
    hashes = token_hashes([api_key]) if api_key else []

    async def endpoint(websocket: WebSocket) -> None:
        await serve_realtime(websocket, variant, hashes)

    return endpoint


async def serve_realtime(websocket: WebSocket, variant: str, hashes: list[bytes]) -> None:
    """Accept (echoing the first offered subprotocol) and serve events until disconnect."""
    offered = websocket.scope.get("subprotocols") or []
    await websocket.accept(subprotocol=offered[0] if offered else None)
    checks_key = variant == "auth-after-handshake" and hashes
    if checks_key and not verify_bearer(Headers(scope=websocket.scope), hashes):
        await websocket.close(code=1008, reason="unauthorized")
        return
    state = RealtimeSession(websocket, variant)
    await state.emit("session.created", session=state.session)
    try:
        while True:
            raw = await websocket.receive_text()
            if variant == "drops-session":  # the regression: the session dies on first use
                await websocket.close(code=1011, reason="internal error")
                return
            try:
                event = json.loads(raw)
            except ValueError:
                await state.error("event must be JSON")
                continue
            if not isinstance(event, dict):
                await state.error("event must be a JSON object")
                continue
            await state.handle(event)
    except WebSocketDisconnect:
        return
