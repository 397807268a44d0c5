"""Verdicts that mean "the session still works", against real demo builds (issue 13).

The shipped cassettes (sessions/, recorded through the real recorder) replayed with the
real CLI against demo target variants on 127.0.0.1:

- ``drops-session`` accepts the realtime handshake and closes 1011 on the first event:
  a plain replay must fail it, saying so;
- ``auth-after-handshake`` accepts every handshake and closes 1008 before any event when
  the key is wrong: its probes are refusals, not security failures;
- ``rechunked`` streams the same answers in other chunks (fresh ids as always): with the
  shipped noise rules, deep comparison is green; ``wrong-answer`` says something else:
  the assembled texts are shown side by side.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable
from pathlib import Path

from retape.cassette.dump import dump_cassette
from retape.cassette.load import load_cassette
from retape.cassette.model import Cassette
from tests.integration.test_replay_cli import BEARER, replay, rows_of
from tests.support import REPO

SESSIONS = REPO / "sessions"
DEEP = ("--compare", "status,body,messages")


def shipped(tmp_path: Path) -> Path:
    """A copy of sessions/ with its noise files, so learning never touches the repository."""
    folder = tmp_path / "sessions"
    shutil.copytree(SESSIONS, folder)
    return folder


def realtime_accepted_only(tmp_path: Path) -> Path:
    """The recorded realtime session alone (its refused handshake left out)."""
    recorded = load_cassette(SESSIONS / "realtime.yaml")
    path = tmp_path / "realtime.yaml"
    path.write_text(dump_cassette(Cassette(recorded.recording, recorded.interactions[:1])))
    return path


def test_a_session_dropped_after_the_handshake_fails_a_plain_replay(
    target: Callable[[str], str], tmp_path: Path
) -> None:
    report = tmp_path / "r.json"
    broken = replay(str(SESSIONS), "--target", target("drops-session"), *BEARER,
                    "--json", str(report))  # fmt: skip
    assert broken.returncode == 1, broken.stdout + broken.stderr
    line = next(x for x in broken.stdout.splitlines() if "realtime.yaml #1" in x)
    assert re.search(
        r"^FAIL .* websocket GET /v1/realtime  closed 1011 after 1 of 11 server messages"
        r" \(1 of 5 client messages sent\)$",
        line,
    ), line
    row = next(r for r in rows_of(report) if r["type"] == "websocket" and r["id"] == 1)
    assert (row["expected_status"], row["actual_status"], row["ok"]) == (101, 101, False)
    assert {k: row[k] for k in ("ws_closed_by", "ws_close_code", "ws_session_ok")} == {
        "ws_closed_by": "server",
        "ws_close_code": 1011,
        "ws_session_ok": False,
    }
    assert (row["ws_server_messages"], row["ws_expected_server_messages"]) == (1, 11)
    # Only the sessions fail, each past its 101 (the stateful cassette's realtime one too).
    failed = [r for r in rows_of(report) if not r["ok"]]
    assert failed and all(
        r["type"] == "websocket" and r["actual_status"] == 101 and r["ws_session_ok"] is False
        for r in failed
    ), failed

    fixed = replay(str(SESSIONS), "--target", target("fixed"), *BEARER, "--json", str(report))
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr
    row = next(r for r in rows_of(report) if r["type"] == "websocket" and r["id"] == 1)
    assert (row["ws_session_ok"], row["ws_closed_by"], row["ws_close_code"]) == (
        True,
        "client",
        1000,
    )
    assert row["ws_server_messages"] == row["ws_expected_server_messages"] == 11


def test_a_probe_closed_1008_after_the_handshake_is_a_refusal(
    target: Callable[[str], str], tmp_path: Path
) -> None:
    cassette, report = realtime_accepted_only(tmp_path), tmp_path / "r.json"
    result = replay(str(cassette), "--target", target("auth-after-handshake"), *BEARER,
                    "--auth-matrix", "--json", str(report))  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    session, *probes = rows_of(report)
    assert session["ok"] and session["ws_session_ok"]
    for probe in probes:
        assert (probe["actual_status"], probe["ok"], probe["failure"]) == (101, True, None)
        assert (probe["ws_probe"], probe["ws_close_code"], probe["ws_server_messages"]) == (
            "refused",
            1008,
            0,
        )
    assert (
        "[no-credential]  expected 401 or 403, got 101, then closed 1008 before any message: "
        "refused after the handshake" in result.stdout
    )

    # The same probes against a build that serves the session without a key: a security
    # failure, since the probe was served a message, not just handed a 101.
    opened = replay(str(cassette), "--target", target("open-websocket"), *BEARER,
                    "--auth-matrix", "--json", str(report))  # fmt: skip
    assert opened.returncode == 1
    _, *probes = rows_of(report)
    assert [(p["failure"], p["ws_probe"]) for p in probes] == [
        ("accepted without a valid credential (security)", "served")
    ] * 2


def test_shipped_noise_makes_deep_comparison_green_against_the_demo(
    target: Callable[[str], str], tmp_path: Path
) -> None:
    before = {p.name: p.read_text() for p in SESSIONS.glob("*.noise.toml")}
    assert set(before) == {f"{p.stem}.noise.toml" for p in SESSIONS.glob("*.yaml")}
    result = replay(str(SESSIONS), "--target", target("fixed"), *BEARER,
                    "--compare", "status,headers,body,messages")  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 differences" in result.stdout
    for text in before.values():  # narrow, reviewable rules: never a whole document
        assert '"$"' not in text and "learned = [" in text


def test_the_same_answer_in_other_chunks_is_green_after_learning_noise(
    target: Callable[[str], str], tmp_path: Path
) -> None:
    folder = shipped(tmp_path)
    result = replay(str(folder), "--target", target("rechunked"), *BEARER, *DEEP, "--learn-noise")
    assert result.returncode == 0, result.stdout + result.stderr
    again = replay(str(folder), "--target", target("rechunked"), *BEARER, *DEEP)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "0 differences" in again.stdout


def test_an_answer_that_says_something_else_shows_both_assembled_texts(
    target: Callable[[str], str], tmp_path: Path
) -> None:
    folder = shipped(tmp_path)
    result = replay(str(folder), "--target", target("wrong-answer"), *BEARER, *DEEP,
                    "--learn-noise")  # fmt: skip
    assert result.returncode == 1, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert (
        "       message 6 (response.text.delta x5, assembled) $.delta: "
        '"You said: heard 320 bytes" -> "You typed: heard 320 bytes"'
    ) in lines
    assert any(
        line.startswith("       event 1 (message x")
        and line.endswith('assembled) $.choices[0].delta.content: '
                          '"You said: Say hello" -> "You typed: Say hello"')
        for line in lines
    ), result.stdout  # fmt: skip
    # Learning saw both passes agree, so the changed text was not taken for noise.
    assert "You" not in (folder / "realtime.noise.toml").read_text()


def test_relearning_drops_rules_no_longer_needed(
    target: Callable[[str], str], tmp_path: Path
) -> None:
    folder = shipped(tmp_path)
    noise = folder / "realtime.noise.toml"
    stale = noise.read_text().replace("learned = [", 'learned = [\n  "$.stale_field",', 1)
    noise.write_text(stale.replace("ignore = []", 'ignore = ["$.mine"]', 1))
    result = replay(str(folder), "--target", target("fixed"), *BEARER, *DEEP, "--learn-noise")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "dropped 1 no longer needed" in result.stdout
    text = noise.read_text()
    assert "$.stale_field" not in text and '"$.mine"' in text  # a person's rule stays
    assert '"$.event_id"' in text
