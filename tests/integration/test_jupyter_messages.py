"""A real Jupyter kernel session, recorded through the real recorder and replayed with
``--compare messages`` against a fresh Jupyter Server (issue 13, "Done when").

A kernel answers in its own way each time: ``status`` busy/idle messages come in a
varying number, iopub and shell replies in either order, with fresh message ids and
dates. The cassette's ``.noise.toml`` says how its messages are read: keyed by
``header.msg_type``, replies matched by ``parent_header.msg_id``, ``status`` counts
free, a turn's order free. With that the replay is green, and an ``execute_reply``
that says something else fails it.

The kernel id is in the websocket's path and is new on every server. Until replay
fills captured values into later requests (issue 11), the test creates the kernel on
the fresh server itself and puts its id into the cassette's path, which is exactly
the substitution that issue's replay will make.
"""

from __future__ import annotations

import contextlib
import json
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.sync.client import connect

from retape.cassette.dump import dump_cassette
from retape.cassette.load import load_cassette
from retape.cassette.model import Cassette
from tests.integration.test_replay_cli import replay, rows_of
from tests.recorder_support import start_recorder
from tests.support import PYTHON, free_port, running

pytest.importorskip("jupyter_server")
pytest.importorskip("ipykernel")

TOKEN = "retape-test-jupyter-token-0123456789"
TIMEOUT = 30.0
NOISE = """\
message_key = "header.msg_type"
correlate = ["parent_header.msg_id"]
free_count = ["status"]
unordered = true
ignore = [
  "$.header.msg_id", "$.header.date", "$.header.session", "$.msg_id",
  "$.parent_header.date", "$.metadata.started", "$..engine",
  "$.content.banner",  # IPython's banner ends with a tip of the day, picked at random
]
"""


@contextlib.contextmanager
def jupyter_server(home: Path) -> Iterator[str]:
    """A real Jupyter Server with a token, its state under ``home``."""
    port = free_port()
    home.mkdir(parents=True, exist_ok=True)
    env = {
        "HOME": str(home),
        "JUPYTER_RUNTIME_DIR": str(home / "runtime"),
        "JUPYTER_DATA_DIR": str(home / "data"),
        "JUPYTER_CONFIG_DIR": str(home / "config"),
        "IPYTHONDIR": str(home / "ipython"),
        "JUPYTER_TOKEN": TOKEN,
    }
    args = [PYTHON, "-m", "jupyter_server", "--no-browser", f"--port={port}"]
    args += ["--ServerApp.ip=127.0.0.1", f"--ServerApp.root_dir={home}"]
    args += ["--ServerApp.port_retries=0", "--allow-root"]
    with running(args, port=port, env=env):
        yield f"127.0.0.1:{port}"


def new_kernel(base: str) -> str:
    headers = {"Authorization": f"token {TOKEN}"}
    response = httpx.post(f"http://{base}/api/kernels", headers=headers, json={}, timeout=TIMEOUT)
    response.raise_for_status()
    return response.json()["id"]


def request(kind: str, content: dict[str, Any]) -> dict[str, Any]:
    header = {
        "msg_id": uuid.uuid4().hex,
        "msg_type": kind,
        "username": "retape",
        "session": "retape-session",
        "version": "5.3",
        "date": "",
    }
    return {
        "header": header,
        "parent_header": {},
        "metadata": {},
        "content": content,
        "channel": "shell",
        "buffers": [],
    }


def kernel_session(base: str, kernel: str) -> None:
    """kernel_info, then ``1 + 1``, each awaited until its reply and the kernel's idle."""
    url = f"ws://{base}/api/kernels/{kernel}/channels"
    headers = {"Authorization": f"token {TOKEN}"}
    with connect(url, additional_headers=headers, open_timeout=TIMEOUT) as ws:
        for kind, content in (
            ("kernel_info_request", {}),
            ("execute_request", {"code": "1 + 1", "silent": False, "store_history": True}),
        ):
            sent = request(kind, content)
            ws.send(json.dumps(sent))
            replied = idle = False
            while not (replied and idle):
                message = json.loads(ws.recv(timeout=TIMEOUT))
                if message["parent_header"].get("msg_id") != sent["header"]["msg_id"]:
                    continue
                replied |= message["header"]["msg_type"] == kind.replace("_request", "_reply")
                idle |= message["content"].get("execution_state") == "idle"


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The kernel session as the recorder wrote it (the HTTP kernel creation left out)."""
    folder = tmp_path_factory.mktemp("jupyter")
    out = folder / "raw.yaml"
    with jupyter_server(folder / "first") as base:
        kernel = new_kernel(base)
        with start_recorder(f"http://{base}", out=out, home=folder / "rec-home") as recorder:
            kernel_session(recorder.url.removeprefix("http://"), kernel)
        status, output = recorder.stop()
        assert status == 0, output
    cassette = load_cassette(out)
    sessions = [i for i in cassette.interactions if i.type == "websocket"]
    assert len(sessions) == 1 and sessions[0].response.status == 101
    assert sessions[0].request.credentials == ["authorization"]
    path = folder / "kernel.yaml"
    path.write_text(dump_cassette(Cassette(cassette.recording, sessions)))
    return path


def against_fresh_server(recorded: Path, folder: Path, base: str, *, edit=None) -> Path:
    """The recording, its kernel id swapped for one made on ``base``, with its rules."""
    cassette = load_cassette(recorded)
    session = cassette.interactions[0]
    session.request.path = f"/api/kernels/{new_kernel(base)}/channels"
    if edit is not None:
        edit(session)
    path = folder / "kernel.yaml"
    path.write_text(dump_cassette(cassette))
    (folder / "kernel.noise.toml").write_text(NOISE)
    return path


def replay_kernel(cassette: Path, base: str, report: Path) -> Any:
    return replay(
        str(cassette), "--target", f"http://{base}", "--header", "Authorization: token ${JT}",
        "--compare", "status,messages", "--json", str(report), env={**os.environ, "JT": TOKEN},
    )  # fmt: skip


def test_a_kernel_session_compares_green_against_a_fresh_server(
    recorded: Path, tmp_path: Path
) -> None:
    with jupyter_server(tmp_path / "second") as base:
        cassette = against_fresh_server(recorded, tmp_path, base)
        result = replay_kernel(cassette, base, tmp_path / "r.json")
    assert result.returncode == 0, result.stdout + result.stderr
    (row,) = rows_of(tmp_path / "r.json")
    assert row["ws_session_ok"] and row["ws_closed_by"] == "client"
    assert row["differences"] == []


def test_a_broken_execute_reply_fails_it(recorded: Path, tmp_path: Path) -> None:
    def break_reply(session: Any) -> None:
        """As if the recorded build had answered differently: the replay must notice."""
        for index, message in enumerate(session.messages):
            value = message.value
            if isinstance(value, dict) and value["header"]["msg_type"] == "execute_reply":
                changed = json.loads(json.dumps(value))
                changed["content"]["status"] = "error"
                session.messages[index] = type(message)(
                    message.sender, message.at, message.kind, changed
                )

    with jupyter_server(tmp_path / "third") as base:
        cassette = against_fresh_server(recorded, tmp_path, base, edit=break_reply)
        result = replay_kernel(cassette, base, tmp_path / "r.json")
    assert result.returncode == 1, result.stdout + result.stderr
    assert '(execute_reply) $.content.status: "error" -> "ok"' in result.stdout
