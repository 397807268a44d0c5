"""Issue 4's bar, end to end: secrets planted in a real recorded session never reach disk."""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from websockets.sync.client import connect

from demo.processes import free_port, recording, running
from retape.cassette import load_cassette
from tests.support import retape

TOKEN = "tok-live-7f3a9c2e4b1d8f6a0c5e"  # the bearer key the client sends
ISSUED = "srv-issued-91b2c3d4e5f6a7b8c9d0"  # what the server hands out
QUERY_KEY = "qk-4d5e6f7a8b9c0d1e2f3a"  # a key only ever sent in a query string
PASSWORD = "correct horse battery staple"  # only ever sent in a form body
WS_PASSWORD = "ws-pass-5a6b7c8d9e0f"  # only ever sent inside a websocket message
PASTED = "ghp_" + "Z9y8X7w6V5u4T3s2R1q0P9o8N7m6L5k4J3i2"  # a GitHub token pasted in chat
SECRETS = [TOKEN, ISSUED, ISSUED[::-1], QUERY_KEY, PASSWORD, WS_PASSWORD, PASTED]
ENV = {"LEAKY_TOKEN": TOKEN, "LEAKY_ISSUED": ISSUED}


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    port = free_port()
    with running([sys.executable, "-m", "tests.apps.leaky", str(port)], port=port, env=ENV):
        yield f"http://127.0.0.1:{port}"


def drive(base: str) -> None:
    """A client session that puts secrets everywhere: headers, query, form, ws messages."""
    auth = {"Authorization": f"Bearer {TOKEN}"}
    with httpx.Client(base_url=f"http://{base}", timeout=10) as client:
        login = client.post("/login", data={"user": "ann", "password": PASSWORD})
        assert login.json()["access_token"] == ISSUED
        client.get("/profile", params={"api_key": QUERY_KEY, "view": "full"}, headers=auth)
        assert ISSUED in client.get("/events").text
    with connect(f"ws://{base}/ws", additional_headers=auth, open_timeout=10) as ws:
        assert json.loads(ws.recv(timeout=10))["session_token"] == ISSUED
        ws.send(json.dumps({"type": "login", "credentials": {"password": WS_PASSWORD}}))
        ws.recv(timeout=10)
        ws.send(f"here is my token {PASTED} please keep it safe")
        ws.recv(timeout=10)


@pytest.fixture(scope="module")
def cassette(server: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("secrets") / "leaky.yaml"
    with recording(server, out) as base:
        drive(base)
    return out


def test_no_planted_secret_reaches_the_cassette(cassette: Path) -> None:
    text = cassette.read_text()
    for secret in SECRETS:
        assert secret not in text, secret
    assert "<redacted:" in text
    assert "view=full" in text and "user=ann" in text  # the rest of the session is intact


def test_scan_finds_nothing_left(cassette: Path) -> None:
    result = retape("scan", str(cassette))
    assert result.returncode == 0, result.stdout + result.stderr


def _placeholder_of(cassette: Path, where: str) -> str:
    """The placeholder the recorder put where a given client secret was."""
    loaded = load_cassette(cassette).interactions
    places = {
        "form": loaded[0].request.body.value,  # type: ignore[union-attr]
        "query": loaded[1].request.path,
        "ws-password": json.dumps(loaded[3].messages[1].value),
        "ws-pasted": str(loaded[3].messages[3].value),
    }
    found = re.findall(r"<redacted:(\d+)>", places[where])
    assert len(found) == 1, (where, places[where])
    return found[0]


def test_replay_needs_the_redacted_client_secrets_and_says_so(
    cassette: Path, server: str, tmp_path: Path
) -> None:
    report = tmp_path / "r.json"
    env = {"REPLAY_TOKEN": TOKEN}
    result = retape(
        "replay", str(cassette), "--target", server, "--bearer-env", "REPLAY_TOKEN",
        "--json", str(report), env=env,
    )  # fmt: skip
    assert result.returncode == 1
    rows = json.loads(report.read_text())["results"]
    unsent = [r for r in rows if r["error"] and "needs the redacted value" in r["error"]]
    assert [r["path"].split("?")[0] for r in unsent] == ["/login", "/profile", "/ws"]
    assert "--secret" in result.stdout


def test_replay_is_green_with_auth_on_and_the_secrets_supplied(cassette: Path, server: str) -> None:
    env = {
        "REPLAY_TOKEN": TOKEN, "PW": PASSWORD, "QK": QUERY_KEY, "WSPW": WS_PASSWORD,
        "PASTED": PASTED,
    }  # fmt: skip
    secrets = [
        f"{_placeholder_of(cassette, 'form')}=PW",
        f"{_placeholder_of(cassette, 'query')}=QK",
        f"{_placeholder_of(cassette, 'ws-password')}=WSPW",
        f"{_placeholder_of(cassette, 'ws-pasted')}=PASTED",
    ]
    args = ["replay", str(cassette), "--target", server, "--bearer-env", "REPLAY_TOKEN"]
    for spec in secrets:
        args += ["--secret", spec]
    result = retape(*args, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    for secret in SECRETS:
        assert secret not in result.stdout + result.stderr
