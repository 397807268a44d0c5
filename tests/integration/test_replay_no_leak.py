"""Issue 12's bar for replay: a target that echoes every credential back, in bodies,
headers and websocket messages, raw and encoded; with every comparison and every report
on, no byte of a live credential reaches any output."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from websockets.sync.client import connect

from demo.processes import REPO, free_port, recording, running
from retape.cassette import load_cassette
from tests.support import leak_forms, retape

# What the recording client used (redacted in the cassette) ...
RECORDED = {"token": "rec-token-0a0b0c0d0e0f", "key": "rec-key-1a1b1c1d", "pw": "rec-pw-2a2b2c"}
# ... and what the replay sends: none of these may appear in any output, in any form.
LIVE = {
    "LIVE_TOKEN": "live-token-9f8e7d6c5b4a3210",
    "LIVE_KEY": "live-key-0123456789abcdef",
    "LIVE_COOKIE": "live-cookie-fedcba9876543210",
    "LIVE_PW": "live-password-13572468",
}


def leaks(text: str) -> list[str]:
    return [form for secret in LIVE.values() for form in leak_forms(secret) if form in text]


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    port = free_port()
    with running([sys.executable, "-m", "tests.apps.planted", str(port)], port=port):
        yield f"http://127.0.0.1:{port}"


@pytest.fixture(scope="module")
def cassette(server: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("echo") / "echo.yaml"
    auth = {
        "Authorization": f"Bearer {RECORDED['token']}",
        "X-Api-Key": RECORDED["key"],
        "Cookie": f"sid={RECORDED['key']}",
    }
    with recording(server, out) as base:
        with httpx.Client(base_url=f"http://{base}", timeout=10) as client:
            client.get("/echo/profile", headers=auth)
            client.post("/echo/login", data={"user": "ann", "password": RECORDED["pw"]})
            client.post("/echo/data", json={"note": "hello"}, headers=auth)
        with connect(
            f"ws://{base}/ws",
            additional_headers=auth,
            subprotocols=["bearer", RECORDED["token"]],  # type: ignore[list-item]
            open_timeout=10,
        ) as ws:
            for _ in range(3):
                ws.recv(timeout=10)
            ws.send("say it back")
            ws.recv(timeout=10)
            ws.send(b"binary hello")
            ws.recv(timeout=10)
    return out


def _placeholder(cassette: Path) -> str:
    login = next(i for i in load_cassette(cassette).interactions if i.request.path == "/echo/login")
    (number,) = re.findall(r"<redacted:(\d+)>", str(login.request.body.value))  # type: ignore[union-attr]
    return number


def test_no_live_credential_in_any_output(cassette: Path, server: str, tmp_path: Path) -> None:
    reports = {ext: tmp_path / f"report.{ext}" for ext in ("json", "jsonl", "xml", "md")}
    result = retape(
        "replay", str(cassette), "--target", server,
        "--bearer-env", "LIVE_TOKEN",
        "--header", "X-Api-Key: ${LIVE_KEY}",
        "--header", "Cookie: sid=${LIVE_COOKIE}",
        "--secret", f"{_placeholder(cassette)}=LIVE_PW",
        "--compare", "status,headers,body,messages",
        "--auth-matrix",
        "--json", str(reports["json"]), "--jsonl", str(reports["jsonl"]),
        "--junit", str(reports["xml"]), "--markdown", str(reports["md"]),
        env=LIVE,
    )  # fmt: skip
    assert result.returncode == 1, result.stdout + result.stderr  # the echoes differ
    outputs = {"stdout": result.stdout, "stderr": result.stderr}
    outputs |= {name: path.read_text() for name, path in reports.items()}
    assert {name: leaks(text) for name, text in outputs.items() if leaks(text)} == {}
    # It could have leaked: the echoes are in the differences, masked.
    data = json.loads(outputs["json"])
    texts = [d["text"] for row in data["results"] for d in row["differences"]]
    assert any("<credential>" in text for text in texts), texts
    assert "<credential>" in outputs["md"]
    assert not any("Traceback" in text for text in outputs.values())


def test_no_live_credential_in_pytest_plugin_output(cassette: Path, server: str) -> None:
    args = [sys.executable, "-m", "pytest", str(cassette), "-p", "no:cacheprovider", "-q"]
    args += ["--retape-target", server, "--retape-bearer-env", "LIVE_TOKEN"]
    args += ["--retape-header", "X-Api-Key: ${LIVE_KEY}", "--retape-auth-matrix"]
    args += ["--retape-compare", "status,headers,body,messages", "-o", "addopts="]
    result = subprocess.run(
        args,
        cwd=REPO,
        env={**__import__("os").environ, **LIVE},
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 1, output  # differences fail items
    assert "<credential>" in output
    assert leaks(output) == []
