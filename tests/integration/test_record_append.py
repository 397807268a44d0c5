"""Two recording sessions into one cassette keep their secrets apart.

The second ``retape record`` onto an existing file continues its interaction ids and its
placeholder numbers, so two different keys become ``<redacted:1>`` and ``<redacted:2>``
(not both ``<redacted:1>``) and each can be given back with its own ``--secret N=VAR``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from retape.cassette import load_cassette
from tests.recorder_support import start_recorder
from tests.support import PYTHON, free_port, retape, running

ANN_KEY = "ann-key-3f9a0c7e1b5d2468"
BOB_KEY = "bob-key-8e1d4b7a2c6f9035"
ENV = {"KEYED_ANN": ANN_KEY, "KEYED_BOB": BOB_KEY}


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    port = free_port()
    with running([PYTHON, "-m", "tests.apps.keyed", str(port)], port=port, env=ENV):
        yield f"http://127.0.0.1:{port}"


def record_session(server: str, out: Path, home: Path, user: str, key: str) -> None:
    with start_recorder(server, "--quiet", out=out, home=home) as recorder:
        with httpx.Client(base_url=recorder.url, timeout=10) as client:
            assert client.get("/data", params={"user": user, "key": key}).status_code == 200
        code, output = recorder.stop()
        assert code == 0, output


@pytest.fixture(scope="module")
def cassette(server: str, home: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("append") / "two-sessions.yaml"
    record_session(server, out, home, "ann", ANN_KEY)
    record_session(server, out, home, "bob", BOB_KEY)
    return out


def _placeholder(path: str) -> str:
    (number,) = re.findall(r"<redacted:(\d+)>", path)
    return number


def test_the_second_session_continues_ids_and_placeholder_numbers(cassette: Path) -> None:
    text = cassette.read_text()
    assert ANN_KEY not in text and BOB_KEY not in text
    first, second = load_cassette(cassette).interactions
    assert (first.id, second.id) == (1, 2)
    assert "user=ann" in first.request.path and "user=bob" in second.request.path
    assert (_placeholder(first.request.path), _placeholder(second.request.path)) == ("1", "2")


def test_each_session_replays_with_its_own_secret(cassette: Path, server: str) -> None:
    first, second = (_placeholder(i.request.path) for i in load_cassette(cassette).interactions)
    env = {"ANN": ANN_KEY, "BOB": BOB_KEY}
    right = retape("replay", str(cassette), "--target", server,
                   "--secret", f"{first}=ANN", "--secret", f"{second}=BOB", env=env)  # fmt: skip
    assert right.returncode == 0, right.stdout + right.stderr
    swapped = retape("replay", str(cassette), "--target", server,
                     "--secret", f"{first}=BOB", "--secret", f"{second}=ANN", env=env)  # fmt: skip
    assert swapped.returncode == 1, swapped.stdout + swapped.stderr
    assert swapped.stdout.count("expected 200, got 403") == 2
    for key in (ANN_KEY, BOB_KEY):
        assert key not in right.stdout + right.stderr + swapped.stdout + swapped.stderr


def test_without_the_secrets_nothing_is_sent_and_the_rows_say_so(
    cassette: Path, server: str, tmp_path: Path
) -> None:
    report, lines = tmp_path / "r.json", tmp_path / "r.jsonl"
    result = retape("replay", str(cassette), "--target", server,
                    "--json", str(report), "--jsonl", str(lines))  # fmt: skip
    assert result.returncode == 1, result.stdout + result.stderr
    rows = json.loads(report.read_text())["results"]
    assert [(r["actual_status"], r["error_kind"]) for r in rows] == [(None, "not_sent")] * 2
    streamed = [json.loads(line) for line in lines.read_text().splitlines()]
    assert [r["error_kind"] for r in streamed if "id" in r] == ["not_sent"] * 2
