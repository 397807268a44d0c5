"""Running benchmark processes: bounded, timed, on loopback, always stopped.

Servers come from :mod:`demo.processes` (free ports, a bounded wait for the listener,
a stop that escalates to SIGKILL). Every child here has a timeout; a child that fails
raises :class:`BenchError` with the end of what it printed.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from demo.processes import REPO, free_port, running

PYTHON = sys.executable
MITMDUMP = str(Path(PYTHON).with_name("mitmdump"))
TOKEN_ENV = "RETAPE_BENCH_TOKEN"
ENV = {**os.environ, TOKEN_ENV: "bench-token", "BENCH_TOKEN": "bench-token", "CI": "true"}


class BenchError(RuntimeError):
    """A benchmark process failed; the message says which and how."""


@dataclass(frozen=True)
class Finished:
    returncode: int
    wall: float  # seconds from start to exit
    maxrss_kb: int  # peak resident set; includes the harness's: see bench/peak.py
    stdout: str
    stderr: str
    cpu: float = 0.0  # user + system seconds of this child


def run(
    args: Sequence[str],
    *,
    timeout: float,
    env: dict[str, str] | None = None,
    ok: Sequence[int] = (0,),
) -> Finished:
    """Run to completion (killed after ``timeout``); wall time and this child's peak RSS.

    ``os.wait4`` gives the resource usage of exactly this child, where
    ``RUSAGE_CHILDREN`` would mix in every process waited for before.
    """
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        started = time.perf_counter()
        proc = subprocess.Popen(
            list(args), cwd=REPO, env=env or ENV, stdout=out, stderr=err, stdin=subprocess.DEVNULL
        )
        deadline = started + timeout
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() > deadline:
                proc.kill()
                pid, status, usage = os.wait4(proc.pid, 0)
                break
            time.sleep(0.005)
        wall = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)  # Popen must not wait again
        out.seek(0)
        err.seek(0)
        cpu = usage.ru_utime + usage.ru_stime
        result = Finished(proc.returncode, wall, usage.ru_maxrss, out.read(), err.read(), cpu)
    if result.returncode not in ok:
        tail = (result.stderr or result.stdout)[-1500:]
        raise BenchError(f"{' '.join(args[:4])}... exited {result.returncode}: {tail}")
    return result


class Started:
    """A child left running while others run; :meth:`finish` waits for it, bounded."""

    def __init__(self, args: Sequence[str], out: IO[str]) -> None:
        self._out = out
        self._started = time.perf_counter()
        self.args = list(args)
        self.proc = subprocess.Popen(
            self.args,
            cwd=REPO,
            env=ENV,
            stdout=self._out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )

    def finish(self, *, timeout: float) -> Finished:
        deadline = time.perf_counter() + timeout
        while True:
            pid, status, usage = os.wait4(self.proc.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() > deadline:
                self.proc.kill()
                pid, status, usage = os.wait4(self.proc.pid, 0)
                break
            time.sleep(0.005)
        self.proc.returncode = os.waitstatus_to_exitcode(status)
        self._out.seek(0)
        text = self._out.read()
        wall = time.perf_counter() - self._started
        done = Finished(
            self.proc.returncode, wall, usage.ru_maxrss, text, "", usage.ru_utime + usage.ru_stime
        )
        if done.returncode != 0:
            raise BenchError(
                f"{' '.join(self.args[:4])}... exited {done.returncode}: {text[-1500:]}"
            )
        return done


@contextlib.contextmanager
def started(args: Sequence[str]) -> Iterator[Started]:
    """Start ``args``; kill it on the way out if nobody finished it."""
    with tempfile.TemporaryFile("w+") as out:
        child = Started(args, out)
        try:
            yield child
        finally:
            if child.proc.returncode is None and child.proc.poll() is None:
                child.proc.kill()
                child.proc.wait(10)


def run_json(args: Sequence[str], *, timeout: float) -> dict[str, Any]:
    """Run a child that prints one JSON line; return it."""
    finished = run(args, timeout=timeout)
    return json.loads(finished.stdout.strip().splitlines()[-1])


@contextlib.contextmanager
def http_server() -> Iterator[str]:
    """The benchmark HTTP (+ websocket echo) target; yields its base URL."""
    port = free_port()
    with running([PYTHON, "-m", "bench.servers", "http", "--port", str(port)], port=port):
        yield f"http://127.0.0.1:{port}"


@contextlib.contextmanager
def ws_server() -> Iterator[str]:
    """A ``websockets`` echo server; yields its base URL (http:// form, as --target)."""
    port = free_port()
    with running([PYTHON, "-m", "bench.servers", "ws", "--port", str(port)], port=port):
        yield f"http://127.0.0.1:{port}"


@contextlib.contextmanager
def mitmdump_reverse(upstream: str) -> Iterator[str]:
    """Bare ``mitmdump --mode reverse:URL``, with the options ``retape record`` sets."""
    port = free_port()
    args = [MITMDUMP, "--mode", f"reverse:{upstream}", "--listen-host", "127.0.0.1"]
    args += ["--listen-port", str(port), "-q", "--set", "connection_strategy=lazy"]
    with running(args, port=port):
        yield f"http://127.0.0.1:{port}"


@contextlib.contextmanager
def retape_record(upstream: str, out: Path) -> Iterator[str]:
    """``retape record`` in front of ``upstream``, writing to ``out``."""
    out.unlink(missing_ok=True)
    port = free_port()
    args = [PYTHON, "-m", "retape", "record", "--upstream", upstream]
    args += ["--listen", f"127.0.0.1:{port}", "--out", str(out), "--quiet"]
    with running(args, port=port):
        yield f"http://127.0.0.1:{port}"
