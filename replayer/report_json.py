"""``--json FILE``: the machine-readable report, a stable documented shape.

``{"summary": {total, passed, failed, errors, probes, differences, duration},
   "results": [{cassette, id, probe, type, method, path, expected_status,
                expected_statuses, actual_status, ok, error, failure, differences,
                duration, details}, ...]}``, rows in replay order (each interaction, then
its auth probes). Every field is described in docs/replay.md; fields are only ever
added, never renamed or removed.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from replayer.results import Result, Summary


def report_data(results: Sequence[Result], summary: Summary) -> dict[str, Any]:
    return {"summary": summary.to_json(), "results": [r.to_json() for r in results]}


def write_json(path: str | Path, results: Sequence[Result], summary: Summary) -> None:
    text = json.dumps(report_data(results, summary), indent=2, ensure_ascii=False)
    Path(path).write_text(text + "\n", encoding="utf-8")
