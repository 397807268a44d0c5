"""Helpers for tests that run real processes on loopback (see demo/processes.py)."""

from __future__ import annotations

import base64
import contextlib
import io
import os
import subprocess
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from demo.processes import REPO, free_port, output_of, running, stop, wait_for_port

__all__ = ["REPO", "CliResult", "cli", "free_port", "output_of", "running", "stop", "wait_for_port"]
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


def leak_forms(secret: str) -> list[str]:
    """The forms a leaked secret could take: raw, percent-encoded, base64 and base64url.
    Written out here, not taken from retape's own masker, so that a test can fail."""
    raw = secret.encode()
    out = {secret, quote(secret, safe="")}
    for encoded in (base64.b64encode(raw), base64.urlsafe_b64encode(raw)):
        out.add(encoded.decode().rstrip("="))
    return sorted(out)


def with_test_concurrency(args: Sequence[str]) -> list[str]:
    """``args`` with ``--concurrency N`` added to a replay that does not choose one, when
    ``RETAPE_TEST_CONCURRENCY=N`` is set: the whole suite then runs at that concurrency
    (``RETAPE_TEST_CONCURRENCY=1 make test`` checks correctness one interaction at a time,
    the default run checks it at the default of 8)."""
    chosen = os.environ.get("RETAPE_TEST_CONCURRENCY")
    if not chosen or not args or args[0] != "replay" or "--concurrency" in args:
        return list(args)
    return [*args, "--concurrency", chosen]


def retape(
    *args: str, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess:
    """Run the real ``retape`` CLI in a subprocess and capture its output."""
    return subprocess.run(
        [PYTHON, "-m", "retape", *with_test_concurrency(args)],
        cwd=REPO,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


@dataclass(frozen=True)
class CliResult:
    """What :func:`cli` saw: the shape of ``subprocess.CompletedProcess`` the tests read."""

    returncode: int
    stdout: str
    stderr: str


def cli(*args: str, env: dict[str, str] | None = None) -> CliResult:
    """Run ``retape.cli.main(args)`` in this process, capturing stdout and stderr.

    For the unit tier: everything but the process boundary (argv parsing, exit codes, the
    one-line errors) without paying for an interpreter start. ``env`` is set for the call
    and restored after. Run from the repository, as :func:`retape` is.
    """
    from retape.cli import main

    out, err = io.StringIO(), io.StringIO()
    saved = dict(os.environ)
    cwd = os.getcwd()
    os.environ.update(env or {})
    os.chdir(REPO)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = main(with_test_concurrency(args))
            except SystemExit as exc:  # argparse: --help, --version, usage errors
                code = exc.code if isinstance(exc.code, int) else 0 if exc.code is None else 1
                if isinstance(exc.code, str):
                    print(exc.code, file=sys.stderr)
    finally:
        os.chdir(cwd)
        os.environ.clear()
        os.environ.update(saved)
    return CliResult(int(code), out.getvalue(), err.getvalue())


def junit_report(rows: Sequence[Any], path: Path) -> bytes:
    """The ``--junit`` file ``retape replay`` writes for ``rows``, through the same code path."""
    from retape.replayer.report.junit import JunitReport
    from retape.replayer.results import Summary

    report = JunitReport(path)
    try:
        for row in rows:
            report.result(row)
        report.write(Summary.of(rows, duration=sum(r.duration for r in rows)))
    finally:
        report.close()
    return path.read_bytes()
