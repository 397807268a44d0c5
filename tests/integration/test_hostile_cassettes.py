"""Issue 12's bar for hostile input: cassettes and targets built to crash, hang, inject or
redirect get one line and exit 2 (or an error row), never a crash signal, a hang or a
traceback; and nothing reaches any host but ``--target``."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from demo.processes import REPO, free_port, running
from tests.support import retape

HEAD = "retape: 1\ninteractions:\n"


def http(path: str = "/x", *, method: str = "GET", at: str = "0", headers: str = "", status=200):
    return (
        f"- id: 1\n  type: http\n  at: {at}\n  request:\n    method: {method}\n"
        f"    path: {path}\n    headers: [{headers}]\n  response:\n    status: {status}\n"
    )


HOSTILE_FILES = {
    "deep-block-sequences": HEAD + "- " * 20_000 + "x\n",
    "deep-flow": HEAD.replace("interactions:\n", "interactions: ")
    + "[" * 20_000
    + "]" * 20_000
    + "\n",
    "deep-indentation": HEAD + "".join(" " * i + "-\n" for i in range(400)),
    "deep-mappings": HEAD + "- " + "".join(" " * (2 * i) + f"k{i}:\n" for i in range(300)) + "x\n",
    "duplicate-top-key": "retape: 1\nretape: 1\ninteractions: []\n",
    "duplicate-status": HEAD + http() + "    status: 500\n",
    "method-with-newline": HEAD + http(method='"GET\\n"'),
    "method-with-space": HEAD + http(method='"GET /admin HTTP/1.1"'),
    "header-name-crlf": HEAD + http(headers='"X-A\\r\\nX-Injected", "1"'),
    "header-name-trailing-space": HEAD + http(headers='"Transfer-Encoding ", chunked'),
    "host-with-space": HEAD + http(headers='"Host ", evil.example'),
    "header-value-crlf": HEAD + http(headers='X-A, "1\\r\\nX-Injected: 2"'),
    "header-value-nul": HEAD + http(headers='X-A, "1\\0"'),
    "infinite-at": HEAD + http(at=".inf"),
    "nan-at": HEAD + http(at=".nan"),
    "huge-at": HEAD + http(at="1.0e+300"),
    "absolute-url-path": HEAD + http(path="http://127.0.0.1:9/x"),
    "scheme-relative-path": HEAD + http(path="//127.0.0.1:9/x"),
}


def _signal_free(result: subprocess.CompletedProcess) -> None:
    output = result.stdout + result.stderr
    assert result.returncode >= 0, f"killed by signal {-result.returncode}"
    assert "Traceback" not in output and "RecursionError" not in output, output[-2000:]


@pytest.mark.parametrize("name", sorted(HOSTILE_FILES))
def test_hostile_file_is_one_line_and_exit_2_everywhere(name: str, tmp_path: Path) -> None:
    path = tmp_path / f"{name}.yaml"
    path.write_text(HOSTILE_FILES[name])
    runs = [  # whole-file loading and streaming, each on the yaml-rs and the PyYAML path
        (["validate", str(path)], "1"),
        (["validate", str(path)], "0"),
        (["replay", str(path), "--target", "http://127.0.0.1:9", "--speed", "1"], "1"),
        (["replay", str(path), "--target", "http://127.0.0.1:9", "--speed", "1"], "0"),
        (["scan", str(path)], "1"),
        (["redact", str(path)], "1"),
    ]
    for command, fast in runs:
        result = retape(*command, env={"RETAPE_FASTLOAD": fast}, timeout=60)
        _signal_free(result)
        assert result.returncode == 2, (command, result.stdout, result.stderr)
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith(f"retape: {path}"), result.stderr


def test_hostile_file_in_the_pytest_plugin_is_a_clean_error(tmp_path: Path) -> None:
    path = tmp_path / "deep.yaml"
    path.write_text(HOSTILE_FILES["deep-block-sequences"])
    args = [sys.executable, "-m", "pytest", str(path), "--retape-target", "http://127.0.0.1:9"]
    args += ["-p", "no:cacheprovider", "-q", "-o", "addopts="]
    result = subprocess.run(
        args,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )
    _signal_free(result)
    assert result.returncode != 0
    assert "nested deeper than" in result.stdout + result.stderr


class OtherHost:
    """A loopback listener standing for "any host but --target": it counts connections."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.connections += 1
            conn.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.sock.close()


@pytest.fixture(scope="module")
def other() -> Iterator[OtherHost]:
    host = OtherHost()
    yield host
    host.close()


@pytest.fixture(scope="module")
def target(other: OtherHost) -> Iterator[str]:
    port = free_port()
    env = {"REDIRECT_TO": f"http://127.0.0.1:{other.port}/stolen"}
    with running([sys.executable, "-m", "tests.apps.planted", str(port)], port=port, env=env):
        yield f"http://127.0.0.1:{port}"


def ws(path: str, *, status: int = 101, headers: str = "") -> str:
    return (
        f"- id: 2\n  type: websocket\n  request:\n    method: GET\n    path: {path}\n"
        f"    headers: [{headers}]\n    credentials: [authorization]\n"
        f"  response:\n    status: {status}\n  messages: []\n  close: null\n"
    )


def test_redirects_and_recorded_hosts_never_leave_the_target(
    target: str, other: OtherHost, tmp_path: Path
) -> None:
    other_host = f"127.0.0.1:{other.port}"
    path = tmp_path / "redirects.yaml"
    path.write_text(
        HEAD
        + http("/redirect", status=302, headers="[X-Api-Key, <redacted:1>]")
        + ws("/ws-redirect", status=302).replace("id: 2", "id: 2")
        + http(
            "/echo/host", headers=f"[Host, '{other_host}'], [Origin, 'http://{other_host}']"
        ).replace("id: 1", "id: 3")
    )
    env = {"KEY": "redirect-live-key-0123456789"}
    result = retape(
        "replay", str(path), "--target", target, "--bearer-env", "KEY",
        "--header", "X-Api-Key: ${KEY}", "--json", str(tmp_path / "r.json"), env=env,
    )  # fmt: skip
    _signal_free(result)
    assert result.returncode == 0, result.stdout + result.stderr  # 302 compared as a status
    assert other.connections == 0


def test_deep_json_from_the_target_is_an_error_row(target: str, tmp_path: Path) -> None:
    path = tmp_path / "deep.yaml"
    path.write_text(
        HEAD
        + http("/deep").rstrip("\n")
        + "\n    headers: [[Content-Type, application/json]]\n    body:\n      json: []\n"
    )
    result = retape("replay", str(path), "--target", target, "--compare", "status,body")
    _signal_free(result)
    assert result.returncode == 1
    assert "nested deeper than 200 levels" in result.stdout


def test_control_and_bidi_characters_are_escaped_in_every_report(
    target: str, tmp_path: Path
) -> None:
    path = tmp_path / "ctl.yaml"
    hostile = '"/echo/\\e[31mred\\u202eevil\\u0007"'
    path.write_text(HEAD + http(hostile, status=404))
    md, junit = tmp_path / "r.md", tmp_path / "r.xml"
    result = retape(
        "replay", str(path), "--target", target, "--markdown", str(md), "--junit", str(junit)
    )
    _signal_free(result)
    assert result.returncode == 1
    for name, text in {
        "stdout": result.stdout,
        "md": md.read_text(),
        "xml": junit.read_text(),
    }.items():
        assert "\x1b" not in text and "\u202e" not in text and "\x07" not in text, name
        assert "\\x1b" in text or "\\u202e" in text, name


def test_speed_with_a_long_recorded_gap_is_bounded_by_the_deadline(
    target: str, tmp_path: Path
) -> None:
    path = tmp_path / "slow.yaml"
    path.write_text(HEAD + http("/echo/a") + http("/echo/b", at="999999").replace("id: 1", "id: 2"))
    result = retape(
        "replay", str(path), "--target", target, "--speed", "1", "--deadline", "3", timeout=60
    )
    _signal_free(result)
    assert result.returncode == 1
    assert "deadline" in result.stdout


def test_websocket_handshake_headers_are_checked_at_load_time(tmp_path: Path) -> None:
    path = tmp_path / "ws.yaml"
    path.write_text(HEAD + ws("/ws", headers='["X-A\\r\\nX-B", "1"]'))
    result = retape("validate", str(path))
    assert result.returncode == 2
    assert "header name" in result.stderr
    assert os.path.exists(path)
