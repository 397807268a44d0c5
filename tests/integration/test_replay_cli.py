"""`retape replay` end to end: the real CLI against real servers on 127.0.0.1.

Cassettes are built here from the model (shipped sessions are recorded separately), so
each test states exactly what was "recorded" and pins what the replay reports.
"""

from __future__ import annotations

import base64
import contextlib
import json
import re
import socket
import subprocess
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.routing import Mount
from starlette.types import ASGIApp, Receive, Scope, Send

from retape.cassette.dump import dump_cassette
from retape.cassette.model import Body, Cassette, Close, Interaction, Message, Request, Response
from tests.support import DEMO_TOKEN, free_port, retape, wait_for_port

TOKEN_ENV = {"RETAPE_TEST_KEY": DEMO_TOKEN}
BEARER = ("--bearer-env", "RETAPE_TEST_KEY")
REDACTED_AUTH = ("Authorization", "Bearer <redacted:1>")
CHAT = {"model": "demo-model", "messages": [{"role": "user", "content": "hello"}]}


# --- cassettes ---------------------------------------------------------------------------------


def http(
    ident: int,
    method: str,
    path: str,
    status: int,
    *,
    auth: bool = True,
    body: Any = None,
    headers: tuple[tuple[str, str], ...] = (),
) -> Interaction:
    sent = [("Host", "recorded.example:8000"), *headers]
    if body is not None:
        sent.append(("Content-Type", "application/json"))
    if auth:
        sent.append(REDACTED_AUTH)
    request = Request(
        method,
        path,
        sent,
        Body("json", body) if body is not None else None,
        ["authorization"] if auth else [],
    )
    return Interaction(ident, "http", request, Response(status))


def client(event: dict) -> Message:
    return Message("client", 0.0, "json", event)


def server(kind: str) -> Message:
    return Message("server", 0.0, "json", {"type": kind})


# The demo's realtime conversation: 11 server events answer 4 client events.
REALTIME = [
    server("session.created"),
    client({"type": "session.update", "session": {"instructions": "be brief"}}),
    server("session.updated"),
    client({"type": "input_audio_buffer.append", "audio": base64.b64encode(b"\0" * 8).decode()}),
    client({"type": "input_audio_buffer.commit"}),
    server("input_audio_buffer.committed"),
    server("conversation.item.input_audio_transcription.completed"),
    client({"type": "response.create"}),
    server("response.created"),
    *[server("response.text.delta") for _ in range(5)],  # "You said: heard 8 bytes"
    server("response.done"),
]


def websocket(
    ident: int,
    path: str = "/v1/realtime",
    status: int = 101,
    *,
    auth: bool = True,
    messages: list[Message] | None = None,
    close: Close | None = None,
) -> Interaction:
    headers = [
        ("Host", "recorded.example:8000"),
        ("Upgrade", "websocket"),
        ("Connection", "Upgrade"),
        ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
        ("Sec-WebSocket-Version", "13"),
        ("Sec-WebSocket-Protocol", "realtime"),
    ]
    if auth:
        headers.append(REDACTED_AUTH)
    accepted = status == 101
    return Interaction(
        ident,
        "websocket",
        Request("GET", path, headers, None, ["authorization"] if auth else []),
        Response(status),
        messages=list(REALTIME if messages is None and accepted else messages or []),
        close=(close or Close(1000, "", "client")) if accepted else None,
    )


def write(folder: Path, name: str, *interactions: Interaction) -> Path:
    path = folder / name
    path.write_text(dump_cassette(Cassette(interactions=list(interactions))), encoding="utf-8")
    return path


def demo_session(folder: Path) -> Path:
    """What a real client session against the demo looks like, one of each kind."""
    return write(
        folder,
        "demo.yaml",
        http(1, "GET", "/health", 200, auth=False),
        http(2, "GET", "/v1/models", 200),
        http(3, "POST", "/v1/chat/completions", 200, body=CHAT),
        http(4, "POST", "/v1/chat/completions", 200, body={**CHAT, "stream": True}),
        websocket(5),
        websocket(6, status=401, auth=False),
        http(7, "GET", "/v1/models", 401, auth=False),
    )


def replay(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return retape("replay", *args, env=env if env is not None else TOKEN_ENV, timeout=60)


def rows_of(report: Path) -> list[dict[str, Any]]:
    return json.loads(report.read_text())["results"]


def assert_no_token(*outputs: str) -> None:
    for output in outputs:
        assert DEMO_TOKEN not in output
        assert DEMO_TOKEN[8:24] not in output


def one_error_line(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("retape: ")
    return lines[0]


# --- servers -----------------------------------------------------------------------------------


@contextlib.contextmanager
def serve(app: ASGIApp) -> Iterator[str]:
    """Run an ASGI app with uvicorn on a free loopback port in a thread."""
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error", lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        wait_for_port(port)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


class Witness:
    """An ASGI app that answers everything and remembers exactly what reached it."""

    def __init__(self) -> None:
        self.seen: list[dict[str, Any]] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in scope["headers"]]
        self.seen.append(
            {
                "type": scope["type"],
                "raw_path": scope["raw_path"],
                "query": scope["query_string"],
                "headers": headers,
            }
        )
        if scope["type"] == "http":
            while (await receive()).get("more_body"):
                pass
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b"{}"})
            return
        await receive()  # websocket.connect
        await send({"type": "websocket.accept"})
        while (await receive())["type"] != "websocket.disconnect":
            pass

    def headers(self, index: int) -> dict[str, str]:
        return {k: v for k, v in self.seen[index]["headers"]}


@contextlib.contextmanager
def silent_server(*, hang_up: bool) -> Iterator[str]:
    """A TCP server that accepts and then never answers (or hangs up at once)."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.1)
    stop = threading.Event()
    held: list[socket.socket] = []

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            if hang_up:
                conn.close()
            else:
                held.append(conn)

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stop.set()
        thread.join(5)
        for conn in held:
            conn.close()
        listener.close()


# --- the vLLM regression -----------------------------------------------------------------------


def test_fixed_target_passes_with_bearer_from_env(
    target: Callable[[str], str], tmp_path: Path
) -> None:
    report, junit = tmp_path / "report.json", tmp_path / "junit.xml"
    result = replay(
        str(demo_session(tmp_path)), "--target", target("fixed"), *BEARER,
        "--json", str(report), "--junit", str(junit),
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "7 interactions: 7 passed, 0 failed" in result.stdout
    rows = rows_of(report)
    assert [r["actual_status"] for r in rows] == [200, 200, 200, 200, 101, 401, 401]
    session = rows[4]["details"]
    assert session["client_messages_sent"] == 4
    assert session["server_messages_received"] == session["server_messages_expected"] == 11
    assert_no_token(result.stdout, result.stderr, report.read_text(), junit.read_text())


def test_regressed_target_reports_realtime_handshake_101_to_500(
    target: Callable[[str], str], tmp_path: Path
) -> None:
    report, junit = tmp_path / "report.json", tmp_path / "junit.xml"
    result = replay(
        str(demo_session(tmp_path)), "--target", target("regressed"), *BEARER,
        "--json", str(report), "--junit", str(junit),
    )  # fmt: skip
    assert result.returncode == 1, result.stdout + result.stderr

    session = next(r for r in rows_of(report) if r["id"] == 5)
    assert session["type"] == "websocket" and session["path"] == "/v1/realtime"
    assert (session["expected_status"], session["actual_status"]) == (101, 500)
    assert session["ok"] is False and session["error"] is None
    assert all(r["ok"] for r in rows_of(report) if r["type"] == "http")

    lines = result.stdout.splitlines()
    assert any(
        line.startswith("FAIL") and "#5  websocket GET /v1/realtime" in line
        and line.endswith("expected 101, got 500")
        for line in lines
    ), result.stdout  # fmt: skip
    assert lines[-1].startswith("7 interactions: 5 passed, 2 failed")

    suites = ET.parse(junit).getroot()
    [suite] = suites.findall("testsuite")
    assert suite.get("failures") == "2" and suite.get("errors") == "0"
    failed = {c.get("name"): c.find("failure") for c in suite.iter("testcase")}
    failure = failed["#5 websocket GET /v1/realtime"]
    assert failure is not None and failure.get("message") == "expected 101, got 500"
    assert failed["#1 http GET /health"] is None
    assert_no_token(result.stdout, result.stderr, report.read_text(), junit.read_text())


def test_recorded_rejected_handshake_replays_as_401_without_credentials(
    target: Callable[[str], str], tmp_path: Path
) -> None:
    cassette = write(tmp_path, "rejected.yaml", websocket(1, status=401, auth=False))
    report = tmp_path / "report.json"
    result = replay(str(cassette), "--target", target("fixed"), *BEARER, "--json", str(report))
    assert result.returncode == 0, result.stdout + result.stderr
    [row] = rows_of(report)
    assert (row["expected_status"], row["actual_status"], row["ok"]) == (401, 401, True)


def test_credentials_recorded_but_not_supplied_fail_with_a_hint(
    target: Callable[[str], str], tmp_path: Path
) -> None:
    cassette = write(tmp_path, "auth.yaml", http(1, "GET", "/v1/models", 200))
    result = replay(str(cassette), "--target", target("fixed"), env={})
    assert result.returncode == 1
    assert "expected 200, got 401" in result.stdout
    assert "recorded with credentials, none supplied" in result.stdout


# --- what goes over the wire -------------------------------------------------------------------


def test_headers_sent_as_recorded_with_live_credentials_only_where_recorded(
    tmp_path: Path,
) -> None:
    witness = Witness()
    cassette = write(
        tmp_path,
        "headers.yaml",
        http(
            1, "GET", "/v1/models", 200,
            headers=(("User-Agent", "recorded-agent/1"), ("X-Api-Key", "<redacted:2>"),
                     ("X-Trace", "t-1")),
        ),
        http(
            2, "GET", "/v1/items%2F1?q=a%20b", 200, auth=False,
            headers=(("X-Session", "<redacted:3>"), ("Accept", "text/plain")),
        ),
        websocket(3, messages=[], close=Close(4000, "done", "client")),
    )  # fmt: skip
    env = {**TOKEN_ENV, "RETAPE_TEST_ALT": "alt-secret-value"}
    with serve(witness) as base:
        result = replay(
            str(cassette), "--target", base, *BEARER,
            "--header", "X-Api-Key: k-${RETAPE_TEST_ALT}", env=env,
        )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr

    first, second, session = witness.headers(0), witness.headers(1), witness.headers(2)
    assert first["authorization"] == f"Bearer {DEMO_TOKEN}"
    assert first["x-api-key"] == "k-alt-secret-value"
    assert first["user-agent"] == "recorded-agent/1"
    assert first["x-trace"] == "t-1"
    assert first["host"] == base.removeprefix("http://")
    assert [k for k, _ in witness.seen[0]["headers"]].count("authorization") == 1

    assert "authorization" not in second and "x-api-key" not in second
    assert "x-session" not in second  # a placeholder is never sent
    assert "user-agent" not in second  # nothing aiohttp made up
    assert second["accept"] == "text/plain"
    assert witness.seen[1]["raw_path"] == b"/v1/items%2F1"  # sent byte for byte
    assert witness.seen[1]["query"] == b"q=a%20b"

    assert witness.seen[2]["type"] == "websocket"
    assert session["authorization"] == f"Bearer {DEMO_TOKEN}"
    assert session["sec-websocket-protocol"] == "realtime"
    assert session["sec-websocket-key"] != "dGhlIHNhbXBsZSBub25jZQ=="
    for seen in witness.seen:
        assert all("<redacted" not in value for _, value in seen["headers"])
    assert_no_token(result.stdout, result.stderr)
    assert "alt-secret-value" not in result.stdout + result.stderr


def test_target_path_prefix_goes_before_every_recorded_path(tmp_path: Path) -> None:
    witness = Witness()
    cassette = write(
        tmp_path,
        "prefixed.yaml",
        http(1, "GET", "/v1/models", 200, auth=False),
        websocket(2, auth=False, messages=[]),
    )
    app = Starlette(routes=[Mount("/api", app=witness)])
    with serve(app) as base:
        with_prefix = replay(str(cassette), "--target", f"{base}/api/")
        without = replay(str(cassette), "--target", base, "--json", str(tmp_path / "r.json"))
    assert with_prefix.returncode == 0, with_prefix.stdout + with_prefix.stderr
    assert [s["raw_path"] for s in witness.seen] == [b"/api/v1/models", b"/api/v1/realtime"]
    assert without.returncode == 1
    assert [r["actual_status"] for r in rows_of(tmp_path / "r.json")] == [404, 403]


def test_server_closing_the_conversation_early_fails_the_row_not_the_run(tmp_path: Path) -> None:
    async def one_message_then_close(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        await send({"type": "websocket.send", "text": '{"type": "session.created"}'})
        await send({"type": "websocket.close", "code": 1011, "reason": "boom"})

    cassette = write(tmp_path, "short.yaml", websocket(1, auth=False))
    report = tmp_path / "r.json"
    with serve(one_message_then_close) as base:
        result = replay(str(cassette), "--target", base, "--json", str(report))
    assert result.returncode == 1, result.stdout + result.stderr
    [row] = rows_of(report)
    assert (row["actual_status"], row["error"], row["ok"]) == (101, None, False)
    details = row["details"]
    assert (details["server_messages_received"], details["server_messages_expected"]) == (1, 11)
    assert "1011 (internal error) boom" in details["note"]
    assert row["ws_problem"].startswith("closed 1011 after 1 of 11 server messages")
    assert "  closed 1011 after 1 of 11 server messages" in result.stdout


# --- failures that are rows, and failures that are usage errors --------------------------------


def test_silent_server_gives_timeout_rows_within_bounded_time(tmp_path: Path) -> None:
    cassette = write(
        tmp_path,
        "hang.yaml",
        http(1, "GET", "/v1/models", 200, auth=False),
        websocket(2, auth=False),
        http(3, "POST", "/v1/chat/completions", 200, auth=False, body=CHAT),
    )
    report, junit = tmp_path / "r.json", tmp_path / "j.xml"
    started = time.monotonic()
    with silent_server(hang_up=False) as base:
        result = replay(
            str(cassette), "--target", base, "--timeout", "0.5",
            "--json", str(report), "--junit", str(junit),
        )  # fmt: skip
    assert time.monotonic() - started < 20
    assert result.returncode == 1, result.stdout + result.stderr
    rows = rows_of(report)
    assert [(r["actual_status"], r["error"], r["ok"]) for r in rows] == [
        (None, "timeout after 0.5s", False)
    ] * 3
    assert "ERROR  " in result.stdout and "3 errors" in result.stdout
    errors = ET.parse(junit).getroot().findall("testsuite/testcase/error")
    assert [e.get("message") for e in errors] == [
        "expected 200, got timeout after 0.5s",
        "expected 101, got timeout after 0.5s",
        "expected 200, got timeout after 0.5s",
    ]


def test_server_hanging_up_before_any_response_is_unreachable(tmp_path: Path) -> None:
    """Accepted, then closed at once, every time: nothing answered, as with a port
    forwarder whose backend is not up. After a first answer the same is an error row
    (tests/test_replay_faults.py)."""
    cassette = write(
        tmp_path,
        "hangup.yaml",
        http(1, "GET", "/health", 200, auth=False),
        websocket(2, auth=False),
        http(3, "GET", "/health", 200, auth=False),
    )
    with silent_server(hang_up=True) as base:
        result = replay(str(cassette), "--target", base, "--timeout", "5")
    assert one_error_line(result) == (
        f"retape: cannot reach target {base}: connection closed by server before any response"
    )


def test_unreachable_target_is_one_line_exit_2(tmp_path: Path) -> None:
    port = free_port()  # nothing listens here
    result = replay(str(demo_session(tmp_path)), "--target", f"http://127.0.0.1:{port}", *BEARER)
    line = one_error_line(result)
    assert line == f"retape: cannot reach target http://127.0.0.1:{port}: connection refused"


@pytest.mark.parametrize(
    ("env", "state"), [({}, "is not set"), ({"RETAPE_TEST_KEY": ""}, "is empty")]
)
def test_missing_bearer_variable_is_one_line_naming_it(
    tmp_path: Path, env: dict[str, str], state: str
) -> None:
    port = free_port()
    result = replay(
        str(demo_session(tmp_path)), "--target", f"http://127.0.0.1:{port}", *BEARER, env=env
    )
    assert one_error_line(result) == (
        f"retape: --bearer-env: environment variable RETAPE_TEST_KEY {state}"
    )
    assert result.stdout == ""


def test_missing_header_variable_names_the_variable_not_the_value(tmp_path: Path) -> None:
    result = replay(
        str(demo_session(tmp_path)), "--target", "http://127.0.0.1:9", *BEARER,
        "--header", "X-Api-Key: ${RETAPE_TEST_NOT_SET}",
    )  # fmt: skip
    line = one_error_line(result)
    assert "RETAPE_TEST_NOT_SET" in line and "X-Api-Key" in line
    assert_no_token(result.stdout, result.stderr)


def test_invalid_cassette_is_file_line_and_no_traffic(tmp_path: Path) -> None:
    witness = Witness()
    write(tmp_path, "a-good.yaml", http(1, "GET", "/health", 200, auth=False))
    bad = write(tmp_path, "b-bad.yaml", http(1, "GET", "/health", 200, auth=False))
    bad.write_text(bad.read_text().replace("status: 200", "status: two hundred"))
    with serve(witness) as base:
        result = replay(str(tmp_path), "--target", base)
    line = one_error_line(result)
    assert re.match(r"retape: .*b-bad\.yaml:\d+: interactions\[0\]\.response\.status: ", line)
    assert witness.seen == []  # every cassette is loaded before the first request


def test_payload_that_cannot_be_sent_is_caught_before_any_traffic(tmp_path: Path) -> None:
    witness = Witness()
    broken = http(2, "POST", "/upload", 200, auth=False)
    broken.request.body = Body("base64", "%%% not base64 %%%")
    cassette = write(tmp_path, "binary.yaml", http(1, "GET", "/health", 200, auth=False), broken)
    with serve(witness) as base:
        result = replay(str(cassette), "--target", base)
    line = one_error_line(result)
    assert re.search(r"binary\.yaml:\d+: interactions\[1\]\.request\.body\.base64: not valid", line)
    assert witness.seen == []


def test_no_cassettes_found_is_exit_2(tmp_path: Path) -> None:
    line = one_error_line(replay(str(tmp_path), "--target", "http://127.0.0.1:9"))
    assert "no cassettes" in line


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ws://127.0.0.1:9", "expected an http:// or https:// URL"),
        ("http://user:hunter2@127.0.0.1:9", "credentials do not belong in the URL"),
    ],
)
def test_bad_target_is_exit_2(tmp_path: Path, url: str, message: str) -> None:
    line = one_error_line(replay(str(demo_session(tmp_path)), "--target", url))
    assert message in line
    assert "hunter2" not in line
