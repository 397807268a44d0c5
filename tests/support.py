"""Helpers for tests that run real processes on loopback: free ports, bounded waits."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
DEMO_TOKEN = "sk-demo-test-0123456789abcdefXYZ"  # the test key; must never reach a cassette


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(
    port: int, *, timeout: float = 15.0, proc: subprocess.Popen | None = None
) -> None:
    """Wait until something accepts on 127.0.0.1:port, failing fast if ``proc`` died."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            out = output_of(proc)
            raise RuntimeError(f"process exited with {proc.returncode} before listening: {out}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listening on 127.0.0.1:{port} after {timeout}s")


def output_of(proc: subprocess.Popen) -> str:
    """Everything a process started by :func:`running` has printed so far."""
    log = getattr(proc, "log", None)
    if log is None:
        return ""
    log.flush()
    log.seek(0)
    return log.read()


def stop(proc: subprocess.Popen, *, sig: int = signal.SIGTERM, timeout: float = 10.0) -> int:
    """Signal a process and wait (bounded); kill it if it does not go."""
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout)
    return proc.returncode


@contextlib.contextmanager
def running(
    args: Sequence[str], *, port: int, env: dict[str, str] | None = None
) -> Iterator[subprocess.Popen]:
    """Start a process that listens on ``port``, yield it once it does, stop it after."""
    full_env = {**os.environ, **(env or {})}
    # Output goes to a file, not a pipe: a chatty server must never block on a full pipe.
    with tempfile.TemporaryFile("w+") as log:
        proc = subprocess.Popen(
            list(args), cwd=REPO, env=full_env, stdout=log, stderr=subprocess.STDOUT, text=True
        )
        proc.log = log  # type: ignore[attr-defined]
        try:
            wait_for_port(port, proc=proc)
            yield proc
        finally:
            stop(proc)


@contextlib.contextmanager
def demo_target(variant: str, *, token: str | None = DEMO_TOKEN) -> Iterator[str]:
    """Run the embedded demo target; yield its base URL."""
    port = free_port()
    env = {"RETAPE_DEMO_API_KEY": token or ""}
    args = [PYTHON, "-m", "demo", "--variant", variant, "--host", "127.0.0.1", "--port", str(port)]
    with running(args, port=port, env=env):
        yield f"http://127.0.0.1:{port}"


def retape(
    *args: str, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess:
    """Run the real ``retape`` CLI in a subprocess and capture its output."""
    return subprocess.run(
        [PYTHON, "-m", "retape", *args],
        cwd=REPO,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )
