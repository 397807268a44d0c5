"""Every report of one ``retape replay`` run, fed one row at a time in recorded order.

A run does not keep its rows: the summary is counted as rows arrive, the terminal and
``--jsonl`` lines are written at once, and ``--json`` and ``--junit`` spool their rows
to temporary files until the run ends (both put totals before the rows). Only failing
rows are kept, and only for ``--markdown``, which shows each of them in full. Memory
therefore stays flat however long the cassettes are.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from types import TracebackType

from retape.replayer.report.json import JsonReport
from retape.replayer.report.jsonl import JsonLinesReport
from retape.replayer.report.junit import JunitReport
from retape.replayer.report.text import TextReport
from retape.replayer.results import Result, Summary, Tally

from retape.common.errors import RetapeError


class RunReports:
    def __init__(
        self,
        text: TextReport,
        *,
        json: str | None = None,
        junit: str | None = None,
        jsonl: str | None = None,
        keep_failures: bool = False,
    ) -> None:
        self.text = text
        self.tally = Tally()
        self.failures: list[Result] = []  # only with keep_failures (for --markdown)
        self._keep_failures = keep_failures
        self._files: list[tuple[str, str, JsonReport | JunitReport]] = []
        self._jsonl: JsonLinesReport | None = None
        try:
            if json:
                self._files.append(("--json", json, JsonReport(json)))
            if junit:
                self._files.append(("--junit", junit, JunitReport(junit)))
            if jsonl:
                self._jsonl = JsonLinesReport(jsonl)
        except BaseException:
            self.close()
            raise

    def result(self, row: Result) -> None:
        self.tally.add(row)
        self.text.result(row)
        if self._jsonl is not None:
            self._jsonl.result(row)
        for _, _, report in self._files:
            report.result(row)
        if self._keep_failures and not row.ok:
            self.failures.append(row)

    def summary(self, *, duration: float) -> Summary:
        return self.tally.summary(duration=duration)

    def write(self, summary: Summary) -> None:
        """The ``--jsonl`` summary line, then the ``--json`` and ``--junit`` files."""
        if self._jsonl is not None:
            self._jsonl.summary(summary)
        for flag, path, report in self._files:
            _written(flag, path, partial(report.write, summary))

    def close(self) -> None:
        if self._jsonl is not None:
            self._jsonl.close()
        for _, _, report in self._files:
            report.close()

    def __enter__(self) -> RunReports:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


def _written(flag: str, path: str, write: Callable[[], None]) -> None:
    try:
        write()
    except OSError as exc:
        raise RetapeError(f"{flag} {path}: cannot write: {exc.strerror or exc}") from None
