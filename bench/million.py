"""``python -m bench.million``: replay 100,000 and 1,000,000 interactions once, peak RSS.

Issue 15 asks for a 1,000,000-interaction cassette replayed in bounded memory with time
linear in its size, measured once and written down (docs/performance.md): about 10
minutes and 1.6 GB of disk on 2 cores, so it is not part of ``make bench``. The cassettes
repeat the benchmark's 2,000 generated chat completions with fresh ids; each replay runs
``--concurrency 8 --unordered`` against the benchmark server on 127.0.0.1, started
through ``bench.peak`` so the figure is the replay's own. One JSON line per size.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import time
from pathlib import Path

from bench import procs
from bench.gen import write_cassette

_ITEM = re.compile(r"(?m)^(?=- id: )")
_ID = re.compile(r"^- id: \d+")


def repeated(source: Path, path: Path, count: int) -> None:
    """``count`` interactions: the items of ``source`` again and again, numbered afresh."""
    head, body = source.read_text(encoding="utf-8").split("\ninteractions:\n", 1)
    items = [item for item in _ITEM.split(body) if item.strip()]
    with path.open("w", encoding="utf-8") as out:
        out.write(head + "\ninteractions:\n")
        for number in range(1, count + 1):
            item = items[(number - 1) % len(items)]
            out.write(_ID.sub(f"- id: {number}", item, count=1))


def replay(path: Path, target: str, report: Path) -> dict:
    env = {**procs.ENV, "RETAPE_MAX_CASSETTE_MB": "3000"}  # over the default 256 MB bound
    command = [procs.PYTHON, "-m", "bench.peak", procs.PYTHON, "-m", "retape", "replay"]
    command += [str(path), "--target", target, "--bearer-env", procs.TOKEN_ENV]
    command += ["--json", str(report), "--concurrency", "8", "--unordered"]
    started = time.monotonic()
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=7200)
    wall = time.monotonic() - started
    peak = json.loads(done.stdout.strip().splitlines()[-1])
    summary = json.loads(report.read_text())["summary"]
    return {
        "interactions": summary["total"],
        "passed": summary["passed"],
        "bytes": path.stat().st_size,
        "wall_s": round(wall, 1),
        "replaying_s": round(summary["duration"], 1),
        "peak_rss_mb": round(peak["maxrss_kb"] / 1024, 1),
        "returncode": peak["returncode"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", default="/tmp/retape-bench", help="where the files go")
    parser.add_argument("--sizes", default="100000,1000000", help="comma-separated counts")
    args = parser.parse_args()
    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    source = workdir / "million-source-2000.yaml"
    if not source.exists():
        write_cassette(source, 2000, kind="http")
    with procs.http_server() as target:
        for count in (int(size) for size in args.sizes.split(",")):
            path = workdir / f"million-{count}.yaml"
            if not path.exists():
                repeated(source, path, count)
            print(json.dumps(replay(path, target, workdir / f"million-{count}.json")), flush=True)
            os.unlink(workdir / f"million-{count}.json")  # 380 MB of rows at 1,000,000


if __name__ == "__main__":
    main()
