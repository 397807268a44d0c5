"""``retape locust`` for real: a Locust master and two workers on loopback, the demo target.

Each run is bounded by Locust's ``--run-time`` and every process by a timeout; output
goes to files. The assertions read Locust's final stats (``--json-file``, written at
shutdown) and its failures CSV (rewritten once a second: it may miss the last second,
so only lower bounds are read from it).
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support import DEMO_TOKEN, PYTHON, REPO, free_port, retape

TOKEN_ENV = "RETAPE_LOCUST_TEST_TOKEN"
ENV = {**os.environ, TOKEN_ENV: DEMO_TOKEN}
INTERACTIONS = {
    ("HTTP", "GET /health"),
    ("HTTP", "GET /v1/models"),
    ("HTTP", "POST /v1/chat/completions"),
    ("WS", "GET /v1/realtime"),
    ("WS", "GET /v1/realtime turn"),
}
SESSIONS = ("sessions/chat.yaml", "sessions/realtime.yaml")


@dataclass
class Run:
    code: int
    output: str  # the master's (or the only process's) stdout and stderr
    workers: list[str]
    stats: dict[tuple[str, str], dict]
    errors: dict[tuple[str, str, str], int]  # (type, name, error) -> occurrences

    def count(self, kind: str, name: str) -> int:
        entry = self.stats.get((kind, name))
        return entry["num_requests"] if entry else 0

    def failed(self, kind: str, name: str) -> int:
        entry = self.stats.get((kind, name))
        return entry["num_failures"] if entry else 0

    @property
    def total_failures(self) -> int:
        return sum(entry["num_failures"] for entry in self.stats.values())


def _locust(target: str, *extra: str) -> list[str]:
    return [PYTHON, "-m", "retape", "locust", *SESSIONS, "--target", target]


def _read(prefix: Path, code: int, output: str, workers: list[str]) -> Run:
    entries = json.loads(Path(f"{prefix}.json").read_text())
    stats = {(entry["method"], entry["name"]): entry for entry in entries}
    errors: dict[tuple[str, str, str], int] = {}
    failures = Path(f"{prefix}_failures.csv")
    if failures.exists():
        with open(failures, newline="") as handle:
            for row in csv.DictReader(handle):
                errors[(row["Method"], row["Name"], row["Error"])] = int(row["Occurrences"])
    return Run(code, output, workers, stats, errors)


@contextlib.contextmanager
def _started(args: list[str], log: Path) -> Iterator[subprocess.Popen]:
    with open(log, "w") as out:
        proc = subprocess.Popen(
            args, cwd=REPO, env=ENV, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )
        try:
            yield proc
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.wait(10)


def cluster(target: str, tmp_path: Path, *, users: int = 4, run_time: str = "5s") -> Run:
    """A headless master expecting two workers, and the two workers, all on 127.0.0.1."""
    port = free_port()
    prefix = tmp_path / "stats"
    base = [*_locust(target), "--bearer-env", TOKEN_ENV]
    master_args = [*base, "--master", "--master-bind-host", "127.0.0.1"]
    master_args += ["--master-bind-port", str(port), "--expect-workers", "2"]
    master_args += ["--expect-workers-max-wait", "60", "--headless", "-u", str(users)]
    master_args += [
        "-r",
        str(users),
        "-t",
        run_time,
        "--csv",
        str(prefix),
        "--json-file",
        str(prefix),
    ]
    master_args += ["--only-summary"]
    worker_args = [*base, "--worker", "--master-host", "127.0.0.1", "--master-port", str(port)]
    logs = [tmp_path / f"{name}.log" for name in ("master", "worker1", "worker2")]
    with (
        _started(master_args, logs[0]) as master,
        _started(worker_args, logs[1]) as one,
        _started(worker_args, logs[2]) as two,
    ):
        code = master.wait(timeout=120)
        for worker in (one, two):
            worker.wait(timeout=30)  # the master tells its workers to quit when it ends
    outputs = [log.read_text() for log in logs]
    return _read(prefix, code, outputs[0], outputs[1:])


def _clean_and_secret_free(run: Run, tmp_path: Path) -> None:
    """No credential in any output or report; no crash, leak or stray error in any log."""
    for text in [run.output, *run.workers] + [p.read_text() for p in tmp_path.glob("*.csv")]:
        assert DEMO_TOKEN not in text
    for log in [run.output, *run.workers]:
        for sign in ("Traceback", "Exception ignored", "Unclosed", "/ERROR/"):
            assert sign not in log, log[-3000:]


def test_a_master_and_two_workers_replay_whole_sessions_against_the_fixed_build(
    target, tmp_path: Path
) -> None:
    run = cluster(target("fixed"), tmp_path)
    assert run.code == 0, run.output[-3000:]
    assert "2 workers connected" in run.output
    assert run.errors == {}
    assert run.total_failures == 0
    for session in SESSIONS:
        assert run.count("SESSION", session) >= 3, run.stats  # whole sessions, many times
    for kind, name in INTERACTIONS:
        assert run.count(kind, name) > 0, (kind, name)
    # Every chat session sent each of its five interactions: the rows add up per session.
    chats = run.count("SESSION", "sessions/chat.yaml")
    assert run.count("HTTP", "GET /health") >= chats
    assert run.count("HTTP", "POST /v1/chat/completions") >= 2 * chats
    _clean_and_secret_free(run, tmp_path)


def test_against_the_regressed_build_locust_counts_the_realtime_failures_and_exits_1(
    target, tmp_path: Path
) -> None:
    run = cluster(target("regressed"), tmp_path)
    assert run.code == 1, run.output[-3000:]
    accepted = ("WS", "GET /v1/realtime", "RetapeFailure('expected 101, got 500')")
    assert run.errors.get(accepted, 0) >= 3, run.errors
    assert run.failed("WS", "GET /v1/realtime") == run.count("WS", "GET /v1/realtime")
    for kind, name in INTERACTIONS - {("WS", "GET /v1/realtime"), ("WS", "GET /v1/realtime turn")}:
        assert run.failed(kind, name) == 0, (kind, name)
    assert run.failed("SESSION", "sessions/chat.yaml") == 0
    _clean_and_secret_free(run, tmp_path)


def test_one_process_run_follows_locusts_exit_code_on_error(target, tmp_path: Path) -> None:
    prefix = tmp_path / "stats"
    args = [*_locust(target("regressed")), "--bearer-env", TOKEN_ENV, "--headless", "-u", "2"]
    args += ["-r", "2", "-t", "3s", "--json-file", str(prefix), "--exit-code-on-error", "3"]
    with _started(args, tmp_path / "local.log") as proc:
        code = proc.wait(timeout=60)
    run = _read(prefix, code, (tmp_path / "local.log").read_text(), [])
    assert run.code == 3, run.output[-3000:]
    assert run.failed("WS", "GET /v1/realtime") > 0


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--bearer-env", "RETAPE_NOT_SET_ANYWHERE", "--headless"], "is not set"),
        (["-f", "mine.py"], "retape locust sets -f/--locustfile itself"),
        (["--host=http://elsewhere"], "--host (use --target)"),
        (["--compare", "colour"], "unknown aspect"),
    ],
)
def test_usage_errors_are_one_line_and_exit_2_before_locust_starts(
    extra: list[str], message: str
) -> None:
    done = retape("locust", "sessions/", "--target", "http://127.0.0.1:9", *extra, timeout=60)
    assert done.returncode == 2, done.stderr
    [line] = done.stderr.strip().splitlines()
    assert message in line


def test_other_subcommands_still_refuse_unknown_options() -> None:
    done = retape("replay", "sessions/", "--target", "http://127.0.0.1:9", "--headless")
    assert done.returncode == 2
    assert "unrecognized arguments: --headless" in done.stderr


def _spread(tmp_path: Path, seconds: float) -> Path:
    """sessions/chat.yaml with its last interaction ``seconds`` after its first."""
    import yaml

    data = yaml.safe_load((REPO / "sessions/chat.yaml").read_text())
    first = data["interactions"][0]["at"]
    data["interactions"][-1]["at"] = first + seconds
    path = tmp_path / "slow-chat.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def test_speed_keeps_the_recorded_think_time_of_a_session(target, tmp_path: Path) -> None:
    cassette, prefix = _spread(tmp_path, 1.2), tmp_path / "stats"
    args = [PYTHON, "-m", "retape", "locust", str(cassette), "--target", target("fixed")]
    args += ["--bearer-env", TOKEN_ENV, "--speed", "2", "--headless", "-u", "1", "-r", "1"]
    args += ["-t", "4s", "--json-file", str(prefix)]
    with _started(args, tmp_path / "local.log") as proc:
        code = proc.wait(timeout=60)
    run = _read(prefix, code, (tmp_path / "local.log").read_text(), [])
    assert run.code == 0, run.output[-3000:]
    [session] = [entry for (kind, _), entry in run.stats.items() if kind == "SESSION"]
    assert session["num_requests"] >= 1
    assert session["min_response_time"] >= 600 * 0.95  # 1.2 s recorded, twice as fast


def test_a_locustfile_of_ones_own_subclasses_cassette_user(target, tmp_path: Path) -> None:
    locustfile = tmp_path / "locustfile.py"
    locustfile.write_text(
        "from retape.replayer.locust import CassetteUser\n\n\n"
        "class Chat(CassetteUser):\n"
        f"    cassettes = [{str(REPO / 'sessions/chat.yaml')!r}]\n"
        f"    bearer_env = {TOKEN_ENV!r}\n"
    )
    prefix = tmp_path / "stats"
    args = [PYTHON, "-m", "locust", "-f", str(locustfile), "--host", target("fixed")]
    args += ["--headless", "-u", "2", "-r", "2", "-t", "3s", "--json-file", str(prefix)]
    with _started(args, tmp_path / "own.log") as proc:
        code = proc.wait(timeout=60)
    run = _read(prefix, code, (tmp_path / "own.log").read_text(), [])
    assert run.code == 0, run.output[-3000:]
    assert run.count("HTTP", "POST /v1/chat/completions") > 0
    assert run.total_failures == 0
    _clean_and_secret_free(run, tmp_path)
