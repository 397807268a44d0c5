"""The embedded demo target over real sockets: auth variants, OpenAI shapes, realtime events."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable

import httpx
import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import ClientConnection, connect

from demo.app import create_app
from tests.support import DEMO_TOKEN, PYTHON, demo_target, free_port, running, stop

TIMEOUT = 5.0
AUTH = {"Authorization": f"Bearer {DEMO_TOKEN}"}
CHAT = {"model": "demo-model", "messages": [{"role": "user", "content": "hello  world"}]}


def ws_url(base: str) -> str:
    return base.replace("http://", "ws://", 1) + "/v1/realtime"


def ws_connect(base: str, headers: dict[str, str] | None = None) -> ClientConnection:
    return connect(
        ws_url(base),
        additional_headers=headers or {},
        subprotocols=["realtime"],
        open_timeout=TIMEOUT,
        close_timeout=TIMEOUT,
    )


def recv_json(ws: ClientConnection) -> dict:
    return json.loads(ws.recv(timeout=TIMEOUT))


def ws_status(base: str, headers: dict[str, str] | None = None) -> InvalidStatus:
    with pytest.raises(InvalidStatus) as info:
        ws_connect(base, headers).close()
    return info.value


# --- auth matrix -------------------------------------------------------------------------------


def test_fixed_websocket_with_token_is_accepted(target: Callable[[str], str]) -> None:
    with ws_connect(target("fixed"), AUTH) as ws:
        assert ws.subprotocol == "realtime"
        event = recv_json(ws)
    assert event["type"] == "session.created"
    assert event["event_id"] and event["session"]["id"]


def test_fixed_websocket_without_token_is_401(target: Callable[[str], str]) -> None:
    err = ws_status(target("fixed"))
    assert err.response.status_code == 401
    assert json.loads(bytes(err.response.body)) == {"error": "Unauthorized"}


def test_fixed_websocket_with_wrong_token_is_401(target: Callable[[str], str]) -> None:
    err = ws_status(target("fixed"), {"Authorization": "Bearer nope"})
    assert err.response.status_code == 401


def test_regressed_websocket_with_token_is_500(target: Callable[[str], str]) -> None:
    """The reproduced vLLM bug: KeyError on scope["method"] becomes a 500 handshake rejection."""
    assert ws_status(target("regressed"), AUTH).response.status_code == 500


def test_open_websocket_accepts_without_token(target: Callable[[str], str]) -> None:
    with ws_connect(target("open-websocket")) as ws:
        assert recv_json(ws)["type"] == "session.created"


@pytest.mark.parametrize("variant", ["fixed", "regressed", "open-websocket"])
def test_http_auth(target: Callable[[str], str], variant: str) -> None:
    with httpx.Client(base_url=target(variant), timeout=TIMEOUT) as client:
        assert client.get("/health").status_code == 200
        assert client.get("/v1/models", headers=AUTH).status_code == 200
        denied = client.get("/v1/models")
        assert denied.status_code == 401
        assert denied.json() == {"error": "Unauthorized"}
        assert client.post("/v1/chat/completions", json=CHAT, headers=AUTH).status_code == 200
        assert client.post("/v1/chat/completions", json=CHAT).status_code == 401


# --- HTTP shapes -------------------------------------------------------------------------------


def test_health_is_empty_200(target: Callable[[str], str]) -> None:
    resp = httpx.get(target("fixed") + "/health", timeout=TIMEOUT)
    assert resp.status_code == 200
    assert resp.content == b""


def test_models_list(target: Callable[[str], str]) -> None:
    body = httpx.get(target("fixed") + "/v1/models", headers=AUTH, timeout=TIMEOUT).json()
    assert body["object"] == "list"
    [model] = body["data"]
    assert model["id"] == "demo-model" and model["owned_by"] == "retape"
    assert isinstance(model["created"], int)


def test_chat_completion_is_deterministic_with_fresh_ids(target: Callable[[str], str]) -> None:
    with httpx.Client(base_url=target("fixed"), headers=AUTH, timeout=TIMEOUT) as client:
        first = client.post("/v1/chat/completions", json=CHAT).json()
        second = client.post("/v1/chat/completions", json=CHAT).json()
    assert first["object"] == "chat.completion"
    assert first["id"].startswith("chatcmpl-") and first["id"] != second["id"]
    choice = first["choices"][0]
    assert choice["message"] == {"role": "assistant", "content": "You said: hello world"}
    assert choice["finish_reason"] == "stop"
    assert first["choices"] == second["choices"]
    usage = first["usage"]
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]


def test_chat_completion_stream_ends_with_done(target: Callable[[str], str]) -> None:
    url = target("fixed") + "/v1/chat/completions"
    body = {**CHAT, "stream": True}
    with httpx.stream("POST", url, json=body, headers=AUTH, timeout=TIMEOUT) as resp:
        assert resp.status_code == 200
        assert resp.headers["content-type"].startswith("text/event-stream")
        data = [line[6:] for line in resp.iter_lines() if line.startswith("data: ")]
    assert data[-1] == "[DONE]"
    chunks = [json.loads(d) for d in data[:-1]]
    assert len(chunks) > 2
    assert {c["object"] for c in chunks} == {"chat.completion.chunk"}
    assert len({c["id"] for c in chunks}) == 1
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks)
    assert text == "You said: hello world"
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"


def test_chat_completion_invalid_json_is_400(target: Callable[[str], str]) -> None:
    resp = httpx.post(
        target("fixed") + "/v1/chat/completions",
        content=b"{not json",
        headers={**AUTH, "Content-Type": "application/json"},
        timeout=TIMEOUT,
    )
    assert resp.status_code == 400
    assert resp.json()["code"] == 400


# --- realtime events ---------------------------------------------------------------------------


def test_realtime_conversation(target: Callable[[str], str]) -> None:
    with ws_connect(target("fixed"), AUTH) as ws:
        events = [recv_json(ws)]
        ws.send(json.dumps({"type": "session.update", "session": {"instructions": "be brief"}}))
        events.append(recv_json(ws))
        assert events[-1]["type"] == "session.updated"
        assert events[-1]["session"]["instructions"] == "be brief"

        for _ in range(2):  # appends produce no reply
            audio = base64.b64encode(b"\x00" * 160).decode()
            ws.send(json.dumps({"type": "input_audio_buffer.append", "audio": audio}))
        ws.send(json.dumps({"type": "input_audio_buffer.commit"}))
        committed, transcribed = recv_json(ws), recv_json(ws)
        assert committed["type"] == "input_audio_buffer.committed"
        assert transcribed["type"] == "conversation.item.input_audio_transcription.completed"
        assert transcribed["transcript"] == "heard 320 bytes"
        assert transcribed["item_id"] == committed["item_id"]

        ws.send(json.dumps({"type": "response.create"}))
        created = recv_json(ws)
        assert created["type"] == "response.created"
        deltas = []
        while (event := recv_json(ws))["type"] == "response.text.delta":
            deltas.append(event["delta"])
        assert event["type"] == "response.done"
        assert "".join(deltas) == "You said: heard 320 bytes"

        ws.send(json.dumps({"type": "no.such.event"}))
        error = recv_json(ws)
        assert error["type"] == "error"
        events += [committed, transcribed, created, event, error]
    assert len({e["event_id"] for e in events}) == len(events)


# --- process & in-process API ------------------------------------------------------------------


def test_custom_key_env_and_clean_sigterm() -> None:
    """--api-key-env picks the variable; the key never appears in argv; SIGTERM exits 0."""
    port = free_port()
    args = [PYTHON, "-m", "demo", "--variant", "fixed", "--port", str(port)]
    args += ["--api-key-env", "DEMO_ALT_KEY"]
    env = {"DEMO_ALT_KEY": "alt-key", "RETAPE_DEMO_API_KEY": ""}
    with running(args, port=port, env=env) as proc:
        base = f"http://127.0.0.1:{port}"
        alt = {"Authorization": "Bearer alt-key"}
        assert httpx.get(base + "/v1/models", headers=alt, timeout=TIMEOUT).status_code == 200
        assert httpx.get(base + "/v1/models", headers=AUTH, timeout=TIMEOUT).status_code == 401
        assert stop(proc) == 0


def test_no_key_means_auth_off() -> None:
    """Like vLLM, the middleware (and so the regression) is only present when a key is set."""
    with demo_target("regressed", token=None) as base:
        assert httpx.get(base + "/v1/models", timeout=TIMEOUT).status_code == 200
        with ws_connect(base) as ws:
            assert recv_json(ws)["type"] == "session.created"


def test_create_app_rejects_unknown_variant() -> None:
    with pytest.raises(ValueError, match="unknown variant"):
        create_app("nope", None)


def test_key_is_not_an_argv_option() -> None:
    from demo.__main__ import parse_args

    assert "api_key" not in vars(parse_args([]))
    assert parse_args([]).api_key_env == "RETAPE_DEMO_API_KEY"
