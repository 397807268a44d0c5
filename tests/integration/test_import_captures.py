"""Traffic captured by a bare ``mitmdump`` (and the same in Chrome's HAR shape) imports
to cassettes that validate, hold no credential, replay green against the server they
came from and catch the regressed build (websocket 101 -> 500).

mitmdump runs in reverse mode in front of the demo target with nothing of retape
loaded: ``--set hardump=capture.har`` (HAR with ``_webSocketMessages``) and ``-w
capture.flows`` (a flow file); the clients are the real httpx and websockets sessions
that recorded sessions/.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from demo.clients import chat_session, realtime_session
from retape.cassette import load_cassette
from tests.chrome_har import chromify
from tests.support import DEMO_TOKEN, demo_target, free_port, retape, running

TOKEN_ENV = {"RETAPE_TEST_KEY": DEMO_TOKEN}
MITMDUMP = str(Path(sys.executable).parent / "mitmdump")


@pytest.fixture(scope="module")
def captures(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("captures")
    with demo_target("fixed") as upstream:
        port = free_port()
        command = [
            MITMDUMP, "--mode", f"reverse:{upstream}", "--listen-host", "127.0.0.1",
            "--listen-port", str(port), "--set", f"hardump={folder / 'capture.har'}",
            "-w", str(folder / "capture.flows"), "-q",
        ]  # fmt: skip
        with running(command, port=port, env={"HOME": str(folder)}):
            chat_session(f"127.0.0.1:{port}", DEMO_TOKEN)
            realtime_session(f"127.0.0.1:{port}", DEMO_TOKEN)
    har = json.loads((folder / "capture.har").read_text())
    (folder / "chrome.har").write_text(json.dumps(chromify(har), indent=2))
    return folder


@pytest.fixture(scope="module", params=["capture.har", "capture.flows", "chrome.har"])
def imported(request: pytest.FixtureRequest, captures: Path) -> Path:
    out = captures / f"{request.param}.yaml"
    done = retape("import", str(captures / request.param), "--out", str(out))
    assert done.returncode == 0, done.stderr
    assert "imported 7 interaction(s) (2 websocket)" in done.stdout
    return out


def test_the_capture_holds_the_websocket_and_the_key(captures: Path) -> None:
    har = json.loads((captures / "capture.har").read_text())
    sessions = [e for e in har["log"]["entries"] if e.get("_webSocketMessages")]
    assert len(sessions) == 1 and len(sessions[0]["_webSocketMessages"]) > 10
    assert DEMO_TOKEN in (captures / "capture.har").read_text()  # what import must remove
    assert DEMO_TOKEN.encode() in (captures / "capture.flows").read_bytes()


def test_imported_cassette_validates_and_holds_no_credential(imported: Path) -> None:
    assert retape("validate", str(imported)).returncode == 0
    scanned = retape("scan", str(imported))
    assert scanned.returncode == 0, scanned.stdout
    text = imported.read_text()
    assert DEMO_TOKEN not in text
    assert "Bearer <redacted:1>" in text
    cassette = load_cassette(imported)
    kinds = [(i.type, i.request.path, i.response.status) for i in cassette.interactions]
    assert kinds == [
        ("http", "/health", 200),
        ("http", "/v1/models", 200),
        ("http", "/v1/chat/completions", 200),
        ("http", "/v1/chat/completions", 200),
        ("http", "/v1/models", 401),
        ("websocket", "/v1/realtime", 101),
        ("websocket", "/v1/realtime", 401),
    ]
    session = cassette.interactions[5]
    assert session.request.credentials == ["authorization"]
    assert cassette.interactions[6].request.credentials == []
    assert [m.sender for m in session.messages][:3] == ["server", "client", "server"]
    times = [m.at for m in session.messages]
    assert times == sorted(times)
    assert cassette.recording.upstream.startswith("http://127.0.0.1:")


def test_imported_cassette_replays_green_against_its_server(imported: Path) -> None:
    with demo_target("fixed") as target:
        done = retape(
            "replay", str(imported), "--target", target, "--bearer-env", "RETAPE_TEST_KEY",
            env=TOKEN_ENV,
        )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "7 passed, 0 failed" in done.stdout


def test_imported_cassette_catches_the_regressed_build(imported: Path) -> None:
    with demo_target("regressed") as target:
        done = retape(
            "replay", str(imported), "--target", target, "--bearer-env", "RETAPE_TEST_KEY",
            env=TOKEN_ENV,
        )  # fmt: skip
    assert done.returncode == 1
    assert "websocket GET /v1/realtime  expected 101, got 500" in done.stdout
