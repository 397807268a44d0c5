"""`retape replay` against real faults (issue 5): it reports them, it never crashes or hangs.

Every fault here is real and on 127.0.0.1: nothing listening, a server that resets or
hangs up, one that reads and never answers, websockets that go quiet, close early or
say too much, a slow server cut off by --deadline, an https server whose CA is not
trusted, and Ctrl-C or SIGTERM mid-run. Every wait is bounded.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import json
import os
import queue
import re
import signal
import socket
import struct
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from ssl import CERT_NONE, CERT_REQUIRED
from typing import Any

import pytest
import uvicorn
from retape.replayer.interrupts import Signals, sigterm_as_ctrl_c
from retape.replayer.net.target import (
    CLOSED_BY_SERVER,
    describe_os_error,
    parse_target,
    unreachable,
)
from starlette.applications import Starlette
from starlette.routing import Mount
from starlette.types import ASGIApp, Receive, Scope, Send

from retape.cassette.model import Close, Interaction, Message
from retape.common.errors import RetapeError
from tests.integration.test_replay_cli import (
    client,
    http,
    one_error_line,
    replay,
    rows_of,
    server,
    websocket,
    write,
)
from tests.recorder_support import private_ca
from tests.support import PYTHON, REPO, free_port, wait_for_port

# A short conversation: the server greets, the client asks, the server answers.
CONVERSATION = [
    server("session.created"),
    client({"type": "session.update"}),
    server("session.updated"),
]
WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # RFC 6455 section 1.3
BOUND = 30.0  # seconds any one replay here may take, faults included


def ws(
    ident: int, path: str = "/v1/realtime", messages: list[Message] | None = None
) -> Interaction:
    return websocket(
        ident,
        path,
        auth=False,
        messages=list(CONVERSATION if messages is None else messages),
        close=Close(1000, "", "client"),
    )


def get(ident: int, path: str = "/health") -> Interaction:
    return http(ident, "GET", path, 200, auth=False)


def timed_replay(*args: str) -> tuple[subprocess.CompletedProcess, float]:
    started = time.monotonic()
    result = replay(*args, env={})
    return result, time.monotonic() - started


# --- servers that misbehave at the socket level ------------------------------------------------

Handler = Callable[[socket.socket, int, "RawServer"], None]


class RawServer:
    """A TCP listener on a free loopback port whose ``handle`` decides what each connection gets.

    Connections are numbered in accept order. Each is handled on its own thread, and
    everything is closed when the block ends, so a held connection never outlives a test.
    """

    def __init__(self, handle: Handler) -> None:
        self.handle = handle
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(0.1)
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        self.done = threading.Event()
        self.conns: list[socket.socket] = []
        self.threads: list[threading.Thread] = []

    def stop_listening(self) -> None:
        """From now on a connect is refused, as when a server goes away."""
        with contextlib.suppress(OSError):
            self.listener.shutdown(socket.SHUT_RDWR)

    def _accept(self) -> None:
        count = 0
        while not self.done.is_set():
            try:
                conn, _ = self.listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            conn.settimeout(BOUND)
            self.conns.append(conn)
            thread = threading.Thread(target=self._run, args=(conn, count), daemon=True)
            self.threads.append(thread)
            thread.start()
            count += 1

    def _run(self, conn: socket.socket, count: int) -> None:
        with contextlib.suppress(OSError):
            self.handle(conn, count, self)

    @contextlib.contextmanager
    def running(self) -> Iterator[str]:
        acceptor = threading.Thread(target=self._accept, daemon=True)
        acceptor.start()
        try:
            yield self.url
        finally:
            self.done.set()
            acceptor.join(5)
            for conn in self.conns:
                with contextlib.suppress(OSError):
                    conn.close()
            for thread in self.threads:
                thread.join(5)
            self.listener.close()


def read_request(conn: socket.socket) -> bytes:
    """The request head (these servers only ever get GETs and websocket upgrades)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(4096)
        if not chunk:
            break
        data += chunk
    return data


def reset(conn: socket.socket) -> None:
    """Close with SO_LINGER 0: the peer gets an RST, not a FIN."""
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    conn.close()


def resets_everything(conn: socket.socket, count: int, raw: RawServer) -> None:
    reset(conn)


def reads_and_hangs(conn: socket.socket, count: int, raw: RawServer) -> None:
    read_request(conn)
    raw.done.wait(BOUND)  # holds the connection open, answering nothing


def upgrades_and_hangs(conn: socket.socket, count: int, raw: RawServer) -> None:
    """Completes the websocket handshake, then says nothing, not even to a close."""
    head = read_request(conn).decode("latin-1")
    key = re.search(r"(?im)^sec-websocket-key:\s*(\S+)", head)
    accept = base64.b64encode(hashlib.sha1(f"{key[1] if key else ''}{WS_GUID}".encode()).digest())
    conn.sendall(
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Protocol: realtime\r\nSec-WebSocket-Accept: " + accept + b"\r\n\r\n"
    )
    raw.done.wait(BOUND)


def by_path(conn: socket.socket, count: int, raw: RawServer) -> None:
    """``/reset``: reset after reading the request; ``/gone``: answer, then refuse all later."""
    path = read_request(conn).split(b" ", 2)[1]
    if path == b"/reset":
        reset(conn)
        return
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}")
    conn.close()
    if path == b"/gone":
        raw.stop_listening()


# --- servers that misbehave at the HTTP and websocket level ------------------------------------


@contextlib.contextmanager
def serve(app: ASGIApp, **tls: str) -> Iterator[str]:
    """Run an ASGI app with uvicorn on a free loopback port in a thread (https with ``tls``)."""
    port = free_port()
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_level="critical", lifespan="off", **tls
    )
    server_ = uvicorn.Server(config)
    thread = threading.Thread(target=server_.run, daemon=True)
    thread.start()
    try:
        wait_for_port(port)
        yield f"{'https' if tls else 'http'}://127.0.0.1:{port}"
    finally:
        server_.should_exit = True
        thread.join(10)


async def _answer(send: Send, status: int, body: bytes) -> None:
    headers = [(b"content-type", b"application/json")]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _until_disconnect(receive: Receive) -> None:
    while (await receive())["type"] != "websocket.disconnect":
        pass


def text(kind: str) -> dict[str, str]:
    return {"type": "websocket.send", "text": json.dumps({"type": kind})}


async def api(scope: Scope, receive: Receive, send: Send) -> None:
    """A well-behaved target: JSON over HTTP and the recorded websocket conversation."""
    if scope["type"] == "http":
        await _answer(send, 200, b'{"data": [{"id": "demo-model"}]}')
        return
    await receive()
    await send({"type": "websocket.accept"})
    await send(text("session.created"))
    await receive()  # session.update
    await send(text("session.updated"))
    await _until_disconnect(receive)


async def misbehaving(scope: Scope, receive: Receive, send: Send) -> None:
    """Websockets that go quiet, close early or say too much; HTTP that is fine."""
    if scope["type"] == "http":
        await _answer(send, 200, b"{}")
        return
    await receive()
    await send({"type": "websocket.accept"})
    if scope["path"] == "/short":
        await send(text("session.created"))
        await send({"type": "websocket.close", "code": 1011, "reason": "boom"})
        return
    if scope["path"] == "/chatty":
        for kind in ("session.created", "rate_limits.updated", "rate_limits.updated"):
            await send(text(kind))
    # "/silent" sends nothing at all
    await _until_disconnect(receive)


def slow(delay: float) -> ASGIApp:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await asyncio.sleep(delay)
            await _answer(send, 200, b"{}")
            return
        await receive()
        await send({"type": "websocket.accept"})
        await _until_disconnect(receive)  # accepted, then silent

    return app


# --- the target cannot be reached at all: one line, exit 2 -------------------------------------

FIRST_HTTP = [get(1), ws(2), get(3)]
FIRST_WEBSOCKET = [ws(1), get(2), ws(3)]
FIRST = pytest.mark.parametrize("first", [FIRST_HTTP, FIRST_WEBSOCKET], ids=["http", "websocket"])


@FIRST
def test_nothing_listening_is_one_line_exit_2(tmp_path: Path, first: list[Interaction]) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    result, took = timed_replay(str(write(tmp_path, "c.yaml", *first)), "--target", url)
    assert one_error_line(result) == f"retape: cannot reach target {url}: connection refused"
    assert took < BOUND


@FIRST
def test_server_resetting_every_connection_is_one_line_exit_2(
    tmp_path: Path, first: list[Interaction]
) -> None:
    with RawServer(resets_everything).running() as url:
        result, took = timed_replay(str(write(tmp_path, "c.yaml", *first)), "--target", url)
    assert one_error_line(result) == (
        f"retape: cannot reach target {url}: connection closed by server before any response"
    )
    assert took < BOUND


@FIRST
def test_unresolvable_host_is_one_line_exit_2_without_hanging(
    tmp_path: Path, first: list[Interaction]
) -> None:
    url = "http://retape-test.invalid:8000"  # .invalid never resolves (RFC 6761)
    result, took = timed_replay(str(write(tmp_path, "c.yaml", *first)), "--target", url)
    line = one_error_line(result)
    assert line.startswith(f"retape: cannot reach target {url}: cannot resolve host ("), line
    assert took < BOUND


# --- once the target answered, a failure is one row and the replay goes on ---------------------


def test_resets_and_refusals_after_the_first_answer_are_rows(tmp_path: Path) -> None:
    cassette = write(
        tmp_path, "c.yaml",
        get(1, "/ok"), get(2, "/reset"), ws(3, "/reset"), get(4, "/gone"), get(5), ws(6),
    )  # fmt: skip
    report = tmp_path / "r.json"
    with RawServer(by_path).running() as url:
        result, took = timed_replay(str(cassette), "--target", url, "--json", str(report))
    assert result.returncode == 1, result.stdout + result.stderr
    assert [(r["actual_status"], r["error"]) for r in rows_of(report)] == [
        (200, None),
        (None, "connection closed by server"),
        (None, "connection closed by server"),
        (200, None),
        (None, "cannot connect: connection refused"),
        (None, "cannot connect: connection refused"),
    ]
    kinds = [r["error_kind"] for r in rows_of(report)]
    assert kinds == [None, "closed", "closed", None, "refused", "refused"]
    assert "6 interactions: 2 passed, 0 failed, 4 errors" in result.stdout
    assert result.stderr == "" and took < BOUND


def test_server_that_reads_and_never_answers_gives_timeout_rows(tmp_path: Path) -> None:
    cassette = write(tmp_path, "c.yaml", get(1), ws(2), get(3))
    report = tmp_path / "r.json"
    with RawServer(reads_and_hangs).running() as url:
        result, took = timed_replay(
            str(cassette), "--target", url, "--timeout", "0.5", "--json", str(report)
        )
    assert result.returncode == 1, result.stdout + result.stderr
    assert [r["error"] for r in rows_of(report)] == ["timeout after 0.5s"] * 3
    assert [r["error_kind"] for r in rows_of(report)] == ["timeout"] * 3
    assert took < 10


def test_misbehaving_websockets_are_reported_per_interaction_and_the_replay_goes_on(
    tmp_path: Path,
) -> None:
    cassette = write(
        tmp_path,
        "ws.yaml",
        ws(1, "/silent"),
        ws(2, "/short"),
        ws(3, "/chatty", messages=[server("session.created")]),
        get(4),
    )
    report = tmp_path / "r.json"
    with serve(misbehaving) as url:
        judged, took = timed_replay(
            str(cassette), "--target", url, "--timeout", "0.5",
            "--compare", "messages", "--json", str(report),
        )  # fmt: skip
        status_only, _ = timed_replay(str(cassette), "--target", url, "--timeout", "0.5")
    assert judged.returncode == 1, judged.stdout + judged.stderr
    silent, short, chatty, health = rows_of(report)

    assert (silent["actual_status"], silent["ok"], silent["error"]) == (101, False, None)
    assert silent["details"]["server_messages_received"] == 0
    assert silent["details"]["note"] == (
        "timeout after 0.5s waiting for server message 1; server silent: conversation ended"
    )
    assert silent["ws_problem"] == "the server sent nothing: 0 of 2 server messages"

    assert (short["actual_status"], short["ok"], short["error"]) == (101, False, None)
    assert short["details"]["server_messages_received"] == 1
    assert "connection closed early: 1011 (internal error) boom" in short["details"]["note"]
    assert (short["ws_closed_by"], short["ws_close_code"], short["ws_session_ok"]) == (
        "server",
        1011,
        False,
    )
    assert short["ws_problem"].startswith("closed 1011 after 1 of 2 server messages")

    # The recorded client closed after the greeting: so does the replay, at once. What the
    # server says after the recording ended is not waited for (no listening window).
    assert (chatty["actual_status"], chatty["ok"]) == (101, True)
    assert chatty["details"]["server_messages_received"] >= 1
    assert chatty["ws_closed_by"] == "client" and chatty["ws_session_ok"] is True

    assert health["ok"] is True and "ws_session_ok" not in health
    assert "the server sent nothing: 0 of 2 server messages" in judged.stdout
    assert took < BOUND

    # Status only: the handshakes matched, but two sessions did not run, and that fails.
    assert status_only.returncode == 1, status_only.stdout + status_only.stderr
    assert re.search(
        r"FAIL .*#2  websocket GET /short  closed 1011 after 1 of 2 server messages",
        status_only.stdout,
    ), status_only.stdout


# --- --timeout bounds each wait, --deadline the whole run --------------------------------------


def test_deadline_reports_every_remaining_interaction_as_not_run(tmp_path: Path) -> None:
    cassette = write(tmp_path, "slow.yaml", *(get(i) for i in range(1, 9)))
    report = tmp_path / "r.json"
    with serve(slow(0.4)) as url:
        result, took = timed_replay(
            str(cassette), "--target", url, "--deadline", "1", "--json", str(report)
        )
    assert result.returncode == 1, result.stdout + result.stderr
    rows = rows_of(report)
    assert len(rows) == 8  # none silently dropped
    errors = [r["error"] for r in rows]
    ran = errors.index(next(e for e in errors if e is not None))
    assert 1 <= ran <= 3 and errors[:ran] == [None] * ran
    assert errors[ran] in ("stopped: deadline reached", "not run: deadline reached")
    assert errors[ran + 1 :] == ["not run: deadline reached"] * (7 - ran)
    assert [r["error_kind"] for r in rows[ran:]] == ["deadline"] * (8 - ran)
    assert "deadline of 1s reached: nothing more is sent" in result.stdout
    assert re.search(r"#8  http GET /health  expected 200, not run: deadline reached$",
                     result.stdout, re.M)  # fmt: skip
    duration = json.loads(report.read_text())["summary"]["duration"]
    assert duration < 2.0 and took < BOUND  # all eight would take 3.2s


def test_deadline_stops_an_interaction_that_hangs(tmp_path: Path) -> None:
    cassette = write(tmp_path, "hang.yaml", ws(1), get(2), ws(3))
    report = tmp_path / "r.json"
    with serve(slow(60)) as url:  # the websocket is accepted, then never says a word
        result, took = timed_replay(
            str(cassette), "--target", url, "--timeout", "60", "--deadline", "1",
            "--json", str(report),
        )  # fmt: skip
    assert result.returncode == 1, result.stdout + result.stderr
    assert [r["error"] for r in rows_of(report)] == [
        "stopped: deadline reached",
        "not run: deadline reached",
        "not run: deadline reached",
    ]
    assert "3 interactions: 0 passed, 0 failed, 3 errors" in result.stdout
    assert json.loads(report.read_text())["summary"]["duration"] < 5 and took < BOUND


def test_deadline_stops_a_websocket_that_never_answers_even_a_close(tmp_path: Path) -> None:
    cassette = write(tmp_path, "hang.yaml", ws(1), get(2))
    report = tmp_path / "r.json"
    with RawServer(upgrades_and_hangs).running() as url:
        result, took = timed_replay(
            str(cassette), "--target", url, "--timeout", "60", "--deadline", "1",
            "--json", str(report),
        )  # fmt: skip
    assert result.returncode == 1, result.stdout + result.stderr
    assert [(r["actual_status"], r["error"]) for r in rows_of(report)] == [
        (None, "stopped: deadline reached"),
        (None, "not run: deadline reached"),
    ]
    assert json.loads(report.read_text())["summary"]["duration"] < 5 and took < BOUND


# --- where the target is: a path prefix, https ---------------------------------------------------

SESSION = [get(1, "/v1/models"), ws(2)]


def test_prefixed_target_replays_http_and_a_websocket_conversation(tmp_path: Path) -> None:
    cassette = write(tmp_path, "api.yaml", *SESSION)
    app = Starlette(routes=[Mount("/api", app=api)])
    report = tmp_path / "r.json"
    with serve(app) as url:
        prefixed, _ = timed_replay(
            str(cassette), "--target", f"{url}/api", "--compare", "status,messages",
            "--json", str(report),
        )  # fmt: skip
        bare, _ = timed_replay(str(cassette), "--target", url)
    assert prefixed.returncode == 0, prefixed.stdout + prefixed.stderr
    conversation = rows_of(report)[1]["details"]
    assert conversation["server_messages_received"] == conversation["server_messages_expected"]
    assert bare.returncode == 1 and "expected 200, got 404" in bare.stdout


@pytest.fixture(scope="module")
def https_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """The API under /api over https, with a certificate from a CA nobody trusts by default."""
    ca, cert, key = private_ca(tmp_path_factory.mktemp("tls"))
    app = Starlette(routes=[Mount("/api", app=api)])
    with serve(app, ssl_certfile=str(cert), ssl_keyfile=str(key)) as url:
        yield f"{url}/api", ca


@FIRST
def test_https_target_with_an_untrusted_certificate_names_both_flags(
    tmp_path: Path, https_api: tuple[str, Path], first: list[Interaction]
) -> None:
    url, _ = https_api
    result, _ = timed_replay(str(write(tmp_path, "c.yaml", *first)), "--target", url)
    line = one_error_line(result)
    assert line.startswith(f"retape: cannot reach target {url}: certificate verification failed")
    assert "--ca-file" in line and "--insecure" in line


def test_https_target_checked_against_another_ca_fails_the_same_way(
    tmp_path: Path, https_api: tuple[str, Path]
) -> None:
    url, _ = https_api
    other_ca, _, _ = private_ca(tmp_path)
    cassette = write(tmp_path, "c.yaml", *SESSION)
    result, _ = timed_replay(str(cassette), "--target", url, "--ca-file", str(other_ca))
    assert "certificate verification failed" in one_error_line(result)


@pytest.mark.parametrize("trust", ["--ca-file", "--insecure"])
def test_https_target_passes_with_its_ca_or_without_verification(
    tmp_path: Path, https_api: tuple[str, Path], trust: str
) -> None:
    url, ca = https_api
    flags = ["--ca-file", str(ca)] if trust == "--ca-file" else ["--insecure"]
    cassette = write(tmp_path, "c.yaml", *SESSION)
    report = tmp_path / "r.json"
    result, _ = timed_replay(
        str(cassette), "--target", url, *flags, "--compare", "messages", "--json", str(report)
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert [r["actual_status"] for r in rows_of(report)] == [200, 101]
    assert rows_of(report)[1]["details"]["server_messages_received"] == 2


def test_https_target_that_speaks_plain_http_says_so(tmp_path: Path) -> None:
    with serve(api) as url:
        result, _ = timed_replay(
            str(write(tmp_path, "c.yaml", *SESSION)), "--target", url.replace("http:", "https:")
        )
    assert one_error_line(result).endswith(
        "TLS error (WRONG_VERSION_NUMBER): does the target speak plain http?"
    )


# --- Ctrl-C and SIGTERM ------------------------------------------------------------------------


def _lines(stream: Any, into: queue.Queue[str | None]) -> None:
    for line in stream:
        into.put(line)
    into.put(None)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
@pytest.mark.parametrize("fault", ["slow", "hanging"])
def test_interrupt_prints_what_ran_and_exits_130(
    tmp_path: Path, sig: signal.Signals, fault: str
) -> None:
    """The first rows (slow), or none at all (an accepted websocket that never speaks)."""
    interactions = [get(i) for i in range(1, 31)]
    if fault == "hanging":
        interactions = [ws(1), *interactions[1:]]
    cassette = write(tmp_path, "long.yaml", *interactions)
    report = tmp_path / "r.json"
    with serve(slow(0.2)) as url:
        proc = subprocess.Popen(
            [PYTHON, "-m", "retape", "replay", str(cassette), "--target", url,
             "--timeout", "60", "--json", str(report)],
            cwd=REPO, env={**os.environ, "CI": "true"}, stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        lines: queue.Queue[str | None] = queue.Queue()
        reader = threading.Thread(target=_lines, args=(proc.stdout, lines), daemon=True)
        reader.start()
        try:
            wanted = "PASS" if fault == "slow" else "replaying"
            while not (line := lines.get(timeout=BOUND) or "").startswith(wanted):
                assert line, "retape exited before the signal"
            if fault == "hanging":
                time.sleep(0.5)  # well into the silent conversation
            proc.send_signal(sig)
            proc.wait(BOUND)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(BOUND)
            reader.join(BOUND)
    stdout = "".join(iter(lines.get_nowait, None))
    stderr = proc.stderr.read() if proc.stderr else ""
    assert proc.returncode == 130, stdout + stderr
    assert stderr == "retape: interrupted\n"
    ran = len(rows_of(report))
    assert ran < 30
    if fault == "slow":
        assert ran >= 1
    summary = f"{ran} interaction{'s' if ran != 1 else ''}: {ran} passed, 0 failed in "
    assert summary in stdout
    assert f"interrupted by {sig.name}: the summary covers only the rows that ran" in stdout
    assert stdout.rstrip().endswith("the summary covers only the rows that ran")


# --- bad input: one line, exit 2, naming the file and place -------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--deadline", "0"], "argument --deadline: expected a positive number of seconds"),
        (["--deadline", "soon"], "argument --deadline: expected a number of seconds"),
        (["--ca-file", "/nonexistent/ca.pem"], "--ca-file /nonexistent/ca.pem: no such file"),
        (["--ca-file", "{cassette}"], "{cassette}: not a PEM file of CA certificates"),
        (["--insecure", "--ca-file", "{cassette}"], "not allowed with argument --insecure"),
        (["--target", "http://127.0.0.1:9/a b"], "--target: invalid URL"),
        (["--target", "http://127.0.0.1:0"], "--target: invalid URL"),
    ],
)
def test_bad_flags_are_one_line_exit_2(tmp_path: Path, args: list[str], message: str) -> None:
    cassette = str(write(tmp_path, "c.yaml", get(1)))
    args = [a.replace("{cassette}", cassette) for a in args]
    if "--target" not in args:
        args += ["--target", "https://127.0.0.1:9"]
    result = replay(cassette, *args, env={})
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("retape")
    assert "Traceback" not in result.stderr
    assert message.replace("{cassette}", cassette) in result.stderr


@pytest.mark.parametrize(
    ("content", "place"),
    [
        (b"", r":1: not a retape cassette"),
        (b"\xff\xfe\x00binary", r":1: not UTF-8 text"),
        (b"retape: 1\ninteractions: [\n", r":3: invalid YAML"),
        (b"retape: 1\ninteractions:\n\t- id: 1\n", r":3: invalid YAML"),
    ],
    ids=["empty", "binary", "truncated", "tab"],
)
def test_malformed_cassettes_are_one_line_naming_file_and_line(
    tmp_path: Path, content: bytes, place: str
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_bytes(content)
    line = one_error_line(replay(str(bad), "--target", f"http://127.0.0.1:{free_port()}", env={}))
    assert re.match(rf"retape: {re.escape(str(bad))}{place}", line), line


# --- the pure parts ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (ConnectionRefusedError(111, "Connection refused"), "connection refused"),
        (ConnectionResetError(104, "Connect call failed ('127.0.0.1', 9)"), CLOSED_BY_SERVER),
        (BrokenPipeError(32, "Broken pipe"), CLOSED_BY_SERVER),
        (OSError(113, "Connect call failed ('10.0.0.1', 80)"), "no route to host"),
        (OSError("Multiple exceptions: [Errno 111] Connect call failed"), "connection refused"),
        (socket.gaierror(-2, "Name or service not known"), "cannot resolve host (Name or"),
    ],
)
def test_connect_failures_read_as_short_reasons(error: OSError, reason: str) -> None:
    assert describe_os_error(error).startswith(reason)


def test_a_hang_up_before_any_response_reads_differently_as_a_row() -> None:
    gone = unreachable(ConnectionResetError(104, "Connection reset by peer"))
    assert gone.reason == "connection closed by server before any response"
    assert gone.row == "connection closed by server"
    assert unreachable(ConnectionRefusedError(111, "x")).row == "cannot connect: connection refused"


def test_tls_flags_build_one_context_for_https_targets_only(tmp_path: Path) -> None:
    ca, _, _ = private_ca(tmp_path)
    assert parse_target("http://127.0.0.1:9", insecure=True).tls is None
    strict = parse_target("https://127.0.0.1:9").tls
    assert strict is not None and strict.verify_mode is CERT_REQUIRED and strict.check_hostname
    lax = parse_target("https://127.0.0.1:9", insecure=True).tls
    assert lax is not None and lax.verify_mode is CERT_NONE and not lax.check_hostname
    private = parse_target("https://127.0.0.1:9", ca_file=str(ca)).tls
    assert private is not None and private.check_hostname
    assert private.get_ca_certs()[0]["subject"] == ((("commonName", "retape test CA"),),)
    with pytest.raises(RetapeError, match="contradict"):
        parse_target("https://127.0.0.1:9", insecure=True, ca_file=str(ca))


def test_sigterm_raises_keyboard_interrupt_like_ctrl_c(monkeypatch: pytest.MonkeyPatch) -> None:
    if threading.current_thread() is not threading.main_thread():
        pytest.skip("signal handlers can only be set from the main thread")
    signals = Signals()
    with sigterm_as_ctrl_c(signals), pytest.raises(KeyboardInterrupt):
        signal.raise_signal(signal.SIGTERM)
    assert signals.name == "SIGTERM"
    # Even where Ctrl-C is ignored (a background job), SIGTERM still stops the run.
    monkeypatch.setattr(signal, "getsignal", lambda signum: signal.SIG_IGN)
    with pytest.raises(KeyboardInterrupt):
        signals.on_sigterm(signal.SIGTERM, None)
