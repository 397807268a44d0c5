"""The human report: one line per interaction as it completes, then a summary line.

Lines are plain text when piped or under CI, so they paste cleanly into an issue; on
an interactive terminal rich adds colour to the verdicts, nothing else changes.
Recorded paths come from cassettes, which are untrusted: control characters are
escaped so a cassette cannot drive the terminal.
"""

from __future__ import annotations

import os
import sys
from typing import TextIO

from replayer.compare import messages_note
from replayer.results import Result, Summary

_STYLES = {"PASS": "green", "FAIL": "bold red", "ERROR": "bold magenta"}


def _printable(text: str) -> str:
    return "".join(ch if ch.isprintable() else ch.encode("unicode_escape").decode() for ch in text)


def format_result(result: Result) -> str:
    """``FAIL   demo.yaml #4  websocket GET /v1/realtime  expected 101, got 500``."""
    line = (
        f"{result.verdict:<5}  {result.cassette} #{result.id}  "
        f"{result.type} {result.method} {result.path}  {result.problem}"
    )
    remarks = [messages_note(result.details), result.details.get("credentials")]
    remarks = [r for r in remarks if r]
    if remarks:
        line += f"  ({'; '.join(remarks)})"
    return _printable(line)


def format_summary(summary: Summary) -> str:
    """``12 interactions: 11 passed, 1 failed`` (errors only mentioned when there are some)."""
    noun = "interaction" if summary.total == 1 else "interactions"
    line = f"{summary.total} {noun}: {summary.passed} passed, {summary.failed} failed"
    if summary.errors:
        line += f", {summary.errors} {'error' if summary.errors == 1 else 'errors'}"
    return f"{line} in {summary.duration:.2f}s"


def wants_colour(stream: TextIO) -> bool:
    return stream.isatty() and not os.environ.get("CI")


class TextReport:
    """Prints rows as they arrive (so a slow replay shows progress) and the summary."""

    def __init__(self, stream: TextIO | None = None, *, colour: bool | None = None) -> None:
        self.stream = stream or sys.stdout
        self.colour = wants_colour(self.stream) if colour is None else colour
        self._console = None
        if self.colour:
            from rich.console import Console

            self._console = Console(
                file=self.stream, force_terminal=True, highlight=False, soft_wrap=True
            )

    def _emit(self, text: str, *, style: str | None = None, prefix: int = 0) -> None:
        if self._console is None:
            print(text, file=self.stream, flush=True)
            return
        from rich.text import Text

        line = Text(text)
        if style:
            line.stylize(style, 0, prefix or len(text))
        self._console.print(line)

    def start(self, *, cassettes: int, interactions: int, target: str) -> None:
        rows = "interaction" if interactions == 1 else "interactions"
        files = "cassette" if cassettes == 1 else "cassettes"
        self._emit(
            f"replaying {interactions} {rows} from {cassettes} {files} against {target}",
            style="dim",
        )

    def result(self, result: Result) -> None:
        self._emit(format_result(result), style=_STYLES[result.verdict], prefix=5)

    def summary(self, summary: Summary) -> None:
        style = "bold green" if summary.all_passed else "bold red"
        self._emit(format_summary(summary), style=style)
