"""``--jsonl FILE``: JSON Lines, one row per line the moment it is reported.

Each line is one result object, exactly as in the ``results`` list of the ``--json``
report, in recorded order; the last line is ``{"summary": {...}}``, the same summary
object. Every line is flushed as it is written, so ``tail -f`` follows a long replay,
and a run that was interrupted leaves every row it reported (and no summary line).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from retape.replayer.results import Result, Summary

from retape.common.errors import RetapeError


class JsonLinesReport:
    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        try:
            self._file = Path(path).open("w", encoding="utf-8")  # noqa: SIM115 - see close()
        except OSError as exc:
            raise self._error(exc) from None

    def _error(self, exc: OSError) -> RetapeError:
        return RetapeError(f"--jsonl {self.path}: cannot write: {exc.strerror or exc}")

    def _line(self, data: dict[str, Any]) -> None:
        try:
            self._file.write(json.dumps(data, ensure_ascii=False) + "\n")
            self._file.flush()
        except OSError as exc:
            raise self._error(exc) from None

    def result(self, result: Result) -> None:
        self._line(result.to_json())

    def summary(self, summary: Summary) -> None:
        self._line({"summary": summary.to_json()})

    def close(self) -> None:
        self._file.close()
