"""Real clients against ``retape serve`` see what they saw against the recorded server.

The OpenAI SDK (a chat completion, a streamed chat, a realtime websocket session),
httpx and websockets are run once through ``retape record`` in front of the demo
target and once against ``retape serve`` of that recording; every status, body,
streamed event and websocket message must be the same. Then the mock's refusals: a
request that matches nothing gets a 404 naming the closest interaction, and the
summary on SIGTERM lists it (exit 1 with --strict).
"""

from __future__ import annotations

import contextlib
import signal
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from demo.processes import recording
from retape.cassette import load_cassette
from retape.cassette.model import header_value
from tests.observe_clients import observe
from tests.support import DEMO_TOKEN, demo_target, free_port, output_of, running, stop


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    """A cassette of the clients recorded against the demo target, and what they saw."""
    out = tmp_path_factory.mktemp("serve") / "clients.yaml"
    with demo_target("fixed") as upstream, recording(upstream, out) as base:
        seen = observe(base, DEMO_TOKEN)
    return out, seen


@contextlib.contextmanager
def serving(*args: str) -> Iterator[tuple[str, object]]:
    port = free_port()
    command = [sys.executable, "-m", "retape", "serve", *args, "--listen", f"127.0.0.1:{port}"]
    with running(command, port=port) as proc:
        yield f"127.0.0.1:{port}", proc


def test_clients_see_against_the_mock_exactly_what_they_saw_recorded(recorded) -> None:
    cassette, live = recorded
    with serving(str(cassette)) as (base, proc):
        mocked = observe(base, DEMO_TOKEN)
    assert mocked["sdk"] == live["sdk"]
    assert mocked["sdk realtime"] == live["sdk realtime"]
    assert mocked["httpx"] == live["httpx"]
    assert mocked["websockets"] == live["websockets"]
    # the observation is not trivially equal: it holds the streamed events and messages
    assert len(live["sdk"]["stream"]) >= 4
    assert live["sdk"]["wrong key"][0] == 401
    assert live["httpx"]["no key"][0] == 401
    assert live["websockets"]["no key"][0] == 401
    assert live["sdk realtime"][-1]["type"] == "response.done"
    assert "0 unmatched request(s), 0 unused" in proc.final_output


def test_unmatched_request_gets_404_naming_the_closest_and_why(recorded) -> None:
    cassette, _ = recorded
    with serving(str(cassette), "--strict") as (base, proc):
        ask = {"model": "demo-model", "messages": [{"role": "user", "content": "Say bye"}]}
        auth = {"Authorization": f"Bearer {DEMO_TOKEN}"}
        miss = httpx.post(f"http://{base}/v1/chat/completions", json=ask, headers=auth)
        unknown = httpx.get(f"http://{base}/v2/nothing")
        with pytest.raises(InvalidStatus) as refused:
            connect(f"ws://{base}/v1/elsewhere", open_timeout=5).close()
        code = stop(proc, sig=signal.SIGTERM)
        summary = output_of(proc)
    assert miss.status_code == 404
    document = miss.json()
    assert document["closest"].endswith("POST /v1/chat/completions")
    assert document["differs"] == ["body $.messages[0].content: 'Say bye', recorded 'Say hello'"]
    assert unknown.status_code == 404 and "path /v2/nothing" in unknown.json()["differs"][0]
    assert refused.value.response.status_code == 404
    assert code == 1  # --strict: unmatched requests and unused interactions
    assert "3 unmatched request(s)" in summary
    assert "unmatched  POST /v1/chat/completions" in summary
    assert "unused     clients.yaml#1 GET /v1/models" in summary


def test_without_strict_the_summary_still_exits_0(recorded) -> None:
    cassette, _ = recorded
    with serving(str(cassette)) as (base, proc):
        assert httpx.get(f"http://{base}/nothing").status_code == 404
        assert stop(proc, sig=signal.SIGINT) == 0
        assert "1 unmatched request(s)" in output_of(proc)


def test_a_request_without_a_key_gets_the_recorded_401_and_with_one_the_200(recorded) -> None:
    cassette, _ = recorded
    with serving(str(cassette), "--speed", "0") as (base, _):
        refused = httpx.get(f"http://{base}/v1/models")
        allowed = httpx.get(f"http://{base}/v1/models", headers={"Authorization": "Bearer x"})
    assert refused.status_code == 401
    assert allowed.status_code == 200
    assert allowed.json()["data"][0]["id"] == "demo-model"


def test_stream_arrives_event_by_event_at_the_recorded_pace_scaled(recorded) -> None:
    """The cassette keeps a stream's duration; --speed 0.02 plays it 50 times slower."""
    cassette, _ = recorded
    streamed = next(
        i for i in load_cassette(cassette).interactions
        if "event-stream" in (header_value(i.response.headers, "content-type") or "")
    )  # fmt: skip
    events = str(streamed.response.body.value).count("\n\n")
    expected = streamed.duration / 0.02 * (events - 1) / (events + 1)
    with serving(str(cassette), "--speed", "0.02") as (base, _):
        auth = {"Authorization": f"Bearer {DEMO_TOKEN}"}
        body = {"model": "demo-model", "messages": [{"role": "user", "content": "Say hello"}]}
        arrivals = []
        with httpx.stream(
            "POST", f"http://{base}/v1/chat/completions", json={**body, "stream": True},
            headers=auth, timeout=60,
        ) as stream:  # fmt: skip
            for line in stream.iter_lines():
                if line:
                    arrivals.append(time.monotonic())
    assert len(arrivals) == events
    assert arrivals[-1] - arrivals[0] >= 0.8 * expected
