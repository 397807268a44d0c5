"""``--json FILE``: the machine-readable report, a stable documented shape.

``{"summary": {total, passed, failed, errors, duration},
   "results": [{cassette, id, type, method, path, expected_status, actual_status, ok,
                error, duration, details}, ...]}``, rows in recorded order.
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
