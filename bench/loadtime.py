"""One timed cassette load in a fresh process; prints one JSON line.

``python -m bench.loadtime METHOD FILE``, METHOD one of:

* ``csafe``: ``yaml.load(f, Loader=yaml.CSafeLoader)`` alone, the issue's yardstick;
* ``load_cassette``: :func:`cassette.load.load_cassette` as retape runs it (fast path
  when yaml-rs is installed, the safe path otherwise);
* ``safe``: the same with ``RETAPE_FASTLOAD=0``: PyYAML and jsonschema, as before;
* ``jsonschema`` / ``conforms``: validation alone, on data parsed outside the timing,
  by the JSON Schema (``validate_data``) or by the fast path's hand check.

Imports happen before the clock starts; the peak RSS of the process is reported too.
"""

from __future__ import annotations

import json
import os
import resource
import sys
import time


def main(argv: list[str] | None = None) -> None:
    method, path = (argv if argv is not None else sys.argv[1:])[:2]
    if method == "safe":
        os.environ["RETAPE_FASTLOAD"] = "0"
    import yaml

    from retape.cassette import fastload
    from retape.cassette.load import load_cassette, parse_yaml, read_text
    from retape.cassette.validate import validate_data

    count = None
    if method in ("jsonschema", "conforms"):
        text = read_text(path)
        data = fastload.parse(text) or parse_yaml(text, path=path)
        started = time.perf_counter()
        if method == "jsonschema":
            validate_data(data, path=path, text=text)
        elif not fastload.conforms(data):
            raise SystemExit("conforms() refused a valid cassette")
        seconds = time.perf_counter() - started
        count = len(data["interactions"] or [])
    elif method == "csafe":
        started = time.perf_counter()
        with open(path, "rb") as handle:
            data = yaml.load(handle, Loader=yaml.CSafeLoader)
        seconds = time.perf_counter() - started
        count = len(data["interactions"] or [])
    elif method in ("load_cassette", "safe"):
        started = time.perf_counter()
        cassette = load_cassette(path)
        seconds = time.perf_counter() - started
        count = len(cassette.interactions)
    else:
        raise SystemExit(f"unknown method {method!r}")
    print(json.dumps({"seconds": seconds, "interactions": count, "maxrss_kb": _peak_kb()}))


def _peak_kb() -> int:
    """This process's own high-water mark (``ru_maxrss`` would include the parent's)."""
    try:
        with open("/proc/self/status", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


if __name__ == "__main__":
    main()
