"""Concurrency, pacing and streaming, end to end: the real CLI against real loopback servers.

Replays run several interactions at once (``--concurrency``), cassettes side by side and
a cassette's interactions in recorded order unless ``--unordered``; whatever order the
server answers in, rows are reported in recorded order. ``--rate`` and ``--speed`` slow
the start of interactions down (only lower bounds on time are asserted, never upper
ones). Cassettes are read as the replay goes, so memory does not grow with them.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pytest
from retape.replayer.schedule import DEFAULT_CONCURRENCY
from starlette.types import Receive, Scope, Send

from retape.cassette.dump import dump_header, dump_interaction
from retape.cassette.model import Close, Interaction, Recording, Request, Response
from tests.integration.test_replay_cli import (
    BEARER,
    TOKEN_ENV,
    http,
    replay,
    rows_of,
    serve,
    websocket,
    write,
)
from tests.support import DEMO_TOKEN, PYTHON, REPO, demo_target

SESSIONS = REPO / "sessions"


class Clock:
    """An ASGI app that sleeps ``?ms=N`` before answering and records what it saw.

    ``arrived`` and ``finished`` are the paths in the order requests came in and were
    answered; ``most`` is the largest number of requests (and websocket sessions) it
    held at once; ``times`` are arrival times.
    """

    def __init__(self) -> None:
        self.arrived: list[str] = []
        self.finished: list[str] = []
        self.times: list[float] = []
        self.held = 0
        self.most = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope["path"]
        delay = float(parse_qs(scope["query_string"].decode()).get("ms", ["0"])[0]) / 1000
        self.arrived.append(path)
        self.times.append(time.monotonic())
        self.held += 1
        self.most = max(self.most, self.held)
        try:
            if scope["type"] == "websocket":
                await receive()
                await send({"type": "websocket.accept"})
                await asyncio.sleep(delay)
                await send({"type": "websocket.close", "code": 1000})
            else:
                while (await receive()).get("more_body"):
                    pass
                await asyncio.sleep(delay)
                await send({"type": "http.response.start", "status": 200, "headers": []})
                await send({"type": "http.response.body", "body": b"{}"})
        finally:
            self.held -= 1
            self.finished.append(path)


def get(ident: int, path: str, *, at: float = 0.0) -> Interaction:
    interaction = http(ident, "GET", path, 200, auth=False)
    interaction.at = at
    return interaction


def order_of(rows: list[dict[str, Any]]) -> list[tuple[str, int]]:
    return [(Path(r["cassette"]).name, r["id"]) for r in rows]


def printed_order(stdout: str) -> list[tuple[str, int]]:
    found = re.findall(r"^(?:PASS|FAIL|ERROR)\s+\S*?([^/\s]+\.yaml) #(\d+) ", stdout, re.MULTILINE)
    return [(name, int(ident)) for name, ident in found]


# --- recorded order, whatever the completion order ---------------------------------------------


def test_rows_come_back_in_recorded_order_when_the_server_answers_out_of_order(
    tmp_path: Path,
) -> None:
    """Eight cassettes side by side, the first ones slowest: answered in reverse order."""
    clock = Clock()
    for number in range(8):
        delay = (8 - number) * 60
        write(
            tmp_path,
            f"c{number}.yaml",
            get(1, f"/c{number}/1?ms={delay}"),
            get(2, f"/c{number}/2?ms={delay // 2}"),
        )
    report, lines = tmp_path / "r.json", tmp_path / "r.jsonl"
    with serve(clock) as base:
        result = replay(
            str(tmp_path), "--target", base, "--concurrency", "8",
            "--json", str(report), "--jsonl", str(lines),
        )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    recorded = [(f"c{n}.yaml", i) for n in range(8) for i in (1, 2)]
    assert order_of(rows_of(report)) == recorded
    assert printed_order(result.stdout) == recorded
    jsonl = [json.loads(line) for line in lines.read_text().splitlines()]
    assert order_of(jsonl[:-1]) == recorded
    assert clock.most >= 4  # they did run side by side...
    assert clock.finished != sorted(clock.finished)  # ...and finish out of order


def test_unordered_lets_one_cassette_overlap_and_still_reports_in_order(tmp_path: Path) -> None:
    clock = Clock()
    cassette = write(
        tmp_path, "one.yaml", *[get(i, f"/{i:02}?ms={(12 - i) * 40}") for i in range(1, 13)]
    )
    report = tmp_path / "r.json"
    with serve(clock) as base:
        result = replay(str(cassette), "--target", base, "--unordered", "--json", str(report),
                        "--concurrency", str(DEFAULT_CONCURRENCY))  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert [r["id"] for r in rows_of(report)] == list(range(1, 13))
    assert printed_order(result.stdout) == [("one.yaml", i) for i in range(1, 13)]
    assert clock.most >= 2
    assert clock.finished != sorted(clock.finished)


def test_a_cassette_keeps_its_recorded_order_by_default(tmp_path: Path) -> None:
    """A login before a call: the next request leaves only once the previous one is done."""
    clock = Clock()
    cassette = write(
        tmp_path, "one.yaml", *[get(i, f"/{i:02}?ms={(8 - i) * 30}") for i in range(1, 9)]
    )
    with serve(clock) as base:
        result = replay(str(cassette), "--target", base, "--concurrency", "8")
    assert result.returncode == 0, result.stdout + result.stderr
    expected = [f"/{i:02}" for i in range(1, 9)]
    assert clock.arrived == clock.finished == expected
    assert clock.most == 1


def test_cassettes_run_side_by_side_with_websockets_among_them(tmp_path: Path) -> None:
    clock = Clock()
    session = websocket(1, "/ws?ms=600", auth=False, messages=[], close=Close(1000, "", "server"))
    write(tmp_path, "a.yaml", session)  # the replay holds it open until the server closes
    write(tmp_path, "b.yaml", *[get(i, f"/b/{i}?ms=20") for i in range(1, 4)])
    with serve(clock) as base:  # the default, said: RETAPE_TEST_CONCURRENCY must not change it
        result = replay(str(tmp_path), "--target", base, "--concurrency", str(DEFAULT_CONCURRENCY))
    assert result.returncode == 0, result.stdout + result.stderr
    assert clock.arrived[0] == "/ws" and clock.finished[-1] == "/ws"  # open while b.yaml ran
    assert clock.most >= 2
    assert printed_order(result.stdout) == [("a.yaml", 1), ("b.yaml", 1), ("b.yaml", 2),
                                            ("b.yaml", 3)]  # fmt: skip


def test_concurrency_one_runs_one_at_a_time(tmp_path: Path) -> None:
    clock = Clock()
    for name in ("a", "b", "c"):
        write(tmp_path, f"{name}.yaml", *[get(i, f"/{name}/{i}?ms=10") for i in (1, 2)])
    with serve(clock) as base:
        result = replay(str(tmp_path), "--target", base, "--concurrency", "1", "--unordered")
    assert result.returncode == 0, result.stdout + result.stderr
    assert clock.most == 1
    assert clock.arrived == [f"/{n}/{i}" for n in "abc" for i in (1, 2)]


@pytest.mark.parametrize("variant", ["fixed", "regressed"])
def test_concurrency_does_not_change_verdicts_on_the_shipped_sessions(
    tmp_path: Path, variant: str
) -> None:
    def verdicts(*flags: str) -> list[tuple[Any, ...]]:
        report = tmp_path / "r.json"
        result = replay(str(SESSIONS), "--target", base, *BEARER, "--auth-matrix",
                        "--json", str(report), *flags)  # fmt: skip
        assert result.returncode == (0 if variant == "fixed" else 1), result.stdout
        rows = rows_of(report)
        return [(r["cassette"], r["id"], r["probe"], r["actual_status"], r["ok"]) for r in rows]

    with demo_target(variant) as base:
        one_at_a_time = verdicts("--concurrency", "1")
        default = verdicts()
        unordered = verdicts("--concurrency", "16", "--unordered")
    assert default == one_at_a_time == unordered
    if variant == "regressed":
        assert any(row[3] == 500 and not row[4] for row in default)


# --- pacing ------------------------------------------------------------------------------------


def test_rate_caps_starts_per_second(tmp_path: Path) -> None:
    clock = Clock()
    for name in ("a", "b", "c", "d"):
        write(tmp_path, f"{name}.yaml", *[get(i, f"/{name}/{i}") for i in range(1, 6)])
    with serve(clock) as base:
        result = replay(str(tmp_path), "--target", base, "--unordered", "--rate", "50")
    assert result.returncode == 0, result.stdout + result.stderr
    assert len(clock.times) == 20
    assert clock.times[-1] - clock.times[0] >= 0.3  # 19 gaps of 1/50 s


def test_speed_follows_the_recorded_gaps(tmp_path: Path) -> None:
    clock = Clock()
    cassette = write(
        tmp_path,
        "timed.yaml",
        *[get(i, f"/{i}", at=5.0 + 0.4 * (i - 1)) for i in range(1, 5)],  # 0.4 s apart
    )
    with serve(clock) as base:
        result = replay(str(cassette), "--target", base, "--speed", "2", "--unordered")
    assert result.returncode == 0, result.stdout + result.stderr
    gaps = [b - a for a, b in zip(clock.times, clock.times[1:], strict=False)]
    assert all(gap >= 0.15 for gap in gaps), gaps  # 0.2 s apart at twice the speed
    assert clock.times[-1] - clock.times[0] >= 0.55


@pytest.mark.parametrize(
    ("flag", "value"), [("--concurrency", "0"), ("--rate", "0"), ("--speed", "-1")]
)
def test_pacing_flags_must_be_positive(flag: str, value: str) -> None:
    result = replay("sessions", "--target", "http://127.0.0.1:9", flag, value)
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1 and flag in result.stderr


# --- streaming reports -------------------------------------------------------------------------


def test_jsonl_has_one_line_per_row_then_the_summary(tmp_path: Path) -> None:
    lines, report = tmp_path / "rows.jsonl", tmp_path / "r.json"
    with demo_target("regressed") as base:
        result = replay(str(SESSIONS), "--target", base, *BEARER, "--auth-matrix",
                        "--jsonl", str(lines), "--json", str(report))  # fmt: skip
    assert result.returncode == 1
    *rows, last = [json.loads(line) for line in lines.read_text().splitlines()]
    whole = json.loads(report.read_text())
    assert last == {"summary": whole["summary"]}
    assert [{**r, "duration": 0} for r in rows] == [{**r, "duration": 0} for r in whole["results"]]
    assert len(rows) == whole["summary"]["total"] > 7
    assert DEMO_TOKEN not in lines.read_text()


def test_jsonl_of_an_interrupted_run_keeps_the_rows_that_ran(tmp_path: Path) -> None:
    clock = Clock()
    cassette = write(tmp_path, "slow.yaml", *[get(i, f"/{i}?ms=300") for i in range(1, 40)])
    lines = tmp_path / "rows.jsonl"
    with serve(clock) as base:
        command = [PYTHON, "-m", "retape", "replay", str(cassette), "--target", base,
                   "--jsonl", str(lines)]  # fmt: skip
        proc = subprocess.Popen(command, cwd=REPO, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)  # fmt: skip
        try:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and len(clock.finished) < 2:
                time.sleep(0.05)
            proc.send_signal(signal.SIGINT)
            assert proc.wait(timeout=30) == 130
        finally:
            proc.kill()
            proc.wait(timeout=10)
    *rows, last = [json.loads(line) for line in lines.read_text().splitlines()]
    assert rows and [r["id"] for r in rows] == list(range(1, len(rows) + 1))
    assert last["summary"]["total"] == len(rows) < 39  # the summary of what ran


# --- memory ------------------------------------------------------------------------------------


class FastServer:
    """A bare asyncio HTTP/1.1 server answering every request ``200 {}``, keep-alive."""

    RESPONSE = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}"

    def __init__(self) -> None:
        self.requests = 0

    def protocol(self) -> asyncio.Protocol:
        server = self

        class Connection(asyncio.Protocol):
            def connection_made(self, transport: asyncio.BaseTransport) -> None:
                self.transport = transport
                self.buffer = b""

            def data_received(self, data: bytes) -> None:
                self.buffer += data
                while b"\r\n\r\n" in self.buffer:
                    head, _, rest = self.buffer.partition(b"\r\n\r\n")
                    length = re.search(rb"(?i)\r\ncontent-length:\s*(\d+)", head)
                    size = int(length.group(1)) if length else 0
                    if len(rest) < size:
                        return
                    self.buffer = rest[size:]
                    server.requests += 1
                    self.transport.write(FastServer.RESPONSE)  # type: ignore[attr-defined]

        return Connection()

    @contextlib.contextmanager
    def running(self) -> Iterator[str]:
        loop = asyncio.new_event_loop()
        started = threading.Event()
        state: dict[str, Any] = {}

        async def main() -> None:
            server = await loop.create_server(self.protocol, "127.0.0.1", 0)
            state["port"], state["stop"] = server.sockets[0].getsockname()[1], asyncio.Event()
            started.set()
            async with server:
                await state["stop"].wait()

        thread = threading.Thread(target=loop.run_until_complete, args=(main(),), daemon=True)
        thread.start()
        assert started.wait(10)
        try:
            yield f"http://127.0.0.1:{state['port']}"
        finally:
            loop.call_soon_threadsafe(state["stop"].set)
            thread.join(10)
            loop.close()


def long_cassette(path: Path, count: int) -> Path:
    """``count`` small GET interactions, written by the real dumper one item at a time."""
    with path.open("w", encoding="utf-8") as out:
        out.write(dump_header(Recording(at="2026-11-25T00:00:00+00:00")))
        for ident in range(1, count + 1):
            request = Request("GET", f"/items/{ident}", [("Host", "recorded.example")])
            out.write(dump_interaction(Interaction(ident, "http", request, Response(200))))
    return path


def peak_rss_kib(args: list[str], *, timeout: float) -> tuple[int, int]:
    """Run a child; its exit code and peak resident memory (KiB), from its own rusage."""
    proc = subprocess.Popen(args, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            env={**os.environ, **TOKEN_ENV})  # fmt: skip
    deadline = time.monotonic() + timeout
    try:
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                proc.returncode = os.waitstatus_to_exitcode(status)
                return proc.returncode, usage.ru_maxrss
            assert time.monotonic() < deadline, f"still running after {timeout}s"
            time.sleep(0.05)
    finally:
        if proc.returncode is None:
            proc.kill()
            proc.wait(timeout=10)


LONG = int(os.environ.get("RETAPE_TEST_LONG_CASSETTE", "100000"))


def test_memory_stays_flat_however_long_the_cassette(tmp_path: Path) -> None:
    short = long_cassette(tmp_path / "short.yaml", 1000)
    long = long_cassette(tmp_path / "long.yaml", LONG)
    server = FastServer()
    peaks = {}
    with server.running() as base:
        for cassette in (short, long):
            command = [PYTHON, "-m", "retape", "replay", str(cassette), "--target", base,
                       "--unordered"]  # fmt: skip
            code, peaks[cassette.name] = peak_rss_kib(command, timeout=150)
            assert code == 0
    assert server.requests == 1000 + LONG
    print(f"peak RSS, KiB: {peaks}")
    assert peaks["long.yaml"] <= 1.5 * peaks["short.yaml"], peaks
