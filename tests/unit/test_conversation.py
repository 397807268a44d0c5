"""The websocket conversation as a pure state machine: turns, pacing, the session verdict.

No socket: each test plays the server by hand, feeding events into
:class:`~retape.replayer.conversation.Conversation` and checking the actions it asks for,
the way python-websockets tests its Sans-I/O ``protocol.py``.
"""

from __future__ import annotations

from typing import Any

import pytest
from retape.replayer.compare.keys import MessageRules, Terminal, parse_path
from retape.replayer.conversation import (
    QUIET_FLOOR,
    AwaitClose,
    CloseSession,
    Conversation,
    Done,
    Receive,
    Send,
    close_class,
    plan,
)

from retape.cassette.model import Close, Interaction, Message, Request, Response

TIMEOUT = 10.0


def client(value: dict[str, Any], at: float = 0.0) -> Message:
    return Message("client", at, "json", value)


def server(kind: str, at: float = 0.0, **fields: Any) -> Message:
    return Message("server", at, "json", {"type": kind, **fields})


def reply(kind: str, parent: str, **content: Any) -> Message:
    """A Jupyter kernel message answering the request whose ``msg_id`` is ``parent``."""
    value = {"header": {"msg_type": kind}, "parent_header": {"msg_id": parent}}
    return Message("server", 0.0, "json", {**value, "content": content})


def session(*messages: Message, close: Close | None = None) -> Interaction:
    return Interaction(
        1,
        "websocket",
        Request("GET", "/v1/realtime"),
        Response(101),
        messages=list(messages),
        close=close or Close(1000, "", "client"),
    )


REALTIME = session(
    server("session.created"),
    client({"type": "session.update"}),
    server("session.updated"),
    client({"type": "input_audio_buffer.append"}),
    client({"type": "input_audio_buffer.commit"}),
    server("input_audio_buffer.committed", item_id="item_1"),
    server("conversation.item.input_audio_transcription.completed", item_id="item_1"),
    client({"type": "response.create"}),
    server("response.created", response={"id": "resp_1"}),
    *[server("response.text.delta", response_id="resp_1", delta=w) for w in ("a", " b")],
    server("response.done", response={"id": "resp_1"}),
)


def start(interaction: Interaction, **rules: Any) -> Conversation:
    return Conversation(plan(interaction, rules=MessageRules(**rules), timeout=TIMEOUT), TIMEOUT)


def send_all(talk: Conversation) -> list[str]:
    """Carry out every Send the conversation asks for; the kinds sent."""
    sent = []
    while isinstance(action := talk.next_action(), Send):
        talk.sent(action.index, action.message)
        sent.append(action.message.value.get("type"))
    return sent


def test_recorded_messages_split_into_turns_with_their_terminals() -> None:
    turns = plan(REALTIME, rules=MessageRules(), timeout=TIMEOUT).turns
    assert [(len(t.client), len(t.server)) for t in turns] == [(0, 1), (1, 1), (2, 2), (1, 4)]
    assert [[e.key for e in t.terminals] for t in turns] == [
        [],
        [],
        ["conversation.item.input_audio_transcription.completed"],
        ["response.done"],
    ]
    done = turns[3].terminals[0]
    # response.done's id first came in response.created: that is what it must carry.
    assert done.correlate == ("response", "id")
    assert (done.source.sender, done.source.key, done.source.path) == (
        "server",
        "response.created",
        ("response", "id"),
    )


def test_a_turn_is_over_at_its_terminal_however_many_chunks_came() -> None:
    talk = start(REALTIME)
    assert talk.next_action() == Receive(TIMEOUT)  # the greeting: first message, full timeout
    talk.received(server("session.created"))
    assert send_all(talk) == ["session.update"]
    talk.received(server("session.updated"))  # a turn without terminal: over by count
    assert send_all(talk) == ["input_audio_buffer.append", "input_audio_buffer.commit"]
    talk.received(server("input_audio_buffer.committed"))
    assert isinstance(talk.next_action(), Receive)
    talk.received(server("conversation.item.input_audio_transcription.completed"))
    assert send_all(talk) == ["response.create"]
    talk.received(server("response.created", response={"id": "resp_9"}))
    for word in ("a", " b", " c", " d"):  # more chunks than recorded: still mid-turn
        talk.received(server("response.text.delta", response_id="resp_9", delta=word))
        assert isinstance(talk.next_action(), Receive)
    talk.received(server("response.done", response={"id": "resp_9"}))
    assert talk.next_action() == CloseSession(1000, "")  # no listening window at the end
    talk.closed(1000, by="client")
    assert talk.next_action() == Done()
    facts = talk.facts()
    assert facts.ok and facts.server_messages == 10 and talk.kept_turns[-1] == 3


def test_a_terminal_for_another_request_does_not_end_the_turn() -> None:
    talk = start(REALTIME)
    talk.received(server("session.created"))
    send_all(talk)
    talk.received(server("session.updated"))
    send_all(talk)
    talk.received(server("conversation.item.input_audio_transcription.completed"))
    send_all(talk)
    talk.received(server("response.created", response={"id": "resp_new"}))
    talk.received(server("response.done", response={"id": "resp_old"}))
    assert isinstance(talk.next_action(), Receive)
    talk.received(server("response.done", response={"id": "resp_new"}))
    assert isinstance(talk.next_action(), CloseSession)


def test_jupyter_replies_are_matched_by_the_request_we_sent() -> None:
    execute = client({"header": {"msg_type": "execute_request", "msg_id": "req-1"}})
    kernel = session(
        execute,
        reply("status", "req-1", execution_state="busy"),
        reply("stream", "req-1", text="2\n"),
        reply("execute_reply", "req-1", status="ok"),
        reply("status", "req-1", execution_state="idle"),
    )
    rules = {"key": parse_path("header.msg_type"), "free_count": frozenset({"status"})}
    talk = start(kernel, **rules)
    assert [e.key for e in talk.plan.turns[0].terminals] == ["execute_reply", "status"]
    send_all(talk)
    talk.received(reply("status", "req-1", execution_state="busy"))
    talk.received(reply("status", "req-1", execution_state="idle"))  # idle, but no reply yet
    talk.received(reply("execute_reply", "other", status="ok"))  # another request's reply
    assert isinstance(talk.next_action(), Receive)
    talk.received(reply("execute_reply", "req-1", status="ok"))
    assert isinstance(talk.next_action(), CloseSession)


def test_a_reply_recorded_before_the_last_run_still_ends_the_turn_in_any_order() -> None:
    """Recorded: our reply, then a status for Jupyter Server's own kernel_info probe, then
    our idle. The reply is not in the last run of terminals, but it answers what the
    client sent: the turn waits for it, also when it comes after the idle."""

    info = client({"header": {"msg_type": "kernel_info_request", "msg_id": "req-1"}})
    kernel = session(
        info,
        reply("status", "probe", execution_state="idle"),
        reply("kernel_info_reply", "req-1", status="ok"),
        reply("status", "req-1", execution_state="busy"),
        reply("status", "req-1", execution_state="idle"),
        client({"header": {"msg_type": "execute_request", "msg_id": "req-2"}}),
        reply("execute_reply", "req-2", status="ok"),
    )
    rules = {"key": parse_path("header.msg_type"), "free_count": frozenset({"status"})}
    talk = start(kernel, **rules)
    assert [e.key for e in talk.plan.turns[0].terminals] == ["status", "kernel_info_reply"]
    assert send_all(talk) == [None]  # the kernel_info_request (keyed by header, not type)
    talk.received(reply("status", "probe", execution_state="idle"))
    talk.received(reply("status", "req-1", execution_state="idle"))  # idle before the reply
    assert isinstance(talk.next_action(), Receive)  # the reply is still due
    talk.received(reply("kernel_info_reply", "req-1", status="ok"))
    assert isinstance(talk.next_action(), Send)  # now the execute_request


def test_server_quiet_mid_turn_ends_it_after_the_adaptive_window() -> None:
    slow = session(
        client({"type": "go"}, at=0.0),
        server("part", at=0.5),
        server("part", at=1.5),  # a one-second gap in the recording
        server("part", at=1.6),
    )
    talk = start(slow)
    send_all(talk)
    assert talk.next_action() == Receive(TIMEOUT)  # before the first answer: latency
    talk.received(server("part"))
    assert talk.next_action() == Receive(4.0)  # 4 x the largest recorded gap
    talk.quiet()
    assert talk.next_action() == CloseSession(1000, "")
    assert "server quiet after 1 of 3 messages of turn 1" in talk.facts().notes
    fast = start(session(client({"type": "go"}), server("a"), server("b")))
    send_all(fast)
    fast.received(server("a"))
    assert fast.next_action() == Receive(QUIET_FLOOR)


def test_while_a_recorded_terminal_is_due_a_slow_server_gets_the_whole_timeout() -> None:
    """A loaded server pausing mid-stream is slow, not done: only a turn with no
    recorded end is cut by the quiet window."""
    streamed = session(
        client({"type": "response.create"}, at=0.0),
        server("response.created", at=0.1, response={"id": "resp_1"}),
        server("response.text.delta", at=0.11, response_id="resp_1", delta="a"),
        server("response.done", at=0.12, response={"id": "resp_1"}),
    )
    talk = start(streamed)
    send_all(talk)
    talk.received(server("response.created", response={"id": "resp_2"}))
    assert talk.next_action() == Receive(TIMEOUT)  # not the 0.5 s window of the recording
    talk.received(server("response.done", response={"id": "resp_2"}))
    assert talk.next_action() == CloseSession(1000, "")


def test_server_closing_before_the_client_finished_fails_the_session() -> None:
    talk = start(REALTIME)
    talk.received(server("session.created"))
    send_all(talk)
    talk.closed(1011, "boom", by="server")
    facts = talk.facts()
    assert facts.early and not facts.ok
    assert facts.problem == "closed 1011 after 1 of 8 server messages (1 of 4 client messages sent)"
    assert facts.to_json()["ws_closed_by"] == "server"
    assert facts.to_json()["ws_close_code"] == 1011


def test_a_drop_reads_as_dropped() -> None:
    talk = start(REALTIME)
    talk.received(server("session.created"))
    talk.closed(1006, by="none")
    assert talk.facts().problem.startswith("dropped after 1 of 8 server messages")


def test_close_code_class_must_match_the_recording() -> None:
    recorded = session(client({"type": "bye"}), server("ok"), close=Close(1000, "", "server"))
    talk = start(recorded)
    send_all(talk)
    talk.received(server("ok"))
    assert talk.next_action() == AwaitClose(TIMEOUT)  # the recorded server closed
    talk.closed(4001, "policy", by="server")
    problem = talk.facts().problem
    assert problem == "closed 4001 (application), recorded 1000 (normal)"
    again = start(recorded)
    send_all(again)
    again.received(server("ok"))
    again.next_action()
    again.closed(1001, by="server")
    assert again.facts().ok  # going away is normal too


@pytest.mark.parametrize(
    ("code", "kind"),
    [
        *[(1000, "normal"), (1001, "normal"), (1005, "normal"), (1008, "policy")],
        *[(4003, "application"), (1011, "error"), (1006, "dropped"), (None, "dropped")],
    ],
)
def test_close_classes(code: int | None, kind: str) -> None:
    assert close_class(code) == kind


def test_a_silent_server_costs_two_timeouts_and_fails() -> None:
    talk = start(REALTIME)
    talk.quiet()  # no greeting
    send_all(talk)
    talk.quiet()  # nothing again: the walk ends
    assert talk.next_action() == CloseSession(1000, "")
    talk.closed(1000, by="client")
    facts = talk.facts()
    assert facts.problem == "the server sent nothing: 0 of 8 server messages"
    assert facts.client_messages_sent == 1


@pytest.mark.parametrize(
    ("events", "reading"),
    [
        ([("message", None)], "served"),
        ([("close", 1008)], "refused"),
        ([("close", 4003)], "refused"),
        ([("close", 1000)], "refused"),
        ([("close", 1011)], "crashed"),
        ([("quiet", None)], "open"),
    ],
)
def test_a_probe_is_judged_past_the_handshake(events: list[tuple[str, Any]], reading: str) -> None:
    talk = Conversation(plan(REALTIME, rules=MessageRules(), timeout=TIMEOUT), TIMEOUT, probe=True)
    for event, code in events:
        assert isinstance(talk.next_action(), Receive)
        if event == "message":
            talk.received(server("session.created"))
        elif event == "close":
            talk.closed(code, by="server")
        else:
            talk.quiet()
    if reading != "refused" and reading != "crashed":
        assert talk.next_action() == CloseSession(1000, "")
        talk.closed(1000, by="client")
    facts = talk.facts()
    assert facts.probe_reading == reading and facts.problem is None


def test_terminal_patterns_parse_and_match() -> None:
    idle = Terminal.parse("status[content.execution_state=idle]")
    assert idle.matches("status", {"content": {"execution_state": "idle"}})
    assert not idle.matches("status", {"content": {"execution_state": "busy"}})
    assert Terminal.parse("*.done").matches("response.done", {})
    with pytest.raises(Exception, match="KEY or KEY"):
        Terminal.parse("status[oops")


def test_a_status_busy_does_not_end_a_turn_that_ends_on_idle() -> None:
    """The terminal is the *idle* status: a busy one with the same parent is mid-turn."""

    def reply(kind: str, **content: Any) -> Message:
        value = {"header": {"msg_type": kind}, "parent_header": {"msg_id": "req-1"}}
        return Message("server", 0.0, "json", {**value, "content": content})

    execute = client({"header": {"msg_type": "execute_request", "msg_id": "req-1"}})
    kernel = session(
        execute, reply("execute_reply", status="ok"), reply("status", execution_state="idle")
    )
    talk = start(kernel, key=parse_path("header.msg_type"), free_count=frozenset({"status"}))
    send_all(talk)
    talk.received(reply("execute_reply", status="ok"))
    talk.received(reply("status", execution_state="busy"))
    assert isinstance(talk.next_action(), Receive)  # still waiting for idle
    talk.received(reply("status", execution_state="idle"))
    assert isinstance(talk.next_action(), CloseSession)
