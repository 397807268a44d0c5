"""A long websocket session, recorded by the real recorder and replayed message by message.

A realtime client creates 3,000 conversation items through ``retape record`` in front of
the demo target: about 3 MB of messages (half of them the target's), past the size at
which a session is read from the cassette one message at a time
(``cassette.stream.STREAMED_SESSION_BYTES``) and a target's answers are spooled
(``replayer.spool``). Replayed with the real CLI, the
verdicts are the ones a short session gets: a fixed build passes with every server
message counted and compared, a build that drops the session fails past its 101, and a
build that answers differently deep in the session shows that one difference.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from websockets.sync.client import connect

from retape.cassette.message_log import FileMessages
from retape.cassette.stream import STREAMED_SESSION_BYTES, open_cassette
from tests.integration.test_replay_cli import BEARER, replay, rows_of
from tests.recorder_support import TIMEOUT, start_recorder
from tests.support import DEMO_TOKEN

ITEMS = 3000
WORDS = "a long realtime session recorded through retape, one item after another; " * 4
# Minted by the target on every run: not what a long session is compared on.
MINTED = ("--ignore", "$..id", "--ignore", "$..event_id")


@pytest.fixture(scope="module")
def long_session(target: Callable[[str], str], tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("long")
    out = folder / "long.yaml"
    with start_recorder(target("fixed"), out=out, home=folder / "home") as rec:
        url = rec.url.replace("http://", "ws://", 1) + "/v1/realtime"
        headers = {"Authorization": f"Bearer {DEMO_TOKEN}"}
        with connect(url, additional_headers=headers, open_timeout=TIMEOUT) as ws:
            assert json.loads(ws.recv(timeout=TIMEOUT))["type"] == "session.created"
            for number in range(ITEMS):
                item = {"type": "message", "role": "user", "content": f"{number}: {WORDS}"}
                ws.send(json.dumps({"type": "conversation.item.create", "item": item}))
                answer = json.loads(ws.recv(timeout=TIMEOUT))
                assert answer["type"] == "conversation.item.created", answer
        assert rec.stop()[0] == 0
    assert out.stat().st_size > 2 * STREAMED_SESSION_BYTES
    assert DEMO_TOKEN not in out.read_text()
    return out


def test_a_long_recorded_session_is_read_message_by_message(long_session: Path) -> None:
    (interaction,) = list(open_cassette(long_session))
    assert isinstance(interaction.messages, FileMessages)
    assert len(interaction.messages) == 2 * ITEMS + 1
    last = interaction.messages[-1]
    assert last.sender == "server" and last.value["item"]["content"].startswith(f"{ITEMS - 1}:")


def test_a_long_session_passes_on_the_fixed_build_with_every_message_compared(
    long_session: Path, target: Callable[[str], str], tmp_path: Path
) -> None:
    report = tmp_path / "r.json"
    result = replay(str(long_session), "--target", target("fixed"), *BEARER, *MINTED,
                    "--compare", "status,messages", "--json", str(report))  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    (row,) = rows_of(report)
    assert row["ws_session_ok"] and row["differences"] == []
    assert row["ws_server_messages"] == row["ws_expected_server_messages"] == ITEMS + 1


def test_a_long_session_dropped_after_the_handshake_fails(
    long_session: Path, target: Callable[[str], str], tmp_path: Path
) -> None:
    report = tmp_path / "r.json"
    result = replay(str(long_session), "--target", target("drops-session"), *BEARER,
                    "--json", str(report))  # fmt: skip
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"closed 1011 after 1 of {ITEMS + 1} server messages" in result.stdout
    (row,) = rows_of(report)
    assert (row["actual_status"], row["ws_session_ok"], row["ws_close_code"]) == (101, False, 1011)


def test_a_difference_deep_in_a_long_session_is_shown(
    long_session: Path, target: Callable[[str], str], tmp_path: Path
) -> None:
    """The recording edited at item 1234: the fixed build's answer there differs."""
    edited = tmp_path / "edited.yaml"
    text = long_session.read_text()
    assert text.count("1234: a long") == 2, "the client's item and the server's echo of it"
    server_side = text.index("1234: a long", text.index("1234: a long") + 1)
    edited.write_text(text[:server_side] + "1234: changed" + text[server_side + 4 :])
    report = tmp_path / "r.json"
    result = replay(str(edited), "--target", target("fixed"), *BEARER, *MINTED,
                    "--compare", "status,messages", "--json", str(report))  # fmt: skip
    assert result.returncode == 1, result.stdout + result.stderr
    (row,) = rows_of(report)
    (difference,) = row["differences"]  # session.created is server message 1
    assert "message 1236 (conversation.item.created)" in json.dumps(difference), difference
    assert "1234: changed" in json.dumps(difference)
