"""The human report: one line per row as it completes, the diff under failures, a summary.

Lines are plain text when piped or under CI, so they paste cleanly into an issue; on
an interactive terminal rich adds colour, nothing else changes. Recorded paths and
response values come from cassettes and servers, which are untrusted: control
characters are escaped so neither can drive the terminal. ``format_failure`` is also
what JUnit bodies and the pytest plugin show, so a failure reads the same everywhere.
"""

from __future__ import annotations

import os
import sys
import time
from typing import TextIO

from retape.replayer.compare.aspects import messages_note
from retape.replayer.results import Result, Summary

_STYLES = {"PASS": "green", "FAIL": "bold red", "ERROR": "bold magenta"}
INDENT = " " * 7
SHOWN_DIFFERENCES = 20


def _printable(text: str) -> str:
    """Control, format (bidi overrides such as U+202E) and separator characters escaped:
    text from a cassette or a target can neither drive a terminal nor reorder a line."""
    if text.isprintable():  # nearly every row: one C scan instead of a loop per character
        return text
    return "".join(ch if ch.isprintable() else ch.encode("unicode_escape").decode() for ch in text)


printable = _printable


def printable_lines(text: str) -> str:
    """:func:`printable` for each line of a multi-line text, line breaks kept."""
    return "\n".join(_printable(line) for line in text.split("\n"))


def format_result(result: Result) -> str:
    """``FAIL   demo.yaml #4  websocket GET /v1/realtime  expected 101, got 500``."""
    probe = f" [{result.probe}]" if result.probe else ""
    line = (
        f"{result.verdict:<5}  {result.cassette} #{result.id}  "
        f"{result.type} {result.method} {result.path}{probe}  {result.problem}"
    )
    # A failed session or a probe says what happened in its problem already.
    said = result.session_failed or (result.probe and result.session)
    note = None if said else messages_note(result.details)
    remarks = [str(r) for r in (note, result.details.get("credentials")) if r]
    if remarks:
        line += f"  ({'; '.join(remarks)})"
    return _printable(line)


def format_differences(result: Result, *, limit: int = SHOWN_DIFFERENCES) -> list[str]:
    """The diff lines of a row, at most ``limit`` and a line saying how many more."""
    lines = [_printable(d.text) for d in result.differences[:limit]]
    more = len(result.differences) - limit
    if more > 0:
        lines.append(f"... and {more} more difference{'s' if more != 1 else ''}")
    return lines


def format_session(result: Result) -> list[str]:
    """What the session changed in a row: live values substituted, correlations that
    matched nothing (``uses:`` in the cassette; docs/replay.md "Stateful sessions")."""
    lines = [_printable(s) for s in result.substitutions]
    for note in result.details.get("correlations_unmatched") or []:
        lines.append(_printable(f"correlation matched nothing: {note}"))
    return lines


def format_failure(result: Result) -> str:
    """The row line and, indented under it, what the session substituted and the diff."""
    lines = [*format_session(result), *format_differences(result)]
    return "\n".join([format_result(result), *(INDENT + x for x in lines)])


def format_summary(summary: Summary, *, differences: bool = False) -> str:
    """``12 interactions: 11 passed, 1 failed`` (errors only mentioned when there are some)."""
    rows = summary.total - summary.probes
    line = f"{rows} {'interaction' if rows == 1 else 'interactions'}"
    if summary.probes:
        line += f" + {summary.probes} auth {'probe' if summary.probes == 1 else 'probes'}"
    line += f": {summary.passed} passed, {summary.failed} failed"
    if summary.errors:
        line += f", {summary.errors} {'error' if summary.errors == 1 else 'errors'}"
    if differences:
        count = summary.differences
        line += f", {count} {'difference' if count == 1 else 'differences'}"
    return f"{line} in {summary.duration:.2f}s"


def wants_colour(stream: TextIO) -> bool:
    return stream.isatty() and not os.environ.get("CI")


class TextReport:
    """Prints rows as they arrive (so a slow replay shows progress) and the summary."""

    def __init__(
        self, stream: TextIO | None = None, *, colour: bool | None = None, deep: bool = False
    ) -> None:
        self.stream = stream or sys.stdout
        self.colour = wants_colour(self.stream) if colour is None else colour
        self.deep = deep  # deeper comparison on: the summary counts differences
        self._console = None
        # A terminal sees every row at once; a pipe or file (CI) gets them flushed at most
        # every 0.1 s: one write(2) per row was a visible share of a fast replay's time.
        self._flush_every = 0.0 if _isatty(self.stream) else 0.1
        self._flushed_at = 0.0
        if self.colour:
            from rich.console import Console

            self._console = Console(
                file=self.stream, force_terminal=True, highlight=False, soft_wrap=True
            )

    def _emit(self, text: str, *, style: str | None = None, prefix: int = 0) -> None:
        if self._console is None:
            print(text, file=self.stream)
            now = time.monotonic()
            if now - self._flushed_at >= self._flush_every:
                self.stream.flush()
                self._flushed_at = now
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

    def note(self, text: str) -> None:
        self._emit(_printable(text), style="dim")

    def result(self, result: Result) -> None:
        self._emit(format_result(result), style=_STYLES[result.verdict], prefix=5)
        for line in format_session(result):
            self._emit(INDENT + line, style="cyan")
        if not result.ok:
            for line in format_differences(result):
                self._emit(INDENT + line, style="yellow")

    def summary(self, summary: Summary) -> None:
        style = "bold green" if summary.all_passed else "bold red"
        self._emit(format_summary(summary, differences=self.deep), style=style)
        self.stream.flush()


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False
