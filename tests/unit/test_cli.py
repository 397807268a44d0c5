"""The `retape` command's contract: exit codes and one-line errors, run in-process."""

from __future__ import annotations

import pytest

from tests.support import cli


def test_version_and_help() -> None:
    assert cli("--version").stdout.startswith("retape ")
    result = cli("--help")
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
    result = cli(*args)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith("retape") and "Traceback" not in result.stderr
