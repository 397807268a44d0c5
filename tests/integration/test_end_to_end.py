"""The whole loop, for real: record real clients through `retape record`, replay with auth on.

This is the vLLM scenario: a session recorded against a healthy server replays green
against the same build and fails against a build whose auth middleware reads
``scope["method"]``, with the realtime websocket reported as 101 -> 500.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from demo.clients import chat_session, realtime_session
from demo.processes import REPO, recording
from retape.cassette import load_cassette
from tests.support import DEMO_TOKEN, demo_target, retape

TOKEN_ENV = {"RETAPE_TEST_KEY": DEMO_TOKEN}


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One directory of cassettes recorded from the fixed demo target by real clients."""
    folder = tmp_path_factory.mktemp("recorded")
    with demo_target("fixed") as upstream:
        for name, session in (("chat", chat_session), ("realtime", realtime_session)):
            with recording(upstream, folder / f"{name}.yaml") as base:
                session(base, DEMO_TOKEN)
    return folder


def _replay(folder: Path, target: str, report: Path) -> subprocess.CompletedProcess:
    return retape(
        "replay", str(folder), "--target", target, "--bearer-env", "RETAPE_TEST_KEY",
        "--json", str(report), env=TOKEN_ENV,
    )  # fmt: skip


def test_recording_holds_every_interaction_and_no_credential(recorded: Path) -> None:
    chat = load_cassette(recorded / "chat.yaml").interactions
    realtime = load_cassette(recorded / "realtime.yaml").interactions
    assert [(i.type, i.request.path, i.response.status) for i in chat] == [
        ("http", "/health", 200),
        ("http", "/v1/models", 200),
        ("http", "/v1/chat/completions", 200),
        ("http", "/v1/chat/completions", 200),
        ("http", "/v1/models", 401),
    ]
    assert [(i.type, i.response.status) for i in realtime] == [
        ("websocket", 101),
        ("websocket", 401),
    ]
    session = realtime[0]
    assert session.request.credentials == ["authorization"]
    assert realtime[1].request.credentials == []
    senders = [m.sender for m in session.messages]
    assert senders.count("client") >= 5 and senders.count("server") >= 6
    assert session.messages[0].value["type"] == "session.created"
    assert session.close is not None and session.close.code == 1000
    for cassette in recorded.iterdir():
        assert DEMO_TOKEN not in cassette.read_text()
        assert DEMO_TOKEN[8:24] not in cassette.read_text()


def test_replay_against_the_same_build_passes(recorded: Path, tmp_path: Path) -> None:
    report = tmp_path / "fixed.json"
    with demo_target("fixed") as target:
        result = _replay(recorded, target, report)
    assert result.returncode == 0, result.stdout + result.stderr
    data = json.loads(report.read_text())
    assert data["summary"]["failed"] == 0 and len(data["results"]) == 7
    assert all(r["ok"] for r in data["results"])


def test_replay_against_the_regressed_build_reports_101_to_500(
    recorded: Path, tmp_path: Path
) -> None:
    report = tmp_path / "regressed.json"
    with demo_target("regressed") as target:
        result = _replay(recorded, target, report)
    assert result.returncode == 1, result.stdout + result.stderr
    rows = json.loads(report.read_text())["results"]
    websocket = [r for r in rows if r["type"] == "websocket"]
    assert [(r["expected_status"], r["actual_status"], r["ok"]) for r in websocket] == [
        (101, 500, False),
        (401, 500, False),
    ]
    assert all(r["ok"] for r in rows if r["type"] == "http")
    assert "101" in result.stdout and "500" in result.stdout
    for output in (result.stdout, result.stderr, report.read_text()):
        assert DEMO_TOKEN not in output


def test_make_demo_shows_the_regression_caught_and_the_fix_passing() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "demo.showcase"],
        cwd=REPO, capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "caught" in result.stdout and "passed" in result.stdout
