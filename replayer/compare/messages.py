"""The ``messages`` aspect: the server's websocket messages, as a keyed sequence.

Each JSON message is keyed by a field path (``type`` by default; ``header.msg_type``
for Jupyter: :class:`~retape.replayer.compare.keys.MessageRules`), a text message by
``text`` and a binary one by ``binary``; see :mod:`replayer.compare.sequence` for how
sequences are compared. Before that, what is nondeterministic by design is taken out
of the way, as the cassette's rules say:

- streamed ``*.delta`` events are assembled (:mod:`replayer.compare.assemble`): the
  joined text is compared, not the chunk count;
- ``free_count`` kinds (Jupyter's ``status``) may come any number of times: they only
  have to come at all where the recording had them;
- ``unordered``: within one server turn the replayed messages are matched to the
  recorded ones by kind and correlating field (``parent_header.msg_id``), whatever
  order they arrived in.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import sys
from collections.abc import Sequence

from retape.replayer.compare.assemble import assemble_deltas
from retape.replayer.compare.diff_json import MISSING, Difference, Keys
from retape.replayer.compare.ignore import IgnoreRules
from retape.replayer.compare.keys import DEFAULT_KEY, MessageRules, parse_path, value_at
from retape.replayer.compare.sequence import Deferred, Document, compare_sequence

from retape.cassette.message_log import LazyMessages
from retape.cassette.model import Message

__all__ = ["DEFAULT_KEY", "compare_messages", "document_of"]


def document_of(message: Message, *, rules: MessageRules, number: int | None = None) -> Document:
    if message.kind == "json":
        value = message.value
        return Document(rules.key_of(value) or "json", value, number)
    if message.kind == "text":
        return Document("text", message.value, number)
    data = base64.b64decode(message.value)
    digest = hashlib.sha256(data).hexdigest()[:12]
    return Document("binary", f"{len(data)} bytes, sha256 {digest}", number)


def _server_side(
    messages: Sequence[Message], turns: Sequence[int] | None, rules: MessageRules
) -> tuple[list[Document], list[int]]:
    """The server's messages as documents, with their turns. A long session's messages
    (:class:`~retape.cassette.message_log.LazyMessages`) are read here for their keys
    and again when compared: only one is in memory at a time."""
    documents, kept_turns = [], []
    lazy = isinstance(messages, LazyMessages)
    load = functools.partial(_content, rules=rules)
    number = 0
    for index, message in enumerate(messages):
        if message.sender != "server":
            continue
        number += 1
        document = document_of(message, rules=rules, number=number)
        if lazy:
            document = Document(sys.intern(document.key), Deferred(load, messages, index), number)
        documents.append(document)
        kept_turns.append(turns[index] if turns is not None and index < len(turns) else 0)
    return documents, kept_turns


def _content(message: Message, *, rules: MessageRules) -> object:
    return document_of(message, rules=rules).value


def recorded_turns(messages: Sequence[Message]) -> list[int]:
    """The turn of each recorded message: a new turn starts with each client message
    that follows a server message (as :func:`replayer.conversation.plan` splits them)."""
    turns, turn, answered = [], 0, False
    for message in messages:
        if message.sender == "client":
            if answered:
                turn, answered = turn + 1, False
        else:
            answered = True
        turns.append(turn)
    return turns


def _correlation(document: Document, rules: MessageRules) -> object:
    for path in rules.correlate:
        value = value_at(document.content, path)
        if isinstance(value, str | int) and not isinstance(value, bool):
            return value
    return None


def _reorder(
    expected: list[Document], actual: list[Document], rules: MessageRules
) -> list[Document]:
    """``actual`` in the order of the ``expected`` documents they match (same kind, same
    correlating value when both have one; else the first of that kind); the unmatched
    ones after them, in arrival order."""
    left = list(actual)
    ordered: list[Document] = []
    for wanted in expected:
        value = _correlation(wanted, rules)
        same_kind = [d for d in left if d.key == wanted.key]
        match = next((d for d in same_kind if _correlation(d, rules) == value), None)
        match = match or (same_kind[0] if same_kind else None)
        if match is not None:
            left.remove(match)
            ordered.append(match)
    return ordered + left


def _by_turn(documents: list[Document], turns: list[int]) -> dict[int, list[Document]]:
    grouped: dict[int, list[Document]] = {}
    for document, turn in zip(documents, turns, strict=True):
        grouped.setdefault(turn, []).append(document)
    return grouped


def _free_differences(
    expected: list[Document], actual: list[Document], rules: MessageRules
) -> list[Difference]:
    found = []
    for key in sorted(rules.free_count):
        recorded = sum(d.key == key for d in expected)
        if recorded and not any(d.key == key for d in actual):
            where = f"messages by {rules.key_name}"
            found.append(Difference("messages", where, key, Keys([key] * recorded), MISSING))
    return found


def compare_messages(
    expected: Sequence[Message],
    actual: Sequence[Message],
    *,
    rules: IgnoreRules,
    messages: MessageRules | None = None,
    key: str | None = None,
    expected_turns: Sequence[int] | None = None,
    actual_turns: Sequence[int] | None = None,
) -> list[Difference]:
    """Compare the server's side of two conversations (client messages are ours).

    ``expected`` is usually the recorded conversation, both sides, and its turns are
    worked out from it; ``actual`` the server messages received, ``actual_turns`` the
    turn each arrived in (:attr:`Conversation.kept_turns`). Without turns a side
    is one turn.
    """
    settings = messages or MessageRules()
    if key is not None:
        settings = MessageRules.from_table({"message_key": key}, where="key", base=settings)
    if expected_turns is None:
        expected_turns = recorded_turns(expected)
    left, left_turns = _server_side(expected, expected_turns, settings)
    right, right_turns = _server_side(actual, actual_turns, settings)
    if settings.assemble:
        left, left_turns = _assembled(left, left_turns)
        right, right_turns = _assembled(right, right_turns)
    found = _free_differences(left, right, settings)
    if settings.free_count:
        keep_left = [i for i, d in enumerate(left) if d.key not in settings.free_count]
        keep_right = [i for i, d in enumerate(right) if d.key not in settings.free_count]
        left, left_turns = [left[i] for i in keep_left], [left_turns[i] for i in keep_left]
        right, right_turns = [right[i] for i in keep_right], [right_turns[i] for i in keep_right]
    if settings.unordered:
        recorded, replayed = _by_turn(left, left_turns), _by_turn(right, right_turns)
        right = []
        for turn in sorted(set(recorded) | set(replayed)):
            right += _reorder(recorded.get(turn, []), replayed.get(turn, []), settings)
    return found + compare_sequence(
        left, right, aspect="messages", noun="message", key_name=settings.key_name, rules=rules
    )


def _assembled(documents: list[Document], turns: list[int]) -> tuple[list[Document], list[int]]:
    """Deltas assembled; each assembled document keeps its first chunk's number and turn."""
    turn_of = {d.number: t for d, t in zip(documents, turns, strict=True)}
    out = assemble_deltas(documents, turns)
    return out, [turn_of[d.number] for d in out]


def message_key_path(text: str) -> tuple[str, ...]:
    return parse_path(text, where="message_key")
