"""Synthetic cassettes written by the real dumper and writer.

Chat-completion-like HTTP interactions (JSON bodies both ways, the odd SSE stream and
``GET /v1/models``) and realtime-like websocket sessions, deterministic for a given
size and seed so every run measures the same bytes.
"""

from __future__ import annotations

import random
import time
from pathlib import Path

from retape.cassette.model import Body, Close, Interaction, Message, Recording, Request, Response
from retape.cassette.writer import CassetteWriter

# Bump when the generated content changes, so cached cassettes are rebuilt.
GENERATOR_VERSION = 3

_TEXT = (
    "the model replied with a short answer about caching, retries and the latency of "
    "websocket sessions under load while the benchmark kept counting requests per second"
)
_WORDS = _TEXT.split()


def _sentence(rng: random.Random, low: int, high: int) -> str:
    return " ".join(rng.choice(_WORDS) for _ in range(rng.randint(low, high))).capitalize() + "."


def _json_headers(length: int, *, auth: bool) -> list[tuple[str, str]]:
    headers = [
        ("host", "staging.internal:8000"),
        ("user-agent", "OpenAI/Python 1.51.0"),
        ("accept", "application/json"),
        ("content-type", "application/json"),
        ("content-length", str(length)),
    ]
    if auth:
        headers.insert(1, ("authorization", "Bearer <redacted:1>"))
    return headers


def chat_interaction(rng: random.Random, at: float) -> Interaction:
    question = _sentence(rng, 4, 14)
    answer = _sentence(rng, 8, 30)
    request_json = {
        "model": "demo-model",
        "messages": [
            {"role": "system", "content": "You are a terse assistant."},
            {"role": "user", "content": question},
        ],
        "temperature": round(rng.random(), 2),
        "max_tokens": 256,
        "stream": False,
    }
    response_json = {
        "id": f"chatcmpl-{rng.getrandbits(64):016x}",
        "object": "chat.completion",
        "created": 1764000000 + int(at),
        "model": "demo-model",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": answer},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 21, "completion_tokens": 34, "total_tokens": 55},
    }
    request_body = Body("json", request_json)
    response_body = Body("json", response_json)
    return Interaction(
        id=0,
        type="http",
        request=Request(
            "POST",
            "/v1/chat/completions",
            _json_headers(len(request_body.to_bytes()), auth=True),
            request_body,
            ["authorization"],
        ),
        response=Response(
            200,
            [
                ("date", "Tue, 25 Nov 2026 15:02:11 GMT"),
                ("server", "uvicorn"),
                ("content-length", str(len(response_body.to_bytes()))),
                ("content-type", "application/json"),
            ],
            response_body,
            "OK",
        ),
        at=at,
        duration=round(0.002 + rng.random() / 100, 6),
    )


def models_interaction(rng: random.Random, at: float) -> Interaction:
    body = Body(
        "json",
        {"object": "list", "data": [{"id": "demo-model", "object": "model", "owned_by": "x"}]},
    )
    return Interaction(
        id=0,
        type="http",
        request=Request("GET", "/v1/models", [("host", "staging.internal:8000")]),
        response=Response(200, [("content-type", "application/json")], body, "OK"),
        at=at,
        duration=0.001,
    )


def stream_interaction(rng: random.Random, at: float) -> Interaction:
    words = _sentence(rng, 5, 12).split()
    events = "".join(f'data: {{"choices":[{{"delta":{{"content":"{w} "}}}}]}}\n\n' for w in words)
    body = Body("json", {"model": "demo-model", "stream": True, "messages": []})
    return Interaction(
        id=0,
        type="http",
        request=Request(
            "POST",
            "/v1/chat/completions?stream=1",
            _json_headers(len(body.to_bytes()), auth=True),
            body,
            ["authorization"],
        ),
        response=Response(
            200,
            [("content-type", "text/event-stream")],
            Body("text", events + "data: [DONE]\n\n"),
            "OK",
        ),
        at=at,
        duration=0.01,
    )


def websocket_interaction(rng: random.Random, at: float, messages: int) -> Interaction:
    """A realtime-like session: each client event is answered by one server event."""
    recorded: list[Message] = []
    clock = 0.0
    for number in range(messages // 2):
        clock += 0.001
        event = {
            "type": "conversation.item.create",
            "event_id": f"evt_{number}",
            "item": {"type": "message", "content": _sentence(rng, 3, 10)},
        }
        recorded.append(Message("client", round(clock, 6), "json", event))
        clock += 0.001
        recorded.append(Message("server", round(clock, 6), "json", event))
    return Interaction(
        id=0,
        type="websocket",
        request=Request(
            "GET",
            "/v1/realtime",
            [
                ("host", "staging.internal:8000"),
                ("authorization", "Bearer <redacted:1>"),
                ("upgrade", "websocket"),
                ("connection", "Upgrade"),
                ("sec-websocket-version", "13"),
            ],
            credentials=["authorization"],
        ),
        response=Response(101, [("upgrade", "websocket"), ("connection", "Upgrade")]),
        at=at,
        duration=clock,
        messages=recorded,
        close=Close(1000, "", "client"),
    )


def mixed_interaction(rng: random.Random, index: int, at: float) -> Interaction:
    """Mostly chat completions; every 10th a websocket session, one in 25 models, one in 40 SSE."""
    if index % 10 == 9:
        return websocket_interaction(rng, at, messages=10)
    if index % 25 == 12:
        return models_interaction(rng, at)
    if index % 40 == 21:
        return stream_interaction(rng, at)
    return chat_interaction(rng, at)


def write_cassette(
    path: Path, count: int, *, kind: str = "mixed", seed: int = 7, ws_messages: int = 100
) -> dict[str, float]:
    """Write ``count`` interactions through :class:`CassetteWriter`; return append timings.

    ``kind`` is ``mixed`` (the realistic blend), ``http`` (chat completions only) or
    ``websocket`` (sessions of ``ws_messages`` messages each).
    """
    rng = random.Random(seed)
    path.unlink(missing_ok=True)
    recording = Recording("2026-11-25T15:02:11+00:00", "0.1.0", "11.0.2", "http://staging:8000")
    writer = CassetteWriter(path, recording)
    first: list[float] = []
    last: list[float] = []
    window = max(1, min(200, count // 10))
    started = time.perf_counter()
    try:
        for index in range(count):
            at = index * 0.01
            if kind == "http":
                interaction = chat_interaction(rng, at)
            elif kind == "websocket":
                interaction = websocket_interaction(rng, at, ws_messages)
            else:
                interaction = mixed_interaction(rng, index, at)
            before = time.perf_counter()
            writer.append(interaction)
            spent = time.perf_counter() - before
            if index < window:
                first.append(spent)
            elif index >= count - window:
                last.append(spent)
    finally:
        writer.close()
    return {
        "seconds": time.perf_counter() - started,
        "append_first_us": _median(first) * 1e6,
        "append_last_us": _median(last or first) * 1e6,
        "bytes": path.stat().st_size,
    }


def _median(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[len(ordered) // 2] if ordered else 0.0
