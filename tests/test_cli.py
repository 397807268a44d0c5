"""The `retape` command's contract: exit codes, one-line errors, cheap start-up."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.support import REPO, retape


def test_version_and_help() -> None:
    assert retape("--version").stdout.startswith("retape ")
    result = retape("--help")
    for command in ("record", "replay", "validate", "scan", "redact"):
        assert command in result.stdout


@pytest.mark.parametrize(
    "args",
    [
        [],
        ["replay"],
        ["replay", "sessions"],
        ["record", "--upstream", "http://127.0.0.1:9"],
        ["no-such-command"],
        ["replay", "sessions", "--target", "http://127.0.0.1:9", "--timeout", "soon"],
        ["replay", "sessions", "--target", "http://127.0.0.1:9", "--secret", "password"],
    ],
)
def test_usage_errors_are_one_line_exit_2(args: list[str]) -> None:
    result = retape(*args)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith("retape") and "Traceback" not in result.stderr


def test_replay_does_not_import_mitmproxy() -> None:
    """Start-up stays cheap: only `retape record` needs mitmproxy."""
    code = (
        "import sys; from retape.cli import build_parser; "
        "build_parser().parse_args(['replay', 'sessions', '--target', 'http://127.0.0.1:9']); "
        "import retape.replayer.engine, retape.replayer.cli; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'mitmproxy'))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
