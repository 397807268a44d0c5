"""Pure comparison of a recording with its replay: the verdict, composed from aspects.

The status is always compared: the HTTP status, or for a websocket the handshake
status (101 when accepted). That is what catches an auth regression like a websocket
upgrade answered with 500. Deeper aspects are opt-in (``--compare``), one small module
each (:mod:`replayer.compare_headers`, :mod:`replayer.compare_body`,
:mod:`replayer.compare_messages`), and only run once the status matched: after a
101 -> 500 the body diff would only bury the headline.

An auth probe has its own verdict: a refusal passes, an acceptance is a security
failure and a 5xx is a crash, whatever was recorded.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from retape.replayer.compare.body import Content, Kind, compare_contents, kind_of, read_content
from retape.replayer.compare.diff_json import Difference
from retape.replayer.compare.headers import compare_headers
from retape.replayer.compare.ignore import IgnoreRules
from retape.replayer.compare.keys import MessageRules, parse_path
from retape.replayer.compare.messages import DEFAULT_KEY, compare_messages
from retape.replayer.results import Outcome

from retape.cassette.model import Interaction
from retape.common.errors import RetapeError

ACCEPTED = "accepted without a valid credential (security)"
CRASHED = "server error instead of a refusal"
CLOSED_CRASHED = "closed with an error instead of a refusal"


class Aspect(StrEnum):
    STATUS = "status"
    HEADERS = "headers"
    BODY = "body"
    MESSAGES = "messages"


DEEP = frozenset({Aspect.HEADERS, Aspect.BODY, Aspect.MESSAGES})


def parse_aspects(text: str) -> frozenset[Aspect]:
    """``status,body`` → aspects; status is always included."""
    aspects = {Aspect.STATUS}
    for name in (part.strip().lower() for part in text.split(",")):
        if not name:
            continue
        try:
            aspects.add(Aspect(name))
        except ValueError:
            valid = ", ".join(a.value for a in Aspect)
            raise RetapeError(f"--compare: unknown aspect {name!r} (expected {valid})") from None
    return frozenset(aspects)


@dataclass(frozen=True)
class Comparison:
    """How recorded rows are judged: the aspects compared and the message key."""

    aspects: frozenset[Aspect] = frozenset({Aspect.STATUS})
    message_key: str = DEFAULT_KEY

    @property
    def deep(self) -> bool:
        return bool(self.aspects & DEEP)

    @property
    def messages(self) -> MessageRules:
        """The project-wide message rules (a cassette's ``.noise.toml`` may override)."""
        return MessageRules(key=parse_path(self.message_key, where="message_key"))


def recorded_outcome(interaction: Interaction) -> Outcome:
    """The recording seen as an outcome, so both sides go through the same comparators."""
    response = interaction.response
    body = response.body.to_bytes() if response.body is not None else None
    messages = interaction.messages if interaction.type == "websocket" else None
    return Outcome(status=response.status, headers=response.headers, body=body, messages=messages)


def _content(data: bytes | None, kind: Kind) -> Content | None:
    return read_content(kind, data) if data else None


def compare_outcomes(
    expected: Outcome,
    actual: Outcome,
    *,
    aspects: Iterable[Aspect],
    rules: IgnoreRules,
    messages: MessageRules | None = None,
    interaction: Interaction | None = None,
) -> list[Difference]:
    """Differences in the deeper aspects; ``interaction`` tells how the body was recorded.

    ``expected`` may be the recording (:func:`recorded_outcome`, whose turns are worked
    out from the conversation) or another replay (noise learning, ``expected.turns``).
    """
    messages = messages or MessageRules()
    wanted = set(aspects)
    found: list[Difference] = []
    if Aspect.HEADERS in wanted:
        found += compare_headers(expected.headers, actual.headers, rules=rules)
    if Aspect.BODY in wanted:
        recorded = interaction.response.body if interaction is not None else None
        kind = kind_of(expected.headers, expected.body or b"", recorded)
        found += compare_contents(
            _content(expected.body, kind),
            _content(actual.body, kind),
            rules=rules,
            assemble=messages.assemble,
        )
    if Aspect.MESSAGES in wanted and expected.messages is not None:
        found += compare_messages(
            expected.messages,
            actual.messages or [],
            rules=rules,
            messages=messages,
            expected_turns=expected.turns,
            actual_turns=actual.turns,
        )
    return found


def passed(*, expected_status: int, actual_status: int | None, error: str | None) -> bool:
    """The status verdict alone: it matched exactly and nothing went wrong on the way."""
    return error is None and actual_status is not None and actual_status == expected_status


@dataclass
class Verdict:
    ok: bool
    differences: list[Difference] = field(default_factory=list)
    failure: str | None = None


def judge(
    interaction: Interaction,
    actual: Outcome,
    *,
    comparison: Comparison,
    rules: IgnoreRules,
    messages: MessageRules | None = None,
) -> Verdict:
    """A recorded interaction's row: same status, nothing gone wrong, the websocket
    session ran (:attr:`SessionFacts.problem`), no differences."""
    if actual.error is not None or actual.status != interaction.response.status:
        return Verdict(ok=False)
    if actual.session is not None and actual.session.problem is not None:
        return Verdict(ok=False, failure=actual.session.problem)
    differences = []
    if comparison.deep:
        differences = compare_outcomes(
            recorded_outcome(interaction),
            actual,
            aspects=comparison.aspects,
            rules=rules,
            messages=messages or comparison.messages,
            interaction=interaction,
        )
    return Verdict(ok=not differences, differences=differences)


def judge_probe(actual: Outcome, *, refusal: frozenset[int]) -> Verdict:
    """A probe passes on a refusal; acceptance and crashes are named as such.

    A websocket handshake accepted with 101 is judged by what followed: closed by the
    server before any message with a normal, policy (1008) or application (4xxx) code
    is a refusal after the handshake; served a message (or kept open in silence) is an
    acceptance; closed with an error code or dropped before any message is a crash.
    """
    status = actual.status
    if actual.error is not None or status is None:
        return Verdict(ok=False)
    if status in refusal:
        return Verdict(ok=True)
    if status == 101 and actual.session is not None:
        reading = actual.session.probe_reading
        if reading == "refused":
            return Verdict(ok=True)
        if reading == "crashed":
            return Verdict(ok=False, failure=CLOSED_CRASHED)
    if 200 <= status < 300 or status == 101:
        return Verdict(ok=False, failure=ACCEPTED)
    if status >= 500:
        return Verdict(ok=False, failure=CRASHED)
    return Verdict(ok=False)


def messages_note(details: dict[str, Any]) -> str | None:
    """A short remark when a websocket conversation ran short, for the text report."""
    expected = details.get("server_messages_expected")
    received = details.get("server_messages_received")
    if expected is None or received is None or received >= expected:
        return details.get("note")
    note = f"received {received} of {expected} server messages"
    return f"{note}: {details['note']}" if details.get("note") else note
