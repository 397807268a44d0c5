"""What real clients see of a server: the OpenAI SDK, httpx and websockets, side by side.

:func:`observe` drives a server the way the SDK's users do (a chat completion, a
streamed chat, a realtime websocket session) plus plain httpx and websockets calls,
including the refusals a request without a key gets, and returns everything the
clients saw: statuses, bodies, each streamed event, each websocket message. Run once
against the recorded server and once against ``retape serve`` of its recording, the
two observations must be equal.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import httpx
import openai
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

TIMEOUT = 10.0
ASK = [{"role": "user", "content": "Say hello"}]


def _sdk(base: str, token: str) -> openai.OpenAI:
    return openai.OpenAI(
        api_key=token,
        base_url=f"http://{base}/v1",
        websocket_base_url=f"ws://{base}/v1",
        max_retries=0,
        timeout=TIMEOUT,
    )


def _sdk_calls(base: str, token: str) -> dict[str, Any]:
    client = _sdk(base, token)
    seen: dict[str, Any] = {}
    models = client.models.with_raw_response.list()
    seen["models"] = (models.status_code, models.parse().model_dump())
    chat = client.chat.completions.with_raw_response.create(model="demo-model", messages=ASK)
    seen["chat"] = (chat.status_code, chat.parse().model_dump())
    stream = client.chat.completions.create(model="demo-model", messages=ASK, stream=True)
    seen["stream"] = [chunk.model_dump() for chunk in stream]
    try:
        _sdk(base, "sk-wrong-but-present").models.list()
        seen["wrong key"] = "accepted"
    except openai.AuthenticationError as exc:
        seen["wrong key"] = (exc.status_code, exc.body)
    return seen


def _sdk_realtime(base: str, token: str) -> list[Any]:
    client = _sdk(base, token)
    events = []
    realtime = getattr(client, "realtime", None) or client.beta.realtime  # GA, else beta
    with realtime.connect(model="demo-model") as conn:

        def recv() -> dict[str, Any]:
            event = json.loads(conn.recv_bytes())
            events.append(event)
            return event

        recv()  # session.created
        conn.session.update(session={"modalities": ["text"]})
        recv()
        audio = base64.b64encode(bytes(160)).decode()
        conn.input_audio_buffer.append(audio=audio)
        conn.input_audio_buffer.commit()
        recv()
        recv()
        conn.response.create()
        for _ in range(50):
            if recv()["type"] == "response.done":
                break
    return events


def _httpx_calls(base: str, token: str) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    with httpx.Client(base_url=f"http://{base}", timeout=TIMEOUT) as client:
        health = client.get("/health")
        seen["health"] = (health.status_code, health.content)
        refused = client.get("/v1/models")
        seen["no key"] = (refused.status_code, refused.json())
        auth = {"Authorization": f"Bearer {token}"}
        body = {"model": "demo-model", "messages": ASK, "stream": True}
        with client.stream("POST", "/v1/chat/completions", json=body, headers=auth) as stream:
            seen["raw stream"] = (
                stream.status_code,
                stream.headers.get("content-type"),
                [line for line in stream.iter_lines() if line],
            )
    return seen


def _websockets_session(base: str, token: str) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    url = f"ws://{base}/v1/realtime"
    with connect(
        url,
        additional_headers={"Authorization": f"Bearer {token}"},
        subprotocols=["realtime"],
        open_timeout=TIMEOUT,
    ) as ws:
        received = [json.loads(ws.recv(timeout=TIMEOUT))]
        ws.send(json.dumps({"type": "session.update", "session": {"modalities": ["text"]}}))
        received.append(json.loads(ws.recv(timeout=TIMEOUT)))
        ws.send(json.dumps({"type": "response.create"}))
        for _ in range(50):
            received.append(json.loads(ws.recv(timeout=TIMEOUT)))
            if received[-1]["type"] == "response.done":
                break
        seen["subprotocol"] = ws.subprotocol
    seen["messages"] = received
    try:
        with connect(url, subprotocols=["realtime"], open_timeout=TIMEOUT):
            seen["no key"] = "accepted"
    except InvalidStatus as exc:
        seen["no key"] = (exc.response.status_code, exc.response.body)
    return seen


def observe(base: str, token: str) -> dict[str, Any]:
    """Everything the clients saw of the server at ``base`` (``host:port``)."""
    return {
        "sdk": _sdk_calls(base, token),
        "sdk realtime": _sdk_realtime(base, token),
        "httpx": _httpx_calls(base, token),
        "websockets": _websockets_session(base, token),
    }
