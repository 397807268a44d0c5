"""Running real servers on loopback for the demo, the session recorder and the tests.

Free ports, a bounded wait for a listener, and a stop that escalates to SIGKILL: one
place for the process handling that must never hang a demo or a CI job.
"""

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


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def output_of(proc: subprocess.Popen) -> str:
    """Everything a process started by :func:`running` has printed so far."""
    log = getattr(proc, "log", None)
    if log is None or log.closed:
        return getattr(proc, "final_output", "")
    log.flush()
    log.seek(0)
    return log.read()


def wait_for_port(
    port: int, *, timeout: float = 20.0, proc: subprocess.Popen | None = None
) -> None:
    """Wait until something accepts on 127.0.0.1:port, failing fast if ``proc`` died."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(
                f"process exited with {proc.returncode} before listening: {output_of(proc)}"
            )
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listening on 127.0.0.1:{port} after {timeout}s")


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
    """Start a process that listens on ``port``, yield it once it does, stop it after.

    Output goes to a temporary file, not a pipe, so a chatty server never blocks on a
    full pipe; :func:`output_of` reads it.
    """
    full_env = {**os.environ, **(env or {})}
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
            proc.final_output = output_of(proc)  # type: ignore[attr-defined]


@contextlib.contextmanager
def recording(upstream: str, out: Path) -> Iterator[str]:
    """Run ``retape record`` in front of ``upstream``; yield the URL clients should use."""
    out.unlink(missing_ok=True)
    port = free_port()
    args = [sys.executable, "-m", "retape", "record", "--upstream", upstream]
    args += ["--listen", f"127.0.0.1:{port}", "--out", str(out), "--quiet"]
    with running(args, port=port) as proc:
        yield f"127.0.0.1:{port}"
    if proc.returncode != 0:
        raise RuntimeError(f"retape record exited with {proc.returncode}: {output_of(proc)}")
