"""``--json FILE``: the machine-readable report, a stable documented shape.

``{"summary": {total, passed, failed, errors, probes, differences, duration},
   "results": [{cassette, id, probe, type, method, path, expected_status,
                expected_statuses, actual_status, ok, error, failure, differences,
                duration, details}, ...]}``, rows in replay order (each interaction, then
its auth probes). Every field is described in docs/replay.md; fields are only ever
added, never renamed or removed.

The summary comes first in the file but is known last, so :class:`JsonReport` spools
each row to a temporary file as it arrives and writes the report when the run ends:
memory stays flat however many rows there are. The summary is indented; each row is
one line (``json``'s C encoder: the indenting one is pure Python, and cost a tenth of
a fast replay's time), so a row is one line to grep for or paste.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

from retape.replayer.results import Result, Summary


def _nested(value: Any, indent: str) -> str:
    """``value`` as ``json.dumps(..., indent=2)`` prints it that deep in a document."""
    return json.dumps(value, indent=2, ensure_ascii=False).replace("\n", "\n" + indent)


class JsonReport:
    """Rows in, one at a time; the report file out at :meth:`write`."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._spool = tempfile.TemporaryFile("w+", encoding="utf-8")  # noqa: SIM115 - see close()
        self._rows = 0

    def result(self, result: Result) -> None:
        separator = "," if self._rows else ""
        row = json.dumps(result.to_json(), ensure_ascii=False)
        self._spool.write(f"{separator}\n    {row}")
        self._rows += 1

    def write(self, summary: Summary) -> None:
        self._spool.seek(0)
        with self.path.open("w", encoding="utf-8") as out:
            out.write(f'{{\n  "summary": {_nested(summary.to_json(), "  ")},\n  "results": [')
            shutil.copyfileobj(self._spool, out)
            out.write("\n  ]\n}\n" if self._rows else "]\n}\n")
        self._spool.seek(0, 2)

    def close(self) -> None:
        self._spool.close()
