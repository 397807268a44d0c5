"""``make bench`` / ``make bench-smoke``: retape's performance, side by side with baselines.

Every benchmark runs retape and its baseline in the same run, interleaved (the order
alternates each repetition) and repeated; the tables give medians. What each one
measures and how to read it: docs/performance.md. Results go to
``bench/results/<timestamp>.json`` and ``bench/results/latest.md``.

Benchmarks (``--only`` takes these names):

* ``replay``: ``retape replay`` (the real CLI, in a subprocess; the replay phase as its
  ``--json`` summary times it) vs a bare aiohttp loop sending the same requests at the
  same concurrency (1, 8 and 32); end to end (process start to exit, cassette load
  included) on a 5,000-interaction cassette at concurrency 32 vs the same aiohttp
  loop's process; and end to end vs ``mitmdump -C``.
* ``websocket``: websocket messages per second, ``retape replay`` vs a bare
  ``websockets`` client walking the same sessions; and 200 short realtime-like
  sessions at concurrency 8, end to end, against the same client at concurrency 8.
* ``record``: throughput and p50/p99 latency through ``retape record`` vs bare
  ``mitmdump --mode reverse:URL`` vs direct, with an aiohttp load generator.
* ``locust``: sessions per second of one ``retape locust`` worker (a real master and
  worker, headless, ``--overlap`` users replaying the same generated session) vs
  ``retape replay`` on as many copies of that session at the same concurrency, same
  server; CPU per session of each in the notes.
* ``load``: ``load_cassette`` vs ``yaml.load(f, Loader=yaml.CSafeLoader)`` alone, plus the
  safe path and the cost of validation; ``rss``: peak RSS of a replay; ``append``: the
  time of one append at the start and the end of writing a cassette.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as ``python bench/run.py``
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import procs
from bench.gen import GENERATOR_VERSION, write_cassette
from bench.report import machine, markdown

RESULTS = Path(__file__).resolve().parent / "results"
ALL = ("replay", "websocket", "record", "locust", "load", "rss", "append")


@dataclass
class Config:
    smoke: bool
    repeat: int
    big_repeat: int  # repetitions at sizes of 100,000 and more (each load takes minutes)
    big: int
    load_sizes: list[int]
    replay_count: int
    ws_sessions: int
    ws_messages: int
    record_requests: int
    record_warmup: int
    record_concurrency: int
    concurrencies: list[int]  # HTTP replay is compared at each of these
    e2e_count: int  # interactions of the end-to-end cassette
    e2e_concurrency: int
    short_sessions: int  # short websocket sessions, replayed at e2e_concurrency / 4
    locust_users: int
    locust_seconds: int  # Locust --run-time of each repetition
    locust_session: int  # interactions in the replayed session
    safe_max: int  # the safe path (PyYAML + jsonschema) is timed up to this size only
    workdir: Path
    only: tuple[str, ...]
    regenerate: bool = False
    concurrency_flag: bool = False  # whether this retape replay has --concurrency


def config_from(args: argparse.Namespace) -> Config:
    smoke = args.smoke
    sizes = args.sizes or ([50, 200] if smoke else [1_000, 10_000, 100_000])
    return Config(
        smoke=smoke,
        repeat=args.repeat or (1 if smoke else 5),
        big_repeat=args.big_repeat,
        big=100_000,
        load_sizes=sorted(sizes),
        replay_count=args.replay_count or (100 if smoke else 2_000),
        ws_sessions=2 if smoke else 20,
        ws_messages=20 if smoke else 500,
        record_requests=100 if smoke else 2_000,
        record_warmup=10 if smoke else 100,
        record_concurrency=8,
        concurrencies=args.concurrency or ([1, 8] if smoke else [1, 8, 32]),
        e2e_count=200 if smoke else 5_000,
        e2e_concurrency=8 if smoke else 32,
        short_sessions=10 if smoke else 200,
        locust_users=4 if smoke else 8,
        locust_seconds=3 if smoke else 20,
        locust_session=10,
        safe_max=args.safe_max,
        workdir=Path(args.workdir),
        only=tuple(args.only.split(",")) if args.only else ALL,
        regenerate=args.regenerate,
    )


# --- result rows ----------------------------------------------------------------------


@dataclass
class Side:
    name: str
    unit: str
    runs: list[float] = field(default_factory=list)

    @property
    def value(self) -> float:
        return statistics.median(self.runs) if self.runs else float("nan")

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "unit": self.unit, "value": self.value, "runs": self.runs}


@dataclass
class Row:
    benchmark: str
    ours: Side
    baseline: Side | None
    goal: tuple[str, float] | None  # (">=" or "<=", bound) on the ratio
    ratio_of: str = "retape / baseline"
    invert: bool = False  # ratio = baseline / ours (for latencies, lower is better)
    notes: str = ""

    @property
    def ratio(self) -> float | None:
        if self.baseline is None or not self.baseline.runs or not self.ours.runs:
            return None
        top, bottom = (self.baseline, self.ours) if self.invert else (self.ours, self.baseline)
        return top.value / bottom.value if bottom.value else None

    @property
    def met(self) -> bool | None:
        if self.goal is None or self.ratio is None:
            return None
        op, bound = self.goal
        return self.ratio >= bound if op == ">=" else self.ratio <= bound

    def to_json(self) -> dict[str, Any]:
        return {
            "benchmark": self.benchmark,
            "retape": self.ours.to_json(),
            "baseline": self.baseline.to_json() if self.baseline else None,
            "ratio": self.ratio,
            "ratio_of": self.ratio_of,
            "goal": f"{self.goal[0]} {self.goal[1]:g}" if self.goal else None,
            "met": self.met,
            "notes": self.notes,
        }


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def interleaved(repeat: int, steps: list[Callable[[], None]]) -> None:
    """Run every step once per repetition, rotating the order each time."""
    for rep in range(repeat):
        shift = rep % len(steps)
        for step in steps[shift:] + steps[:shift]:
            step()


# --- cassettes --------------------------------------------------------------------------


def cassette(cfg: Config, kind: str, count: int, **extra: int) -> tuple[Path, dict]:
    """A generated cassette (cached in the work dir) and the stats of its writing."""
    suffix = "".join(f"-{k}{v}" for k, v in sorted(extra.items()))
    path = cfg.workdir / f"{kind}-{count}{suffix}-v{GENERATOR_VERSION}.yaml"
    stats_path = path.with_suffix(".json")
    if path.exists() and stats_path.exists() and not cfg.regenerate:
        return path, json.loads(stats_path.read_text())
    cfg.workdir.mkdir(parents=True, exist_ok=True)
    log(f"generating {path.name}")
    stats = write_cassette(path, count, kind=kind, **extra)
    stats_path.write_text(json.dumps(stats))
    return path, stats


# --- the benchmarks ---------------------------------------------------------------------


def _replay_args(cfg: Config, path: Path, target: str, report: Path, concurrency: int) -> list[str]:
    args = [procs.PYTHON, "-m", "retape", "replay", str(path), "--target", target]
    args += ["--bearer-env", procs.TOKEN_ENV, "--json", str(report)]
    if cfg.concurrency_flag:
        args += ["--concurrency", str(concurrency)]
        if concurrency > 1:  # one cassette keeps recorded order unless told otherwise
            args += ["--unordered"]
    return args


def retape_replay(
    cfg: Config,
    path: Path,
    target: str,
    *,
    timeout: float,
    peak: bool = False,
    concurrency: int = 1,
) -> dict[str, Any]:
    """Run the real CLI; its own timing of the replay phase and the wall time, and with
    ``peak`` its peak RSS (started through bench/peak.py, which adds a few ms)."""
    report = cfg.workdir / "replay-report.json"
    report.unlink(missing_ok=True)
    args = _replay_args(cfg, path, target, report, concurrency)
    if peak:
        args = [procs.PYTHON, "-m", "bench.peak", *args]
    finished = procs.run(args, timeout=timeout, ok=(0, 1))
    summary = json.loads(report.read_text())["summary"]
    if summary["errors"]:
        raise procs.BenchError(f"retape replay reported errors: {summary}")
    done = {"summary": summary, "wall": finished.wall}
    if peak:
        measured = json.loads(finished.stdout.strip().splitlines()[-1])
        if measured["returncode"] not in (0, 1):
            raise procs.BenchError(f"retape replay exited {measured['returncode']}")
        done["maxrss_kb"] = measured["maxrss_kb"]
    return done


def bench_replay(cfg: Config, rows: list[Row], details: dict) -> None:
    count = cfg.replay_count
    path, _ = cassette(cfg, "http", count)
    one, _ = cassette(cfg, "http", 1)
    e2e_path, _ = cassette(cfg, "http", cfg.e2e_count)
    top, e2e_c = max(cfg.concurrencies), cfg.e2e_concurrency
    phase = {c: Side("retape replay", "interactions/s") for c in cfg.concurrencies}
    raw = {c: Side(f"aiohttp loop, concurrency {c}", "interactions/s") for c in cfg.concurrencies}
    wall = Side(f"retape replay, end to end, concurrency {top}", "interactions/s")
    mitm = Side("mitmdump -C, end to end", "interactions/s")
    e2e = Side(f"retape replay, end to end, concurrency {e2e_c}", "interactions/s")
    e2e_raw = Side(f"aiohttp loop process, end to end, concurrency {e2e_c}", "interactions/s")
    e2e_raw_phase: list[float] = []
    starts: dict[str, list[float]] = {"retape": [], "mitmdump": []}
    with procs.http_server() as target:
        flows, flows_one = cfg.workdir / "replay.mitm", cfg.workdir / "replay-one.mitm"
        for source, out in ((path, flows), (one, flows_one)):
            args = [procs.PYTHON, "-m", "bench.flows", "--cassette", str(source)]
            procs.run_json([*args, "--target", target, "--out", str(out)], timeout=300)
        mitm_args = [procs.MITMDUMP, "-q", "--set", "server=false", "--set", "flow_detail=0"]

        def ours(c: int) -> Callable[[], None]:
            def go() -> None:
                done = retape_replay(cfg, path, target, timeout=600, concurrency=c)
                phase[c].runs.append(count / done["summary"]["duration"])
                if c == top:
                    wall.runs.append(count / done["wall"])

            return go

        def baseline(c: int) -> Callable[[], None]:
            def go() -> None:
                args = [procs.PYTHON, "-m", "bench.clients", "http", "--cassette", str(path)]
                cmd = [*args, "--target", target, "--concurrency", str(c)]
                done = procs.run_json(cmd, timeout=600)
                raw[c].runs.append(done["count"] / done["seconds"])

            return go

        def mitmdump() -> None:
            done = procs.run([*mitm_args, "-C", str(flows)], timeout=900)
            mitm.runs.append(count / done.wall)

        def startup() -> None:
            starts["retape"].append(retape_replay(cfg, one, target, timeout=120)["wall"])
            starts["mitmdump"].append(
                procs.run([*mitm_args, "-C", str(flows_one)], timeout=120).wall
            )

        def ours_e2e() -> None:
            done = retape_replay(cfg, e2e_path, target, timeout=600, concurrency=e2e_c)
            e2e.runs.append(cfg.e2e_count / done["wall"])

        def baseline_e2e() -> None:
            args = [procs.PYTHON, "-m", "bench.clients", "http", "--cassette", str(e2e_path)]
            done = procs.run([*args, "--target", target, "--concurrency", str(e2e_c)], timeout=600)
            e2e_raw.runs.append(cfg.e2e_count / done.wall)
            timed = json.loads(done.stdout.strip().splitlines()[-1])
            e2e_raw_phase.append(timed["count"] / timed["seconds"])

        steps = [f(c) for c in cfg.concurrencies for f in (ours, baseline)]
        steps += [mitmdump, startup, ours_e2e, baseline_e2e]
        log(f"replay: {count} HTTP interactions at {cfg.concurrencies} x {cfg.repeat}")
        interleaved(cfg.repeat, steps)
    for c in cfg.concurrencies:
        rows.append(
            Row(
                f"HTTP replay throughput ({count} interactions, concurrency {c})",
                phase[c],
                raw[c],
                (">=", 0.9),
                "retape / aiohttp",
            )
        )
    phase_only = statistics.median(e2e_raw_phase) if e2e_raw_phase else float("nan")
    rows.append(
        Row(
            f"HTTP replay end to end ({cfg.e2e_count:,} interactions, concurrency {e2e_c})",
            e2e,
            e2e_raw,
            (">=", 0.8),
            "retape / aiohttp, process start to exit",
            notes=f"both processes start and load the cassette; against the aiohttp loop's "
            f"timed section alone ({phase_only:,.0f}/s) the ratio is "
            f"{e2e.value / phase_only:.2f}",
        )
    )
    retape_start = statistics.median(starts["retape"])
    mitm_start = statistics.median(starts["mitmdump"])
    net_ours = (count - 1) / max(1e-9, count / wall.value - retape_start)
    net_mitm = (count - 1) / max(1e-9, count / mitm.value - mitm_start)
    rows.append(
        Row(
            f"HTTP replay vs mitmdump -C, end to end ({count} interactions)",
            wall,
            mitm,
            (">=", 10),
            "retape / mitmdump",
            notes=f"retape at concurrency {top} (mitmdump -C has no concurrency setting); "
            f"process start + 1 interaction: retape {retape_start:.2f} s, mitmdump "
            f"{mitm_start:.2f} s; without it: {net_ours:,.0f}/s vs {net_mitm:,.0f}/s "
            f"({net_ours / net_mitm:.1f}x)",
        )
    )
    details["replay"] = {"startup_seconds": starts, "net_ratio": net_ours / net_mitm}


def bench_websocket(cfg: Config, rows: list[Row], details: dict) -> None:
    sessions, per = cfg.ws_sessions, cfg.ws_messages
    path, _ = cassette(cfg, "websocket", sessions, ws_messages=per)
    total = sessions * per
    ours = Side("retape replay", "messages/s")
    raw = Side("websockets client", "messages/s")
    with procs.ws_server() as target:

        def retape() -> None:
            done = retape_replay(cfg, path, target, timeout=600)
            ours.runs.append(total / done["summary"]["duration"])

        def baseline() -> None:
            args = [procs.PYTHON, "-m", "bench.clients", "ws", "--cassette", str(path)]
            done = procs.run_json([*args, "--target", target], timeout=600)
            raw.runs.append(done["messages"] / done["seconds"])

        short_path, _ = cassette(cfg, "websocket", cfg.short_sessions, ws_messages=10)
        c = max(1, cfg.e2e_concurrency // 4)
        short = Side(f"retape replay, concurrency {c}, end to end", "sessions/s")
        short_raw = Side(f"websockets client, concurrency {c}, end to end", "sessions/s")

        def retape_short() -> None:
            done = retape_replay(cfg, short_path, target, timeout=600, concurrency=c)
            short.runs.append(cfg.short_sessions / done["wall"])

        def baseline_short() -> None:
            args = [procs.PYTHON, "-m", "bench.clients", "ws", "--cassette", str(short_path)]
            done = procs.run([*args, "--target", target, "--concurrency", str(c)], timeout=600)
            short_raw.runs.append(cfg.short_sessions / done.wall)

        log(f"websocket: {sessions} sessions x {per} messages x {cfg.repeat}")
        interleaved(cfg.repeat, [retape, baseline, retape_short, baseline_short])
        rows.append(
            Row(
                f"WebSocket short sessions ({cfg.short_sessions} x 10 messages, concurrency {c})",
                short,
                short_raw,
                (">=", 0.8),
                "retape / websockets, process start to exit",
            )
        )
    window = _ws_window()
    without = total / max(1e-9, total / ours.value - sessions * window)
    rows.append(
        Row(
            f"WebSocket replay ({sessions} sessions x {per} messages)",
            ours,
            raw,
            (">=", 0.8),
            "retape / websockets",
            notes=f"{window:g} s listening window per session (replayer EXTRA_WINDOW); "
            f"without it {without:,.0f} messages/s ({without / raw.value:.2f}x)"
            if window
            else "",
        )
    )


def bench_record(cfg: Config, rows: list[Row], details: dict) -> None:
    n, c = cfg.record_requests, cfg.record_concurrency
    sides = {
        name: {
            "rps": Side(name, "requests/s"),
            "p50": Side(name, "ms"),
            "p99": Side(name, "ms"),
        }
        for name in ("retape record", "mitmdump", "direct")
    }
    out = cfg.workdir / "recorded.yaml"
    with (
        procs.http_server() as target,
        procs.mitmdump_reverse(target) as via_mitm,
        procs.retape_record(target, out) as via_us,
    ):
        urls = {"retape record": via_us, "mitmdump": via_mitm, "direct": target}

        def step(name: str) -> Callable[[], None]:
            def go() -> None:
                args = [procs.PYTHON, "-m", "bench.clients", "load"]
                args += ["--url", urls[name] + "/v1/chat/completions", "--requests", str(n)]
                args += ["--concurrency", str(c), "--warmup", str(cfg.record_warmup)]
                done = procs.run_json(args, timeout=600)
                if done["errors"]:
                    raise procs.BenchError(f"{name}: {done['errors']} failed requests")
                sides[name]["rps"].runs.append(done["count"] / done["seconds"])
                sides[name]["p50"].runs.append(done["p50_ms"])
                sides[name]["p99"].runs.append(done["p99_ms"])

            return go

        log(f"record: {n} requests, concurrency {c}, x {cfg.repeat}")
        interleaved(cfg.repeat, [step(name) for name in urls])
    from retape.cassette.load import load_cassette

    written = len(load_cassette(out).interactions)
    expected = (n + cfg.record_warmup) * cfg.repeat
    details["record"] = {"interactions_written": written, "requests_sent": expected}
    us, mitm, direct = sides["retape record"], sides["mitmdump"], sides["direct"]
    note = f"{written} of {expected} requests recorded"
    label = f"({n} requests, concurrency {c})"
    rows += [
        Row(
            f"Record throughput {label}",
            us["rps"],
            mitm["rps"],
            (">=", 0.95),
            "retape / mitmdump",
            notes=note,
        ),
        Row(
            "Record p50 latency",
            us["p50"],
            mitm["p50"],
            (">=", 0.95),
            "mitmdump / retape",
            invert=True,
        ),
        Row(
            "Record p99 latency",
            us["p99"],
            mitm["p99"],
            (">=", 0.95),
            "mitmdump / retape",
            invert=True,
        ),
        Row("Record throughput vs direct", us["rps"], direct["rps"], None, "retape / direct"),
        Row("mitmdump throughput vs direct", mitm["rps"], direct["rps"], None, "mitmdump / direct"),
    ]


def _locust_worker(cfg: Config, path: Path, target: str, prefix: Path) -> tuple[float, float]:
    """One headless run, master + one worker: (sessions/s, worker CPU seconds per session)."""
    port = procs.free_port()
    base = [procs.PYTHON, "-m", "retape", "locust", str(path), "--target", target]
    base += ["--bearer-env", procs.TOKEN_ENV, "--overlap"]
    worker_args = [*base, "--worker", "--master-host", "127.0.0.1", "--master-port", str(port)]
    users = str(cfg.locust_users)
    master = [*base, "--master", "--master-bind-host", "127.0.0.1", "--master-bind-port"]
    master += [str(port), "--expect-workers", "1", "--expect-workers-max-wait", "60"]
    master += ["--headless", "-u", users, "-r", users, "-t", f"{cfg.locust_seconds}s"]
    master += ["--csv", str(prefix), "--only-summary"]
    with procs.started(worker_args) as worker:
        procs.run(master, timeout=cfg.locust_seconds + 120)
        finished = worker.finish(timeout=60)
    with open(f"{prefix}_stats.csv", newline="") as handle:
        rows = {(row["Type"], row["Name"]): row for row in csv.DictReader(handle)}
    total = rows[("", "Aggregated")]
    if int(total["Failure Count"]):
        raise procs.BenchError(f"retape locust reported {total['Failure Count']} failures")
    [session] = [row for (kind, _), row in rows.items() if kind == "SESSION"]
    count = int(session["Request Count"])
    return float(session["Requests/s"]), finished.cpu / max(1, count)


def bench_locust(cfg: Config, rows: list[Row], details: dict) -> None:
    path, _ = cassette(cfg, "http", cfg.locust_session)
    users = cfg.locust_users
    copies = 50 if cfg.smoke else 1_000
    ours = Side(f"retape locust, 1 worker, {users} users", "sessions/s")
    theirs = Side(f"retape replay, concurrency {users}", "sessions/s")
    cpu: dict[str, list[float]] = {"locust": [], "replay": []}
    with procs.http_server() as target:

        def locust() -> None:
            rate, per = _locust_worker(cfg, path, target, cfg.workdir / "locust")
            ours.runs.append(rate)
            cpu["locust"].append(per)

        def replay() -> None:
            report = cfg.workdir / "locust-replay.json"
            args = [procs.PYTHON, "-m", "retape", "replay", *[str(path)] * copies]
            args += ["--target", target, "--bearer-env", procs.TOKEN_ENV, "--json", str(report)]
            args += ["--concurrency", str(users)]
            finished = procs.run(args, timeout=600)
            summary = json.loads(report.read_text())["summary"]
            if summary["passed"] != summary["total"]:
                raise procs.BenchError(f"retape replay did not pass: {summary}")
            theirs.runs.append(copies / summary["duration"])
            cpu["replay"].append(finished.cpu / copies)

        log(f"locust: {cfg.locust_session}-interaction sessions, {users} users x {cfg.repeat}")
        interleaved(cfg.repeat, [locust, replay])
    ms = {side: statistics.median(runs) * 1000 for side, runs in cpu.items()}
    rows.append(
        Row(
            f"Sessions per worker ({cfg.locust_session} HTTP interactions each)",
            ours,
            theirs,
            None,
            "locust worker / retape replay",
            notes=f"CPU per session: locust worker {ms['locust']:.2f} ms (the worker process; "
            f"{cfg.locust_seconds} s runs), retape replay {ms['replay']:.2f} ms "
            f"(process start included, {copies} sessions); client and server share the machine",
        )
    )
    details["locust"] = {"cpu_ms_per_session": ms}


def _mb(path: Path) -> str:
    return f"{path.stat().st_size / 1e6:.1f} MB"


def _load_step(method: str, path: Path, side: Side, rss: dict[str, int]) -> Callable[[], None]:
    """One timed load in a fresh process (bench/loadtime.py)."""

    def go() -> None:
        args = [procs.PYTHON, "-m", "bench.loadtime", method, str(path)]
        done = procs.run_json(args, timeout=1800)
        side.runs.append(done["seconds"])
        rss[method] = max(rss.get(method, 0), done["maxrss_kb"])

    return go


def bench_load(cfg: Config, rows: list[Row], details: dict) -> None:
    details["load"] = {}
    for size in cfg.load_sizes:
        path, _ = cassette(cfg, "mixed", size)
        repeat = cfg.big_repeat if size >= cfg.big else cfg.repeat
        sides = {
            "load_cassette": Side("load_cassette", "s"),
            "csafe": Side("yaml.load(CSafeLoader)", "s"),
            "safe": Side("load_cassette, RETAPE_FASTLOAD=0", "s"),
            "conforms": Side("hand check (fastload.conforms)", "s"),
            "jsonschema": Side("jsonschema (validate_data)", "s"),
        }
        methods = ["load_cassette", "csafe", "conforms", "jsonschema"]
        if size <= cfg.safe_max:
            methods.append("safe")
        rss: dict[str, int] = {}
        log(f"load: {size} interactions ({_mb(path)}) x {repeat}: {', '.join(methods)}")
        interleaved(repeat, [_load_step(m, path, sides[m], rss) for m in methods])
        label = f"{size:,} interactions, {_mb(path)}"
        rows.append(
            Row(
                f"Load + validate ({label})",
                sides["load_cassette"],
                sides["csafe"],
                ("<=", 0.25),
                "load_cassette / CSafeLoader",
            )
        )
        if sides["safe"].runs:
            rows.append(
                Row(
                    f"  safe path only ({size:,})",
                    sides["safe"],
                    sides["csafe"],
                    ("<=", 1.5),
                    "PyYAML + jsonschema / CSafeLoader",
                    notes="what load_cassette costs without yaml-rs",
                )
            )
        rows.append(
            Row(
                f"  validation alone ({size:,})",
                sides["conforms"],
                sides["jsonschema"],
                None,
                "hand check / jsonschema",
            )
        )
        details["load"][size] = {"peak_rss_kb": rss, "bytes": path.stat().st_size}


def bench_rss(cfg: Config, rows: list[Row], details: dict) -> None:
    """Peak RSS of ``retape replay`` at each size, on chat-completion cassettes.

    The websocket share of the mixed cassettes is replayed at the smallest size only:
    each session ends with a fixed listening window (``EXTRA_WINDOW`` in
    replayer/websocket.py), which makes a 100,000-interaction mixed replay take most
    of an hour, nearly all of it waiting.
    """
    details["rss"] = {}
    plan = [("http", size) for size in cfg.load_sizes] + [("mixed", cfg.load_sizes[0])]
    peaks: dict[str, float] = {}
    with procs.http_server() as target:
        for kind, size in plan:
            path, _ = cassette(cfg, kind, size)
            log(f"rss: replaying {size} {kind} interactions once")
            done = retape_replay(cfg, path, target, timeout=3600, peak=True)
            peaks[f"{kind}-{size}"] = done["maxrss_kb"] / 1024
            _rss_row(rows, details, f"{size:,} {kind}, {_mb(path)}", kind, done)
    small, large = cfg.load_sizes[0], cfg.load_sizes[-1]
    rows.append(_flat_row(f"{small:,} to {large:,} interactions", peaks, "http", small, large))
    few, many = (10, 2_000) if cfg.smoke else (10, 100_000)
    with procs.ws_server() as target:
        for count in (few, many):
            path, _ = cassette(cfg, "websocket", 1, ws_messages=count)
            log(f"rss: replaying one websocket session of {count} messages")
            done = retape_replay(cfg, path, target, timeout=3600, peak=True)
            peaks[f"session-{count}"] = done["maxrss_kb"] / 1024
            _rss_row(rows, details, f"one session of {count:,} messages", "websocket", done)
    rows.append(_flat_row(f"{few} to {many:,} messages", peaks, "session", few, many))


def _rss_row(rows: list[Row], details: dict, label: str, kind: str, done: dict) -> None:
    summary = done["summary"]
    note = (
        f"{kind} cassette, replayed in {done['wall']:.1f} s end to end "
        f"({summary['duration']:.1f} s replaying), {summary['passed']} of "
        f"{summary['total']} passed"
    )
    ours = Side("retape replay", "MB", [done["maxrss_kb"] / 1024])
    rows.append(Row(f"Peak RSS of a replay ({label})", ours, None, None, notes=note))
    details["rss"][label] = {"wall": done["wall"], "summary": summary}


def _flat_row(label: str, peaks: dict[str, float], kind: str, small: int, large: int) -> Row:
    return Row(
        f"Peak RSS growth ({label})",
        Side(f"peak at {large:,}", "MB", [peaks[f"{kind}-{large}"]]),
        Side(f"peak at {small:,}", "MB", [peaks[f"{kind}-{small}"]]),
        ("<=", 1.5),
        "large / small",
    )


def _ws_window() -> float:
    """Seconds the replayer listens for unrecorded messages before a client close."""
    try:
        from retape.replayer.net import websocket
    except ImportError:
        return 0.0
    return float(getattr(websocket, "EXTRA_WINDOW", 0.0))


def bench_append(cfg: Config, rows: list[Row], details: dict) -> None:
    for size in cfg.load_sizes:
        _path, stats = cassette(cfg, "mixed", size)
        end = Side("append near the end", "µs", [stats["append_last_us"]])
        start = Side("append near the start", "µs", [stats["append_first_us"]])
        rows.append(
            Row(
                f"Append one interaction ({size:,} in the file)",
                end,
                start,
                ("<=", 1.5),
                "end / start",
                notes=f"whole file written in {stats['seconds']:.1f} s",
            )
        )


BENCHES: dict[str, Callable[[Config, list[Row], dict], None]] = {
    "replay": bench_replay,
    "websocket": bench_websocket,
    "record": bench_record,
    "locust": bench_locust,
    "load": bench_load,
    "rss": bench_rss,
    "append": bench_append,
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench/run.py", description=__doc__.split("\n")[0])
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, one repetition")
    parser.add_argument("--only", help=f"comma-separated subset of: {', '.join(ALL)}")
    parser.add_argument("--repeat", type=int, help="repetitions (default 5, smoke 1)")
    parser.add_argument("--big-repeat", type=int, default=1, help="repetitions at 100,000+")
    parser.add_argument(
        "--sizes",
        type=lambda t: [int(x) for x in t.split(",")],
        help="cassette sizes for load/rss/append (default 1000,10000,100000)",
    )
    parser.add_argument("--replay-count", type=int, help="HTTP interactions replayed")
    parser.add_argument(
        "--concurrency",
        type=lambda t: [int(x) for x in t.split(",")],
        help="HTTP replay concurrencies compared (default 1,8,32; smoke 1,8)",
    )
    parser.add_argument(
        "--safe-max",
        type=int,
        default=10_000,
        help="largest size the old safe path is timed at (default 10000)",
    )
    parser.add_argument(
        "--workdir",
        default=os.environ.get("RETAPE_BENCH_DIR", "/tmp/retape-bench"),
        help="where generated cassettes are kept between runs",
    )
    parser.add_argument("--regenerate", action="store_true", help="rewrite cached cassettes")
    parser.add_argument("--out", type=Path, default=RESULTS, help="results directory")
    args = parser.parse_args(argv)
    cfg = config_from(args)
    unknown = set(cfg.only) - set(ALL)
    if unknown:
        parser.error(f"unknown benchmark(s) {', '.join(sorted(unknown))}; choose from {ALL}")
    help_text = procs.run([procs.PYTHON, "-m", "retape", "replay", "--help"], timeout=60).stdout
    cfg.concurrency_flag = "--concurrency" in help_text
    if cfg.concurrencies != [1] and not cfg.concurrency_flag:
        parser.error("retape replay has no --concurrency yet: only --concurrency 1 compares")
    started = time.monotonic()
    info = machine()
    rows: list[Row] = []
    details: dict[str, Any] = {}
    failures: dict[str, str] = {}
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    args.out.mkdir(parents=True, exist_ok=True)

    def save(partial: bool) -> str:
        """Written after every benchmark, so a long run that is cut short keeps its rows."""
        result = {
            "machine": info,
            "config": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(cfg).items()},
            "seconds": time.monotonic() - started,
            "partial": partial,
            "rows": [row.to_json() for row in rows],
            "details": details,
            "failures": failures,
        }
        (args.out / f"{stamp}.json").write_text(json.dumps(result, indent=2, default=str) + "\n")
        table = markdown(result)
        (args.out / "latest.md").write_text(table)
        return table

    for name in ALL:  # a fixed order
        if name not in cfg.only:
            continue
        try:
            BENCHES[name](cfg, rows, details)
        except procs.BenchError as exc:
            failures[name] = str(exc)
            log(f"{name} failed: {exc}")
        save(partial=True)
    print(save(partial=False))
    log(f"done in {(time.monotonic() - started) / 60:.1f} min: {args.out / (stamp + '.json')}")
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
