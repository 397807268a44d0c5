"""Real client traffic against the demo target, as a user of an OpenAI-style server makes it.

Used to record the shipped cassettes (scripts/record_sessions.py) and by the end-to-end
tests. ``base`` is ``host:port`` of whatever sits in front of the target (the recorder).
"""

from __future__ import annotations

import base64
import json

import httpx
from websockets.exceptions import InvalidStatus
from websockets.sync.client import ClientConnection, connect

TIMEOUT = 10.0


def expect(ws: ClientConnection, kind: str) -> dict:
    """The next server event, which must be of ``kind``."""
    event = json.loads(ws.recv(timeout=TIMEOUT))
    assert event["type"] == kind, event
    return event


def chat_session(base: str, token: str) -> None:
    auth = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=f"http://{base}", timeout=TIMEOUT) as client:
        client.get("/health").raise_for_status()
        client.get("/v1/models", headers=auth).raise_for_status()
        ask = {"model": "demo-model", "messages": [{"role": "user", "content": "Say hello"}]}
        client.post("/v1/chat/completions", json=ask, headers=auth).raise_for_status()
        with client.stream(
            "POST", "/v1/chat/completions", json={**ask, "stream": True}, headers=auth
        ) as stream:
            events = [line for line in stream.iter_lines() if line.startswith("data:")]
        assert events[-1] == "data: [DONE]", events[-1]
        refused = client.get("/v1/models")  # no key: the server must refuse
        assert refused.status_code == 401, refused.status_code


def realtime_session(base: str, token: str) -> None:
    url = f"ws://{base}/v1/realtime"
    with connect(
        url,
        additional_headers={"Authorization": f"Bearer {token}"},
        subprotocols=["realtime"],
        open_timeout=TIMEOUT,
        close_timeout=TIMEOUT,
    ) as ws:
        expect(ws, "session.created")
        ws.send(json.dumps({"type": "session.update", "session": {"modalities": ["text"]}}))
        expect(ws, "session.updated")
        audio = base64.b64encode(bytes(160)).decode()
        for _ in range(2):
            ws.send(json.dumps({"type": "input_audio_buffer.append", "audio": audio}))
        ws.send(json.dumps({"type": "input_audio_buffer.commit"}))
        expect(ws, "input_audio_buffer.committed")
        expect(ws, "conversation.item.input_audio_transcription.completed")
        ws.send(json.dumps({"type": "response.create"}))
        expect(ws, "response.created")
        while json.loads(ws.recv(timeout=TIMEOUT))["type"] != "response.done":
            pass
    try:  # the same handshake without a key must be refused, and that is recorded too
        with connect(url, subprotocols=["realtime"], open_timeout=TIMEOUT):
            raise SystemExit("unauthenticated realtime handshake was accepted")
    except InvalidStatus as exc:
        assert exc.response.status_code == 401, exc.response.status_code


def stateful_session(base: str, token: str) -> None:
    """The stateful OpenAI shapes, as an SDK user drives them: a Responses chain, a file
    uploaded then read back and deleted, and a realtime session opened with the
    ephemeral key ``POST /v1/realtime/sessions`` minted, in which the client deletes an
    item by the id the server gave it."""
    from openai import OpenAI

    sdk = OpenAI(api_key=token, base_url=f"http://{base}/v1", timeout=TIMEOUT, max_retries=0)
    first = sdk.responses.create(model="demo-model", input="Say hello")
    second = sdk.responses.create(
        model="demo-model", input="Say it again", previous_response_id=first.id
    )
    assert sdk.responses.retrieve(second.id).previous_response_id == first.id
    uploaded = sdk.files.create(file=("notes.txt", b"hello from retape\n"), purpose="assistants")
    assert sdk.files.retrieve(uploaded.id).id == uploaded.id
    assert sdk.files.delete(uploaded.id).deleted
    auth = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=f"http://{base}", timeout=TIMEOUT) as client:
        minted = client.post("/v1/realtime/sessions", json={"model": "demo-model"}, headers=auth)
        minted.raise_for_status()
    session = minted.json()
    key = session["client_secret"]["value"]
    with connect(
        f"ws://{base}/v1/realtime/sessions/{session['id']}/ws",
        additional_headers={"Authorization": f"Bearer {key}"},  # the minted key, not the API key
        open_timeout=TIMEOUT,
        close_timeout=TIMEOUT,
    ) as ws:
        expect(ws, "session.created")
        item = {
            "type": "message",
            "role": "user",
            "content": [{"type": "input_text", "text": "hi"}],
        }
        ws.send(json.dumps({"type": "conversation.item.create", "item": item}))
        item_id = expect(ws, "conversation.item.created")["item"]["id"]
        ws.send(
            json.dumps(
                {"type": "conversation.item.truncate", "item_id": item_id, "content_index": 0}
            )
        )
        expect(ws, "conversation.item.truncated")
        ws.send(json.dumps({"type": "conversation.item.delete", "item_id": item_id}))
        expect(ws, "conversation.item.deleted")
