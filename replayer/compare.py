"""Pure comparison of a recording with its replay: no I/O, one function per aspect.

The verdict is the status: the HTTP status, or for a websocket the handshake status
(101 when accepted). That is what catches an auth regression like a websocket upgrade
answered with 500. Message-level differences are reported as details, not verdicts,
because live servers legitimately vary in timing and content (fresh ids, timestamps).
"""

from __future__ import annotations

from typing import Any


def status_matches(expected: int, actual: int | None) -> bool:
    return actual is not None and actual == expected


def passed(*, expected_status: int, actual_status: int | None, error: str | None) -> bool:
    """A row passes when the status matched exactly and nothing went wrong on the way."""
    return error is None and status_matches(expected_status, actual_status)


def messages_note(details: dict[str, Any]) -> str | None:
    """A short remark when a websocket conversation ran short, for the text report."""
    expected = details.get("server_messages_expected")
    received = details.get("server_messages_received")
    if expected is None or received is None or received >= expected:
        return details.get("note")
    note = f"received {received} of {expected} server messages"
    return f"{note}: {details['note']}" if details.get("note") else note
