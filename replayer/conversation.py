"""One recorded websocket session as a plan and a state machine: events in, actions out.

Sans-I/O, like python-websockets' ``protocol.py``: nothing here touches a socket, a
clock or an event loop, so every decision is unit-tested without a server. The driver
(:mod:`replayer.net.websocket`) asks :meth:`Conversation.next_action` what to do, does
it, and reports what happened (:meth:`~Conversation.sent`,
:meth:`~Conversation.received`, :meth:`~Conversation.quiet`,
:meth:`~Conversation.closed`); :meth:`~Conversation.facts` then says how the session
went, which is what the session verdict and the reports read.

:func:`plan` splits the recorded messages into turns: the client's messages, then the
server's answer. After sending the client's part of a turn, the server's turn is
awaited until it is over, not until a recorded number of messages came:

- its recorded terminal messages arrived, in any order: the run of terminal kinds that
  ended the turn in the recording (``response.done``; Jupyter's ``execute_reply`` and
  ``status`` back to idle), and any earlier terminal kind in the turn that answers what
  its client sent; each matched by a correlating field where the recording shows where
  its value came from (``parent_header.msg_id`` = the ``header.msg_id`` of the request
  just sent, ``response.id`` = that of the ``response.created`` just received);
- or, for a turn that ended on no terminal kind, as many messages as were recorded;
- or, for a turn that ended on no terminal kind, the server went quiet in the middle of
  its turn for the turn's quiet window (:data:`QUIET_FACTOR` times the largest gap
  between its recorded messages, at least :data:`QUIET_FLOOR`, at most the timeout).
  Before the first message of a turn, and while a recorded terminal message is still
  due, the wait is the timeout: a slow answer is latency, not the end of a turn.

After the last turn the session is closed at once, as the recorded client did, or the
server's close is awaited, as the recorded server did: no listening window.
"""

from __future__ import annotations

import functools
import itertools
import sys
from array import array
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from retape.replayer.compare.keys import MessageRules, get, paths_of, value_at

from retape.cassette.model import Close, Interaction, Message
from retape.common.sequences import OnDemand

QUIET_FACTOR = 4.0  # times the largest recorded gap inside a server turn
QUIET_FLOOR = 0.5  # seconds: a window never shorter, however fast the recording was
PROBE_FLOOR = 1.0  # seconds a probe listens at least for a first message or a close
KEPT_EXTRA = 100  # unrecorded messages kept for the comparison; the rest are only counted
NORMAL_CLOSURE = 1000
DROPPED = 1006  # not a code on the wire: what a connection lost without a close frame reads as
# Codes a client may put in a close frame (RFC 6455 7.4; 1012-1014 as websockets allows).
_SENDABLE = frozenset({1000, 1001, 1002, 1003, *range(1007, 1015)})

ClosedBy = Literal["client", "server", "none"]
CloseClass = Literal["normal", "policy", "application", "error", "dropped"]
_CLOSE_NAMES = {
    1000: "normal",
    1001: "going away",
    1005: "no status",
    1006: "dropped",
    1008: "policy violation",
    1011: "internal error",
}


def close_class(code: int | None) -> CloseClass:
    """1000/1001 (and 1005, a clean close without a code) are normal, 1008 a refusal
    by policy, 3000-4999 the application's own codes, 1006 a drop, the rest errors."""
    if code is None or code == DROPPED:
        return "dropped"
    if code in (1000, 1001, 1005):
        return "normal"
    if code == 1008:
        return "policy"
    if 3000 <= code <= 4999:
        return "application"
    return "error"


def close_name(code: int | None) -> str:
    """``1011 (internal error)``, ``4003 (application)``."""
    if code is None:
        return "no close"
    return f"{code} ({_CLOSE_NAMES.get(code) or close_class(code)})"


def close_args(close: Close | None) -> tuple[int, str]:
    """The recorded close code and reason if a client may send them, else a normal close.

    Recorded codes like 1005 (no code) and 1006 (dropped) describe what happened and are
    not allowed on the wire; a close frame's reason is at most 123 bytes.
    """
    if close is None or close.code is None:
        return NORMAL_CLOSURE, ""
    if close.code not in _SENDABLE and not 3000 <= close.code <= 4999:
        return NORMAL_CLOSURE, ""
    if len(close.reason.encode()) > 123:
        return close.code, ""
    return close.code, close.reason


# --- the plan ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Source:
    """Where, in the replay, the value a terminal message must carry comes from.

    ``client``: the client message at recorded index ``index`` (as actually sent);
    ``server``: the ``index``-th received server message of kind ``key``.
    """

    sender: Literal["client", "server"]
    index: int
    path: tuple
    key: str | None = None


@dataclass(frozen=True)
class Expect:
    """A terminal message a turn waits for: its kind, and its correlating field if any."""

    key: str
    correlate: tuple[str, ...] | None = None
    source: Source | None = None


@dataclass(frozen=True, slots=True)
class Turn:
    """The client's messages (recorded indices), then the server's answer."""

    number: int
    client: range
    server: range
    terminals: tuple[Expect, ...]
    counted: int  # server messages whose count matters (free_count kinds excluded)
    quiet: float  # seconds of silence mid-turn that end it
    latency: float  # recorded seconds from the client's part to the server's first message


class Turns(OnDemand[Turn]):
    """A session's turns as columns of numbers, each :class:`Turn` made when asked for:
    a session of 100,000 messages has 50,000 turns, and they cost 50 bytes each so."""

    def __init__(self) -> None:
        self._bounds: array[int] = array("q")  # client start, server start, server stop
        self._counted: array[int] = array("q")
        self._times: array[float] = array("d")  # quiet, latency
        self._terminals: dict[int, tuple[Expect, ...]] = {}

    def append(self, turn: Turn) -> None:
        assert turn.number == len(self)
        self._bounds.extend((turn.client.start, turn.server.start, turn.server.stop))
        self._counted.append(turn.counted)
        self._times.extend((turn.quiet, turn.latency))
        if turn.terminals:
            self._terminals[turn.number] = turn.terminals

    def __len__(self) -> int:
        return len(self._counted)

    def _item(self, index: int) -> Turn:
        start, middle, stop = self._bounds[3 * index : 3 * index + 3]
        return Turn(
            index,
            range(start, middle),
            range(middle, stop),
            self._terminals.get(index, ()),
            self._counted[index],
            self._times[2 * index],
            self._times[2 * index + 1],
        )


@dataclass(frozen=True)
class Plan:
    messages: Sequence[Message]  # may be read from the file as needed (cassette.message_log)
    turns: Sequence[Turn]
    close: Close | None
    rules: MessageRules

    @functools.cached_property
    def client_count(self) -> int:
        return sum(len(t.client) for t in self.turns)

    @functools.cached_property
    def server_count(self) -> int:
        return sum(len(t.server) for t in self.turns)

    @property
    def server_closes(self) -> bool:
        """The recorded server ended the session (a close frame or a drop)."""
        return self.close is not None and self.close.by != "client"


def _sources(turns: Iterable[Turn]) -> tuple[set[int], set[tuple[str, int]]]:
    """The client messages (indices) and server messages (kind, ordinal) whose values
    the turns' terminal messages must carry: the only ones a conversation keeps."""
    client: set[int] = set()
    server: set[tuple[str, int]] = set()
    for turn in turns:
        for expect in turn.terminals:
            if expect.source is None:
                continue
            if expect.source.sender == "client":
                client.add(expect.source.index)
            else:
                server.add((expect.source.key or "", expect.source.index))
    return client, server


def _key(message: Message, rules: MessageRules) -> str | None:
    return rules.key_of(message.value) if message.kind == "json" else None


@dataclass
class _Index:
    """What planning needs of each recorded message, without holding the messages: a
    session read from the file has its messages read once here, and again when sent."""

    client: bytearray = field(default_factory=bytearray)  # 1: from the client
    json: bytearray = field(default_factory=bytearray)  # 1: a JSON message
    terminal: bytearray = field(default_factory=bytearray)  # 1: a terminal kind
    at: array[float] = field(default_factory=lambda: array("d"))
    keys: list[str | None] = field(default_factory=list)
    ordinal: array[int] = field(default_factory=lambda: array("q"))  # among server ones of its key

    @classmethod
    def of(cls, messages: Iterable[Message], rules: MessageRules) -> _Index:
        index = cls()
        seen: dict[str | None, int] = {}
        for message in messages:
            key = _key(message, rules)
            key = sys.intern(key) if key is not None else None
            from_client = message.sender == "client"
            index.client.append(from_client)
            index.json.append(message.kind == "json")
            index.terminal.append(not from_client and rules.is_terminal(key, message.value))
            index.at.append(message.at)
            index.keys.append(key)
            index.ordinal.append(seen.get(key, 0))
            if not from_client:
                seen[key] = seen.get(key, 0) + 1
        return index


def _source(
    messages: Sequence[Message], index: _Index, first: int, before: int, value: str
) -> Source | None:
    """Where ``value`` first appeared in this turn (from message ``first``) before message
    ``before``: what the client sent is preferred (it is sent again as recorded), else an
    earlier server message. Only the turn is searched, so planning a long session costs
    the same per turn however long it is."""
    for sender in (1, 0):
        # The request just sent (latest first); the server's first mention (earliest first),
        # which a replay that streams in other chunks still has.
        order = range(before - 1, first - 1, -1) if sender else range(first, before)
        for at in order:
            if index.client[at] != sender or not index.json[at]:
                continue
            path = next(paths_of(messages[at].value, value), None)
            if path is None:
                continue
            if sender:
                return Source("client", at, path)
            return Source("server", index.ordinal[at], path, index.keys[at])
    return None


def _expect(
    messages: Sequence[Message], index: _Index, first: int, at: int, rules: MessageRules
) -> Expect:
    key = index.keys[at] or ""
    value = messages[at].value
    for path in rules.correlate:
        wanted = value_at(value, path)
        if isinstance(wanted, str) and wanted:
            source = _source(messages, index, first, at, wanted)
            if source is not None:
                return Expect(key, path, source)
    return Expect(key)


def _replies(
    messages: Sequence[Message], index: _Index, client: range, earlier: range, rules: MessageRules
) -> list[Expect]:
    """Terminal messages before the turn's last run that answer what this turn's client
    sent (their correlating field holds a value it sent): they end the turn too, in
    whatever order they come. A Jupyter kernel's shell reply and its iopub idle travel
    on separate sockets: recorded as reply then idle, replayed as idle then reply."""
    replies = []
    for at in earlier:
        if index.terminal[at]:
            expect = _expect(messages, index, client.start, at, rules)
            source = expect.source
            if source is not None and source.sender == "client" and source.index in client:
                replies.append(expect)
    return replies


def _window(gaps: Iterable[float], timeout: float) -> float:
    return min(timeout, max(QUIET_FLOOR, QUIET_FACTOR * max(gaps, default=0.0)))


def _groups(index: _Index) -> Iterator[tuple[range, range]]:
    """Each turn's client part and server part: consecutive runs of the recording."""
    count = len(index.client)
    at = 0
    while at < count:
        start = at
        while at < count and index.client[at]:
            at += 1
        middle = at
        while at < count and not index.client[at]:
            at += 1
        yield range(start, middle), range(middle, at)


def plan(interaction: Interaction, *, rules: MessageRules, timeout: float) -> Plan:
    """The recorded session split into turns, each with what ends the server's part."""
    messages = interaction.messages
    index = _Index.of(messages, rules)
    turns = Turns()
    for number, (client, server) in enumerate(_groups(index)):
        trailing = server.stop
        while trailing > server.start and index.terminal[trailing - 1]:
            trailing -= 1
        first = client.start if client else server.start
        expects = [_expect(messages, index, first, i, rules) for i in range(trailing, server.stop)]
        expects += _replies(messages, index, client, range(server.start, trailing), rules)
        terminals = tuple(dict.fromkeys(expects))
        counted = sum(index.keys[i] not in rules.free_count for i in server)
        times = index.at[server.start : server.stop]
        start = index.at[client.stop - 1] if client else 0.0
        turns.append(
            Turn(
                number,
                client,
                server,
                terminals,
                counted,
                _window((b - a for a, b in itertools.pairwise(times)), timeout),
                max(0.0, times[0] - start) if times else 0.0,
            )
        )
    return Plan(messages, turns, interaction.close, rules)


# --- actions (out) -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Send:
    """Send the recorded client message ``index`` (the driver may fill values in first)."""

    index: int
    message: Message


@dataclass(frozen=True)
class Receive:
    """Wait at most ``timeout`` seconds for the next server message."""

    timeout: float


@dataclass(frozen=True)
class AwaitClose:
    """Read until the server closes, at most ``timeout`` seconds, as the recorded one did."""

    timeout: float


@dataclass(frozen=True)
class CloseSession:
    """Close the connection with this code and reason."""

    code: int
    reason: str


@dataclass(frozen=True)
class Done:
    """Nothing more to do."""


Action = Send | Receive | AwaitClose | CloseSession | Done
DONE = Done()


# --- the verdict's data --------------------------------------------------------------------------


@dataclass(frozen=True)
class SessionFacts:
    """How a replayed session went; :attr:`problem` is the session verdict.

    The session ran when the server neither closed nor dropped it before the client
    had sent its recorded part and the server's turn then in progress was over, when
    the server (if it closed) closed with a code of the recorded class, and when the
    server said anything at all where the recording had it say something.
    """

    client_messages: int
    client_messages_sent: int
    server_messages_expected: int
    server_messages: int
    closed_by: ClosedBy | None
    close_code: int | None
    close_reason: str
    recorded_close: Close | None
    early: bool = False
    notes: tuple[str, ...] = ()
    probe: bool = False

    @property
    def class_changed(self) -> bool:
        """The server ended the session with another class of code than recorded."""
        if self.closed_by not in ("server", "none") or self.recorded_close is None:
            return False
        recorded = self.recorded_close
        expected = recorded.code if recorded.by != "client" else NORMAL_CLOSURE
        if recorded.by == "none":
            expected = DROPPED
        return close_class(self.close_code) != close_class(expected)

    @property
    def problem(self) -> str | None:
        """``closed 1011 after 1 of 6 server messages``, or ``None`` when the session ran."""
        if self.probe:
            return None
        counts = f"{self.server_messages} of {self.server_messages_expected} server messages"
        if self.early:
            dropped = self.closed_by == "none" or self.close_code in (None, DROPPED)
            what = "dropped" if dropped else f"closed {self.close_code}"
            text = f"{what} after {counts}"
            if self.client_messages_sent < self.client_messages:
                sent = f"{self.client_messages_sent} of {self.client_messages}"
                text += f" ({sent} client messages sent)"
            return text
        if self.class_changed:
            assert self.recorded_close is not None
            recorded = self.recorded_close.code if self.recorded_close.by != "client" else 1000
            return f"closed {close_name(self.close_code)}, recorded {close_name(recorded)}"
        if self.server_messages_expected and not self.server_messages:
            return f"the server sent nothing: {counts}"
        return None

    @property
    def ok(self) -> bool:
        return self.problem is None

    @property
    def served(self) -> bool:
        return self.server_messages > 0

    @property
    def probe_reading(self) -> Literal["served", "refused", "crashed", "open"]:
        """What a probe's accepted handshake turned out to be.

        Served any message: accepted. Closed by the server before any message with a
        normal, policy or application code: a refusal after the handshake. Closed with
        an error code or dropped before any message: a crash. Kept open in silence:
        nothing shows it refused, so it counts as accepted.
        """
        if self.served:
            return "served"
        if self.closed_by in ("server", "none"):
            if close_class(self.close_code) in ("normal", "policy", "application"):
                return "refused"
            return "crashed"
        return "open"

    @property
    def note(self) -> str | None:
        return "; ".join(self.notes) or None

    def to_json(self) -> dict[str, Any]:
        """The websocket fields of a JSON report row (docs/replay.md)."""
        data: dict[str, Any] = {
            "ws_session_ok": self.ok,
            "ws_problem": self.problem,
            "ws_closed_by": self.closed_by,
            "ws_close_code": self.close_code,
            "ws_close_reason": self.close_reason,
            "ws_recorded_close_code": self.recorded_close.code if self.recorded_close else None,
            "ws_server_messages": self.server_messages,
            "ws_expected_server_messages": self.server_messages_expected,
            "ws_client_messages_sent": self.client_messages_sent,
            "ws_expected_client_messages": self.client_messages,
        }
        if self.probe:
            data["ws_probe"] = self.probe_reading
        return data


# --- the state machine ---------------------------------------------------------------------------

_State = Literal["talk", "end", "await_close", "closing", "done"]


class Keeper(Protocol):
    """Where received messages are kept: a list, or a spool that is not all in memory."""

    def append(self, message: Message, /) -> None: ...
    def __len__(self) -> int: ...
    def __getitem__(self, index: int, /) -> Message: ...
    def __iter__(self) -> Iterator[Message]: ...


_NONE = object()


class Conversation:
    """The replay's side of one session: what to send, when a turn is over, how it ended.

    ``kept`` holds the server messages received (up to a bound, for the comparison) and
    ``kept_turns`` the turn each arrived in. ``probe=True`` plays only the first turn and
    stops at the first server message: an auth probe asks whether the server serves
    anyone, not whether the session works.
    """

    def __init__(
        self,
        plan: Plan,
        timeout: float,
        *,
        probe: bool = False,
        kept: Keeper | None = None,
    ) -> None:
        """``kept``: where received messages go (a list unless the driver gives a spool
        that keeps a long session out of memory)."""
        self.plan, self.timeout, self.probe = plan, timeout, probe
        self.kept: Keeper = kept if kept is not None else []
        self.kept_turns: array[int] = array("q")
        self.server_messages = 0
        self.client_sent = 0
        self.closed_by: ClosedBy | None = None
        self.close_code: int | None = None
        self.close_reason = ""
        self.early = False
        self.notes: list[str] = []
        self._state: _State = "talk"
        self._turn = self._sending = self._in_turn = self._counted = 0
        self._pending: list[Expect] = []
        self._turns = plan.turns[:1] if probe else plan.turns
        # Only what a terminal message must carry is kept of what was sent and received.
        self._sources, self._server_sources = _sources(self._turns)
        self._sent: dict[int, Message] = {}
        self._by_key: dict[tuple[str, int], Any] = {}
        self._seen: dict[str, int] = {}
        self._source_keys = {key for key, _ in self._server_sources}
        self._timed_out = False  # a whole timeout passed with nothing, and nothing came since
        self._stopped = False  # the walk was cut short: do not wait for the server's close
        if not self._turns:
            self._state = "end"
        else:
            self._start_turn()

    # -- what to do next

    def next_action(self) -> Action:
        if self._state == "talk":
            turn = self._current
            if self._sending < len(turn.client):
                index = turn.client[self._sending]
                return Send(index, self.plan.messages[index])
            if self._turn_over(turn):
                self._next_turn()
                return self.next_action()
            return Receive(self._window(turn))
        if self._state == "end":
            awaits = self.plan.server_closes and not self.probe and not self._stopped
            self._state = "await_close" if awaits else "closing"
            return self.next_action()
        if self._state == "await_close":
            return AwaitClose(self.timeout)
        if self._state == "closing":
            code, reason = (NORMAL_CLOSURE, "") if self.probe else close_args(self.plan.close)
            return CloseSession(code, reason)
        return DONE

    def _window(self, turn: Turn) -> float:
        if self.probe:
            return min(self.timeout, max(PROBE_FLOOR, QUIET_FACTOR * turn.latency))
        if self._pending:  # its recorded end has not come: a loaded server is slow, not done
            return self.timeout
        return turn.quiet if self._in_turn else self.timeout

    def _turn_over(self, turn: Turn) -> bool:
        if self.probe:
            return self._in_turn > 0 or not turn.server
        if turn.terminals:
            return not self._pending
        return self._counted >= turn.counted

    def _start_turn(self) -> None:
        self._sending = self._in_turn = self._counted = 0
        self._current = self._turns[self._turn]  # Turns builds one each time it is asked
        self._pending = list(self._current.terminals)

    def _next_turn(self) -> None:
        self._turn += 1
        if self._turn >= len(self._turns):
            self._state = "end"
        else:
            self._start_turn()

    def _note(self, text: str) -> None:
        if text not in self.notes:
            self.notes.append(text)

    # -- what happened (events in)

    def sent(self, index: int, message: Message) -> None:
        """The driver sent recorded message ``index`` as ``message`` (values filled in)."""
        if index in self._sources:
            self._sent[index] = message
        self.client_sent += 1
        self._sending += 1

    def send_timed_out(self) -> None:
        self._note(f"timeout after {self.timeout:g}s sending")
        self._state, self._stopped = "end", True

    def received(self, message: Message) -> None:
        """A server message arrived (kept for the comparison up to a bound)."""
        self.server_messages += 1
        self._timed_out = False
        if len(self.kept) < self.plan.server_count + KEPT_EXTRA:
            self.kept.append(message)
            self.kept_turns.append(self._turn)
        key = _key(message, self.plan.rules)
        if key is not None and key in self._source_keys:
            ordinal = self._seen.get(key, 0)
            self._seen[key] = ordinal + 1
            if (key, ordinal) in self._server_sources:
                self._by_key[key, ordinal] = message.value
        if self._state != "talk":
            return
        self._in_turn += 1
        self._counted += key not in self.plan.rules.free_count
        if not self.plan.rules.is_terminal(key, message.value):
            return  # a Jupyter status "busy" is no end, whatever its parent
        for expect in self._pending:
            if expect.key == key and self._correlates(expect, message):
                self._pending.remove(expect)
                break

    def _correlates(self, expect: Expect, message: Message) -> bool:
        if expect.source is None or expect.correlate is None:
            return True
        wanted = self._value_of(expect.source)
        return wanted is None or value_at(message.value, expect.correlate) == wanted

    def _value_of(self, source: Source) -> Any:
        if source.sender == "client":
            sent = self._sent.get(source.index)
            return get(sent.value, source.path) if sent is not None else None
        value = self._by_key.get((source.key or "", source.index), _NONE)
        return None if value is _NONE else get(value, source.path)

    def quiet(self) -> None:
        """The last :class:`Receive` or :class:`AwaitClose` passed without a message."""
        if self._state == "await_close":
            self._note(f"server did not close within {self.timeout:g}s as recorded")
            self._state = "closing"
            return
        if self._state != "talk":
            return
        turn = self._current
        if self.probe or self._in_turn:
            if not self.probe and self._counted < turn.counted:
                got = f"{self._in_turn} of {len(turn.server)}"
                self._note(f"server quiet after {got} messages of turn {turn.number + 1}")
            self._next_turn()
            return
        waiting = f"waiting for server message {self.server_messages + 1}"
        self._note(f"timeout after {self.timeout:g}s {waiting}")
        if self._timed_out:  # a second whole timeout with nothing in between: it is silent
            self._note("server silent: conversation ended")
            self._state, self._stopped = "end", True
            return
        self._timed_out = True
        self._next_turn()

    def closed(self, code: int | None, reason: str = "", *, by: ClosedBy) -> None:
        """The connection is closed: by the server (or dropped) at any point, or by us."""
        self.closed_by, self.close_code, self.close_reason = by, code, reason
        if by != "client" and self._state == "talk":
            self.early = True
            if code not in (None, DROPPED):
                self._note(f"connection closed early: {close_name(code)} {reason}".rstrip())
            else:
                self._note("connection dropped early")
        self._state = "done"

    # -- how it went

    def facts(self) -> SessionFacts:
        return SessionFacts(
            client_messages=sum(len(t.client) for t in self._turns),
            client_messages_sent=self.client_sent,
            server_messages_expected=self.plan.server_count,
            server_messages=self.server_messages,
            closed_by=self.closed_by,
            close_code=self.close_code,
            close_reason=self.close_reason,
            recorded_close=self.plan.close,
            early=self.early,
            notes=tuple(self.notes),
            probe=self.probe,
        )
