"""The recorder's writer process: bounded hand-over, written before acknowledged, drained."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path

from retape.recorder.sink import Sink, SinkConfig
from retape.recorder.snapshot import BodySnapshot, FlowSnapshot, RequestSnapshot, ResponseSnapshot

from retape.cassette import load_cassette
from retape.cassette.model import Recording
from retape.cassette.rules import Rules

TIMEOUT = 30.0


def snapshot(number: int) -> FlowSnapshot:
    body = BodySnapshot(b'{"n": %d}' % number, "application/json", "")
    return FlowSnapshot(
        kind="http",
        request=RequestSnapshot(
            "POST",
            f"/echo?n={number}".encode(),
            ((b"Authorization", b"Bearer tok-sink-secret-0123456789"),),
            body,
        ),
        response=ResponseSnapshot(200, "OK", ((b"Content-Type", b"application/json"),), body),
        started=1000.0 + number,
        ended=1000.5 + number,
        http_version="HTTP/1.1",
    )


def open_sink(out: Path, problems: list[str | None], **bounds: int) -> Sink:
    config = SinkConfig(
        path=str(out),
        recording=Recording(at="2026-01-01T00:00:00+00:00"),
        rules=Rules(),
        durable=False,
        started=1000.0,
        max_body=1 << 20,
    )
    return Sink(config, problems.append, **bounds)


def recorded_numbers(out: Path) -> list[int]:
    return [int(i.request.path.split("=")[1]) for i in load_cassette(out).interactions]


async def wait_for(condition, what: str) -> None:
    deadline = time.monotonic() + TIMEOUT
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.01)


def test_a_full_hand_over_holds_back_new_flows_until_the_writer_catches_up(tmp_path):
    out, problems = tmp_path / "c.yaml", []
    sink = open_sink(out, problems, max_pending=2)

    async def scenario() -> None:
        os.kill(sink._proc.pid, signal.SIGSTOP)  # a writer stuck on a slow disk
        try:
            futures = [sink.submit(snapshot(n)) for n in range(5)]
            await asyncio.sleep(0.3)
            assert sink.pending == 2, "more than the bound was handed over"
            assert not any(f.done() for f in futures), "acknowledged before written"
        finally:
            os.kill(sink._proc.pid, signal.SIGCONT)
        await asyncio.wait_for(asyncio.gather(*futures), TIMEOUT)
        assert sink.pending == 0

    asyncio.run(scenario())
    sink.close()
    assert problems == [None] * 5
    assert recorded_numbers(out) == [0, 1, 2, 3, 4]
    assert "tok-sink-secret" not in out.read_text()  # redacted in the writer


def test_each_acknowledgement_comes_after_its_block_is_on_disk(tmp_path):
    out, problems = tmp_path / "c.yaml", []
    sink = open_sink(out, problems)
    seen_on_disk: list[int] = []

    async def scenario() -> None:
        for number in range(4):
            future = sink.submit(snapshot(number))
            await asyncio.wait_for(future, TIMEOUT)
            seen_on_disk.append(len(recorded_numbers(out)))

    asyncio.run(scenario())
    sink.close()
    assert seen_on_disk == [1, 2, 3, 4]


def test_close_writes_everything_handed_over_and_a_bad_block_costs_only_itself(tmp_path):
    out, problems = tmp_path / "c.yaml", []
    sink = open_sink(out, problems, max_pending=3)
    bad = FlowSnapshot(
        kind="http",
        request=RequestSnapshot("GET", b"no-leading-slash", (), None),
        response=ResponseSnapshot(200, "OK", (), None),
        started=1000.0,
        ended=1000.1,
        http_version="HTTP/1.1",
    )
    for number in range(3):
        assert sink.submit(snapshot(number)) is None  # outside a loop: blocking hand-over
    sink.submit(bad)
    for number in range(3, 10):
        sink.submit(snapshot(number))
    sink.close()
    assert recorded_numbers(out) == list(range(10))
    assert problems.count(None) == 10 and len(problems) == 11
    assert "path" in next(p for p in problems if p)
    assert sink._proc.returncode == 0


def test_a_writer_that_cannot_lock_the_cassette_refuses_at_start(tmp_path):
    out = tmp_path / "c.yaml"
    first = open_sink(out, [])
    try:
        try:
            open_sink(out, [])
        except Exception as exc:  # the writer's own CassetteError, passed on
            assert "another recorder is writing this cassette" in str(exc)
        else:
            raise AssertionError("a second writer started on a locked cassette")
    finally:
        first.close()
