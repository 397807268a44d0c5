"""The auth matrix, deeper comparison, noise learning and the Markdown report, end to end.

Real CLI, real demo target variants (``fixed``, ``regressed`` = the vLLM
``scope["method"]`` bug, ``open-websocket`` = a "fix" that skips auth for websockets)
on 127.0.0.1. Cassettes with real bodies and messages are captured here from the demo
with plain clients, the way the recorder would have seen them.
"""

from __future__ import annotations

import base64
import json
import re
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.sync.client import connect

from retape.cassette.dump import dump_cassette
from retape.cassette.load import load_cassette
from retape.cassette.model import Body, Cassette, Close, Interaction, Message, Request, Response
from tests.integration.test_replay_cli import (
    BEARER,
    CHAT,
    TOKEN_ENV,
    http,
    one_error_line,
    replay,
    rows_of,
    websocket,
)
from tests.support import DEMO_TOKEN

AUTH = {"Authorization": f"Bearer {DEMO_TOKEN}"}
REDACTED = ("Authorization", "Bearer <redacted:1>")


# --- capturing a recorded-style cassette from the demo -----------------------------------------


def _exchange(ident: int, client: httpx.Client, method: str, path: str, body: Any = None):
    sent = [("Host", "recorded.example"), ("Content-Type", "application/json"), REDACTED]
    response = client.request(method, path, json=body, headers=AUTH)
    headers = list(response.headers.multi_items())
    recorded = Body.from_bytes(response.content, response.headers.get("content-type", ""))
    return Interaction(
        ident, "http",
        Request(method, path, sent, Body("json", body) if body else None, ["authorization"]),
        Response(response.status_code, headers, recorded),
    )  # fmt: skip


def _conversation(base: str) -> list[Message]:
    """The demo realtime session, every frame kept as the recorder would."""
    messages: list[Message] = []
    url = base.replace("http://", "ws://") + "/v1/realtime"
    with connect(url, additional_headers=AUTH, subprotocols=["realtime"], open_timeout=10) as ws:

        def receive() -> str:
            data = ws.recv(timeout=10)
            messages.append(Message.from_frame("server", 0.0, data))
            return json.loads(data)["type"]

        def send(event: dict) -> None:
            messages.append(Message("client", 0.0, "json", event))
            ws.send(json.dumps(event))

        receive()
        send({"type": "session.update", "session": {"modalities": ["text"]}})
        receive()
        send({"type": "input_audio_buffer.append", "audio": base64.b64encode(bytes(16)).decode()})
        send({"type": "input_audio_buffer.commit"})
        receive(), receive()
        send({"type": "response.create"})
        while receive() != "response.done":
            pass
    return messages


def capture(base: str, folder: Path) -> Path:
    with httpx.Client(base_url=base, timeout=10) as client:
        interactions = [
            _exchange(1, client, "GET", "/v1/models"),
            _exchange(2, client, "POST", "/v1/chat/completions", CHAT),
            _exchange(3, client, "POST", "/v1/chat/completions", {**CHAT, "stream": True}),
        ]
    session = websocket(4, messages=_conversation(base), close=Close(1000, "", "client"))
    interactions.append(session)
    path = folder / "captured.yaml"
    path.write_text(dump_cassette(Cassette(interactions=interactions)), encoding="utf-8")
    return path


def edit(path: Path, old: str, new: str, *, count: int = 1) -> None:
    text = path.read_text()
    assert text.count(old) >= count, old
    path.write_text(text.replace(old, new, count))


# --- the auth matrix ---------------------------------------------------------------------------


def authenticated_only(folder: Path) -> Path:
    path = folder / "authed.yaml"
    interactions = [
        http(1, "GET", "/v1/models", 200),
        http(2, "POST", "/v1/chat/completions", 200, body=CHAT),
        websocket(3),
    ]
    path.write_text(dump_cassette(Cassette(interactions=interactions)), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("variant", "plain", "matrix"),
    [("open-websocket", 0, 1), ("fixed", 0, 0), ("regressed", 1, 1)],
)
def test_auth_matrix_verdicts_per_server_variant(
    target: Callable[[str], str], tmp_path: Path, variant: str, plain: int, matrix: int
) -> None:
    cassette, report = authenticated_only(tmp_path), tmp_path / "r.json"
    args = (str(cassette), "--target", target(variant), *BEARER)
    assert replay(*args).returncode == plain
    result = replay(*args, "--auth-matrix", "--json", str(report))
    assert result.returncode == matrix, result.stdout + result.stderr
    rows = rows_of(report)
    assert [(r["id"], r["probe"]) for r in rows] == [
        (i, p) for i in (1, 2, 3) for p in (None, "no-credential", "wrong-credential")
    ]
    probes = {(r["id"], r["probe"]): r for r in rows if r["probe"]}
    websocket_probe = probes[(3, "no-credential")]
    if variant == "open-websocket":
        assert websocket_probe["actual_status"] == 101 and not websocket_probe["ok"]
        assert websocket_probe["failure"] == "accepted without a valid credential (security)"
        assert re.search(
            r"^FAIL .*#3  websocket GET /v1/realtime \[no-credential\]  accepted without a "
            r"valid credential \(security\): expected 401 or 403, got 101$",
            result.stdout, re.MULTILINE,
        ), result.stdout  # fmt: skip
        assert all(r["ok"] for r in rows if r["type"] == "http")
    elif variant == "regressed":
        assert websocket_probe["actual_status"] == 500
        assert websocket_probe["failure"] == "server error instead of a refusal"
    else:
        assert all(r["ok"] and r["actual_status"] == 401 for r in probes.values())
    assert "3 interactions + 6 auth probes" in result.stdout
    assert DEMO_TOKEN not in result.stdout + report.read_text()


def test_public_paths_and_refusal_codes_are_configurable(
    target: Callable[[str], str], tmp_path: Path
) -> None:
    (tmp_path / "pyproject.toml").write_text(
        "[tool.retape.auth_matrix]\npublic = ['/v1/chat/*']\nrefusal = [403]\n"
    )
    cassette, report = authenticated_only(tmp_path), tmp_path / "r.json"
    result = subprocess.run(
        [*replay_command(), str(cassette), "--target", target("fixed"), *BEARER,
         "--auth-matrix", "--json", str(report)],
        cwd=tmp_path, env={**TOKEN_ENV, "PATH": ""}, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 1, result.stdout + result.stderr
    probed = {(r["id"], r["probe"]) for r in rows_of(report) if r["probe"]}
    assert (2, "no-credential") not in probed  # public: no probes
    assert all(r["expected_statuses"] == [403] for r in rows_of(report) if r["probe"])


def replay_command() -> list[str]:
    import sys

    return [sys.executable, "-m", "retape", "replay"]


# --- deeper comparison and noise learning ------------------------------------------------------


def test_learned_noise_gives_zero_differences_run_after_run_yet_real_changes_show(
    target: Callable[[str], str], tmp_path: Path
) -> None:
    base = target("fixed")
    cassette = capture(base, tmp_path)
    args = (str(cassette), "--target", base, *BEARER, "--compare", "body,messages")

    naive = replay(*args)
    assert naive.returncode == 1 and '$.id: "chatcmpl-' in naive.stdout

    learned = replay(*args, "--learn-noise", "--json", str(tmp_path / "learn.json"))
    assert learned.returncode == 0, learned.stdout + learned.stderr
    assert "4 interactions: 4 passed, 0 failed, 0 differences" in learned.stdout
    noise = (tmp_path / "captured.noise.toml").read_text()
    assert '"$.created"' in noise and '"$.id"' in noise and '"$.event_id"' in noise
    assert DEMO_TOKEN not in noise

    for _ in range(2):
        again = replay(*args, "--json", str(tmp_path / "again.json"))
        assert again.returncode == 0, again.stdout
        assert json.loads((tmp_path / "again.json").read_text())["summary"]["differences"] == 0

    edit(cassette, "finish_reason: stop", "finish_reason: length")
    changed = replay(*args, "--learn-noise", "--json", str(tmp_path / "changed.json"))
    assert changed.returncode == 1
    [row] = [r for r in rows_of(tmp_path / "changed.json") if r["differences"]]
    assert row["id"] == 2
    assert [d["text"] for d in row["differences"]] == [
        '$.choices[0].finish_reason: "length" -> "stop"'
    ]
    assert '       $.choices[0].finish_reason: "length" -> "stop"' in changed.stdout


def test_missing_transcription_done_is_reported_and_not_learned(
    target: Callable[[str], str], tmp_path: Path
) -> None:
    base = target("fixed")
    cassette = capture(base, tmp_path)
    args = (str(cassette), "--target", base, *BEARER, "--compare", "messages", "--timeout", "1")
    assert replay(*args, "--learn-noise").returncode == 0
    recorded = load_cassette(cassette)
    messages = recorded.interactions[3].messages
    at = next(i for i, m in enumerate(messages) if m.value.get("type", "").endswith("completed"))
    messages.insert(at + 1, Message("server", 0.0, "json", {"type": "transcription.done"}))
    cassette.write_text(dump_cassette(recorded), encoding="utf-8")

    for flags in ((), ("--learn-noise",)):
        report = tmp_path / "r.json"
        result = replay(*args, *flags, "--json", str(report))
        assert result.returncode == 1, result.stdout
        [row] = [r for r in rows_of(report) if r["differences"]]
        assert [d["text"] for d in row["differences"]][1:] == [
            "message 5: transcription.done -> (absent)"
        ]
        assert "transcription.done" in row["differences"][0]["text"]
        assert row["details"]["client_messages_sent"] == 4  # the walk went on after the gap
    assert "transcription" not in (tmp_path / "captured.noise.toml").read_text()


# --- the Markdown report -----------------------------------------------------------------------


def sh_blocks(markdown: str) -> list[str]:
    return re.findall(r"```sh\n(.*?)\n```", markdown, re.DOTALL)


def test_markdown_report_of_failing_websocket_reproduces_without_retape(
    target: Callable[[str], str], tmp_path: Path
) -> None:
    base = target("open-websocket")
    cassette, report = authenticated_only(tmp_path), tmp_path / "report.md"
    result = replay(str(cassette), "--target", base, *BEARER, "--auth-matrix",
                    "--markdown", str(report))  # fmt: skip
    assert result.returncode == 1
    markdown = report.read_text()
    assert DEMO_TOKEN not in markdown
    assert markdown.startswith("## retape replay: 2 of 9 rows failed")
    section = markdown[markdown.index("### FAIL") :]
    assert section.startswith(
        f"### FAIL `{cassette}` `#3 websocket GET /v1/realtime [no-credential]`"
    )
    assert "| expected | `401 or 403`" in section
    assert "| got | `101`: **accepted without a valid credential (security)** |" in section
    [no_credential, wrong] = sh_blocks(markdown)
    assert "Bearer retape-wrong-credential" in wrong
    env = {"TARGET": base, "TOKEN": DEMO_TOKEN, "PATH": "/usr/bin:/bin"}
    ran = subprocess.run(
        ["bash", "-c", no_credential.replace("python -", f"{replay_command()[0]} -", 1)],
        env=env, capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert ran.stdout.strip() == "handshake accepted: 101", ran.stderr


def test_markdown_reproducers_run_the_recorded_exchange(
    target: Callable[[str], str], tmp_path: Path
) -> None:
    base = target("regressed")
    cassette = capture(target("fixed"), tmp_path)
    edit(cassette, "finish_reason: stop", "finish_reason: length")
    report = tmp_path / "report.md"
    result = replay(
        str(cassette), "--target", base, *BEARER, "--compare", "body",
        "--ignore", "$.id", "--ignore", "$..created", "--markdown", str(report),
    )  # fmt: skip
    assert result.returncode == 1
    curl, session = sh_blocks(report.read_text())
    env = {"TARGET": base, "TOKEN": DEMO_TOKEN, "PATH": "/usr/bin:/bin"}
    python = replay_command()[0]
    answered = subprocess.run(["bash", "-c", curl], env=env, capture_output=True, text=True,
                              timeout=30)  # fmt: skip
    assert answered.stdout.startswith("HTTP/1.1 200"), answered.stderr
    assert '"finish_reason":"stop"' in answered.stdout
    refused = subprocess.run(["bash", "-c", session.replace("python -", f"{python} -", 1)],
                             env=env, capture_output=True, text=True, timeout=30)  # fmt: skip
    assert refused.stdout.startswith("handshake refused: 500"), refused.stderr


def test_recording_baseline_learns_from_one_replay(
    target: Callable[[str], str], tmp_path: Path
) -> None:
    base = target("fixed")
    cassette = capture(base, tmp_path)
    time.sleep(1.1)  # a recording is older than its replay: its timestamps differ
    args = (str(cassette), "--target", base, *BEARER, "--compare", "headers,body,messages")
    result = replay(*args, "--learn-noise", "--noise-baseline", "recording")
    assert result.returncode == 0, result.stdout
    assert "learned" in result.stdout and "0 differences" in result.stdout
    again = replay(*args)
    assert again.returncode == 0, again.stdout


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (("--ignore", "id"), "--ignore: 'id' is not a JSON path"),
        (("--compare", "bodies"), "--compare: unknown aspect 'bodies'"),
        (("--refusal", "4o1"), "--refusal: '4o1' is not an HTTP status code"),
    ],
)
def test_bad_comparison_flags_fail_before_any_traffic(
    tmp_path: Path, flags: tuple[str, ...], message: str
) -> None:
    cassette = authenticated_only(tmp_path)
    result = replay(str(cassette), "--target", "http://127.0.0.1:9", *BEARER, *flags)
    assert one_error_line(result) == f"retape: {message}" or message in result.stderr
    assert result.returncode == 2


def test_bad_noise_file_fails_before_any_traffic(tmp_path: Path) -> None:
    cassette = authenticated_only(tmp_path)
    (tmp_path / "authed.noise.toml").write_text("[interactions.1]\nignore = ['$.a[']\n")
    result = replay(str(cassette), "--target", "http://127.0.0.1:9", *BEARER)
    line = one_error_line(result)
    assert "authed.noise.toml" in line and "cannot read '$.a['" in line
