"""``python -m bench.peak CMD...``: run CMD and print its peak RSS as one JSON line.

The peak resident set of a process started straight from the harness would include the
harness's own memory: Linux carries the parent's high-water mark across fork and exec
into the child's ``ru_maxrss``. Started from this small process instead, the figure is
the command's own (plus this wrapper's few megabytes at fork).
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys


def main(argv: list[str] | None = None) -> None:
    command = argv if argv is not None else sys.argv[1:]
    done = subprocess.run(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    print(json.dumps({"returncode": done.returncode, "maxrss_kb": peak}))


if __name__ == "__main__":
    main()
