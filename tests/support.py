"""Helpers for tests that run real processes on loopback (see demo/processes.py)."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator

from demo.processes import REPO, free_port, output_of, running, stop, wait_for_port

__all__ = ["REPO", "free_port", "output_of", "running", "stop", "wait_for_port"]
PYTHON = sys.executable
DEMO_TOKEN = "sk-demo-test-0123456789abcdefXYZ"  # the test key; must never reach a cassette


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
