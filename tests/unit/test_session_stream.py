"""A long websocket session is read message by message, and reads as the loader reads it.

Past ``STREAMED_SESSION_BYTES`` of messages, ``cassette.stream`` keeps only where each
message is in the file (``cassette.message_log.FileMessages``) and parses one when it is
asked for; the replayer spools what a target sends (``replayer.spool``). These tests set
the bound to nothing, so every session takes that path, and pin that it builds what
``load_cassette`` builds, words errors as the loader does (the message's own line), and
keeps memory bounded by a message, not the session.
"""

from __future__ import annotations

import os
import tracemalloc
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from retape.replayer.auth.mask import Masker
from retape.replayer.compare.ignore import IgnoreRules
from retape.replayer.compare.keys import MessageRules
from retape.replayer.compare.messages import compare_messages
from retape.replayer.spool import MessageSpool

from retape.cassette import stream as stream_module
from retape.cassette.dump import dump_cassette, dump_header, dump_interaction
from retape.cassette.errors import CassetteError
from retape.cassette.load import load_cassette
from retape.cassette.message_log import FileMessages, LazyMessages
from retape.cassette.model import (
    Cassette,
    Close,
    Interaction,
    Message,
    Recording,
    Request,
    Response,
)
from retape.cassette.stream import iter_interactions, open_cassette
from tests.unit.test_cassette_stream import cassettes, write


@pytest.fixture(autouse=True)
def every_session_streamed(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(stream_module, "STREAMED_SESSION_BYTES", 0)
    yield


def session(ident: int = 1, count: int = 100, *, close: Close | None = None) -> Interaction:
    messages = [
        Message(
            "client" if number % 2 == 0 else "server",
            number / 1000,
            "json",
            {"type": "conversation.item.create", "event_id": f"evt_{number}", "n": number},
        )
        for number in range(count)
    ]
    return Interaction(
        ident,
        "websocket",
        Request("GET", "/v1/realtime", [("Host", "recorded.example")]),
        Response(101),
        messages=messages,
        close=close or Close(1000, "bye", "client"),
    )


def written(folder: Path, *interactions: Interaction) -> Path:
    return write(folder, dump_cassette(Cassette(Recording(), list(interactions))))


def errors(read) -> str:
    with pytest.raises(CassetteError) as caught:
        read()
    return str(caught.value)


def test_a_long_session_is_read_as_needed_and_equals_the_loaded_one(tmp_path: Path) -> None:
    path = written(tmp_path, session(1), session(2, close=Close(1011, "boom", "server")))
    loaded = load_cassette(path).interactions
    streamed = list(open_cassette(path))
    assert all(isinstance(i.messages, FileMessages) for i in streamed)
    assert streamed == loaded
    assert [i.close for i in streamed] == [i.close for i in loaded]
    assert list(iter_interactions(path)) == loaded
    assert streamed[0].messages[57] == loaded[0].messages[57]
    assert streamed[0].messages[-1] == loaded[0].messages[-1]
    assert streamed[0].messages[3:6] == loaded[0].messages[3:6]


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(cassettes())
def test_generated_sessions_stream_as_they_load(tmp_path_factory, cassette: Cassette) -> None:
    path = write(tmp_path_factory.mktemp("gen"), dump_cassette(cassette))
    loaded = load_cassette(path)
    stream = open_cassette(path)
    assert not stream.whole
    assert list(stream) == loaded.interactions


# Hand edits of a session's messages: read message by message or whole, the same result.
SESSION_EDITS = {
    "comments and blanks between messages": lambda t: t.replace(
        "\n  - from: server", "\n  # a note\n\n  - from: server"
    ),
    "crlf": lambda t: t.replace("\n", "\r\n"),
    "quoted path running into the messages": lambda t: t.replace(
        "path: /v1/realtime", 'path: "/v1/realtime', 1
    ).replace("  close:\n", '  x: "\n  close:\n', 1),
    "flow list running over a message start": lambda t: t.replace(
        "      n: 3\n", "      n: [3,\n  - 4]\n", 1
    ),
    "a message's alias to an earlier one": lambda t: t.replace(
        "event_id: evt_1\n", "event_id: &e evt_1\n", 1
    ).replace("event_id: evt_2\n", "event_id: *e\n", 1),
    "a key between the messages": lambda t: t.replace(
        "\n  - from: server", "\n  duration: 3\n  - from: server", 1
    ),
    "messages after the close": lambda t: t.replace(
        "  messages:\n", "  close: null\n  messages:\n"
    ),
    "no newline at the end": lambda t: t.rstrip("\n"),
}


@pytest.mark.parametrize("edit", SESSION_EDITS.values(), ids=SESSION_EDITS.keys())
def test_hand_edited_sessions_read_like_the_loader(tmp_path: Path, edit) -> None:
    text = dump_cassette(Cassette(Recording(), [session(1, 10), session(2, 10)]))
    path = write(tmp_path, edit(text))
    try:
        whole = load_cassette(path).interactions
    except CassetteError as exc:
        assert errors(lambda: open_cassette(path)) == str(exc)
        return
    assert list(open_cassette(path)) == whole


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("    at: 0.057\n", "    at: .inf\n"),  # a message's own line
        ("      n: 57\n", "      n: 57\n    text: both\n"),  # two payloads
        ("  - from: server\n    at: 0.057", "  - from: nobody\n    at: 0.057"),
        ("  close:\n    code: 1000", "  close:\n    code: thousand"),  # after the messages
    ],
    ids=["not finite", "two payloads", "unknown sender", "after the messages"],
)
def test_an_error_in_a_long_session_is_worded_as_the_loader_words_it(
    tmp_path: Path, old: str, new: str
) -> None:
    text = dump_cassette(Cassette(Recording(), [session(1), session(2)]))
    assert old in text
    path = write(tmp_path, text.replace(old, new, 1))
    loaded = errors(lambda: load_cassette(path))
    assert ":" in loaded and "interactions[0]" in loaded
    assert errors(lambda: open_cassette(path)) == loaded
    assert errors(lambda: list(iter_interactions(path))) == loaded


def test_messages_on_an_http_interaction_are_refused_as_by_the_loader(tmp_path: Path) -> None:
    text = dump_cassette(Cassette(Recording(), [session(1, 10)]))
    path = write(tmp_path, text.replace("type: websocket", "type: http"))
    assert errors(lambda: open_cassette(path)) == errors(lambda: load_cassette(path))


def test_too_many_messages_are_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(stream_module, "MAX_MESSAGES", 40)
    path = written(tmp_path, session(1, 41))
    message = errors(lambda: open_cassette(path))
    assert message.startswith(f"{path}:") and "more than 40 messages in one session" in message
    assert "interactions[0].messages" in message


def test_a_file_rewritten_after_validation_is_not_read_as_the_same(tmp_path: Path) -> None:
    path = written(tmp_path, session(1))
    (interaction,) = list(open_cassette(path))
    first = interaction.messages[0]
    assert first.value["n"] == 0
    path.write_text(path.read_text().replace("n: 1\n", "n: 9\n"))
    os.utime(path, ns=(1, 1))
    with pytest.raises(CassetteError, match="changed after it was validated"):
        interaction.messages[1]


def test_a_torn_long_session_at_the_end_is_dropped_as_by_the_loader(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    text = dump_cassette(Cassette(Recording(), [session(1), session(2)]))
    path = write(tmp_path, text[: text.rindex("    at: 0.09") + 7])
    with caplog.at_level("WARNING"):
        loaded = load_cassette(path).interactions
        streamed = list(open_cassette(path))
    assert [i.id for i in loaded] == [1] and streamed == loaded
    assert "ignoring the last interaction" in caplog.text


def test_reading_a_long_session_holds_one_message_not_the_session(tmp_path: Path) -> None:
    path = tmp_path / "long.yaml"
    with path.open("w", encoding="utf-8") as out:
        out.write(dump_header(Recording()))
        out.write(dump_interaction(session(1, 6000)))
    size = path.stat().st_size
    tracemalloc.start()
    try:
        stream = open_cassette(path)
        validated = tracemalloc.get_traced_memory()[1]
        tracemalloc.reset_peak()
        (interaction,) = list(stream)
        count = sum(1 for message in interaction.messages if message.sender == "server")
        read = tracemalloc.get_traced_memory()[1]
        tracemalloc.reset_peak()
        load_cassette(path)
        loaded = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert count == 3000
    assert loaded > size  # the whole session, as objects
    # Per message: where it is (16 bytes), its digest (8) and how it was parsed (1), and
    # what reading one costs: bookkeeping, a small fraction of the session loaded whole.
    bound = 6000 * 40 + 100_000
    assert validated < bound and read < bound, (validated, read, size, loaded)
    assert read < loaded / 20, (read, loaded)


# --- the replayer's side: what the target sent, spooled -----------------------------------


def test_a_spool_reads_back_what_was_appended_past_its_memory() -> None:
    spool = MessageSpool(in_memory=200)
    sent = [
        Message("server", n / 10, "json", {"type": "delta", "n": n, "text": "é" * n})
        for n in range(50)
    ] + [Message("server", 9.0, "text", "plain"), Message("server", 9.5, "base64", "AAEC")]
    for message in sent:
        spool.append(message)
    assert len(spool) == len(sent)
    assert list(spool) == sent
    assert spool[-1] == sent[-1] and spool[10:12] == sent[10:12]
    assert spool._file is not None  # most of it went to the file


def test_a_masker_masks_spooled_messages_as_they_are_read() -> None:
    spool = MessageSpool(in_memory=0)
    spool.append(Message("server", 0.1, "json", {"seen": "Bearer live-secret-value-123"}))
    spool.append(Message("server", 0.2, "text", "echo live-secret-value-123"))
    masked = Masker(["live-secret-value-123"]).value(spool)
    assert isinstance(masked, LazyMessages)
    assert "live-secret-value-123" not in repr(list(masked))
    assert len(masked) == 2


@pytest.mark.parametrize("unordered", [False, True], ids=["in order", "unordered"])
def test_a_long_session_compares_as_the_loaded_one(tmp_path: Path, unordered: bool) -> None:
    """Recorded messages read from the file and live ones from a spool give the same
    differences as both sides in memory (their contents are read when compared)."""
    path = written(tmp_path, session(1, 400))
    (streamed,) = list(open_cassette(path))
    (loaded,) = load_cassette(path).interactions
    live = [m for m in loaded.messages if m.sender == "server"]
    live[100] = replace(live[100], value={**live[100].value, "n": -1})
    del live[150]
    spool = MessageSpool(in_memory=0)
    for message in live:
        spool.append(message)
    turns = [n for n in range(len(live))]
    rules = MessageRules(unordered=unordered)
    kept = compare_messages(
        loaded.messages, live, rules=IgnoreRules(), messages=rules, actual_turns=turns
    )
    assert len(kept) >= 2 and any("-1" in repr(d) for d in kept)
    spooled = compare_messages(
        streamed.messages, spool, rules=IgnoreRules(), messages=rules, actual_turns=turns
    )
    assert spooled == kept


def test_a_hostile_message_deep_in_a_long_session_is_one_line_not_a_crash(
    tmp_path: Path,
) -> None:
    """20,000 nested block sequences inside message 57: refused like the whole file is,
    before any parser can overflow its stack."""
    text = dump_cassette(Cassette(Recording(), [session(1)]))
    path = write(
        tmp_path, text.replace("      n: 57\n", "      n:\n      " + "- " * 20_000 + "x\n")
    )
    loaded = errors(lambda: load_cassette(path))
    assert "nested" in loaded
    assert errors(lambda: open_cassette(path)) == loaded
