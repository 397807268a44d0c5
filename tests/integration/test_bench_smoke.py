"""The benchmark harness runs and reports numbers (benchmarks are not tests: no timings).

Only the cheapest parts run here (cassette loading and appending at tiny sizes);
``make bench-smoke`` runs every part.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

from tests.support import REPO


def test_smoke_benchmark_writes_a_results_table_with_numbers(tmp_path: Path) -> None:
    out, work = tmp_path / "results", tmp_path / "work"
    args = [sys.executable, "bench/run.py", "--smoke", "--only", "load,append"]
    args += ["--out", str(out), "--workdir", str(work), "--sizes", "20,60"]
    done = subprocess.run(
        args, cwd=REPO, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL
    )
    assert done.returncode == 0, done.stderr[-2000:]
    [result_file] = out.glob("*.json")
    result = json.loads(result_file.read_text())
    assert result["rows"], "no benchmark rows"
    for row in result["rows"]:
        value = row["retape"]["value"]
        assert isinstance(value, float | int) and math.isfinite(value) and value > 0, row
    table = (out / "latest.md").read_text()
    assert "| benchmark | retape | baseline | ratio | goal | met |" in table
    assert "Load + validate (20 interactions" in table
    assert "Append one interaction (60 in the file)" in table
