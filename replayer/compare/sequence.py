"""Comparing two sequences of JSON documents: websocket messages or SSE events.

A session is first compared by key (each message's ``type``, each event's name), so the
report says ``session.created, session.updated, transcription.done -> session.created,
session.updated`` instead of a hundred shifted field differences. Documents whose keys
line up are then diffed field by field, with the ignore rules in force.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from difflib import SequenceMatcher
from typing import Any

from retape.replayer.compare.diff_json import MISSING, Difference, Keys, diff_json
from retape.replayer.compare.ignore import IgnoreRules


class Deferred:
    """Content read when it is compared: a long session's message is read back from its
    file or spool then, instead of being held with every other one."""

    __slots__ = ("_index", "_load", "_source")

    def __init__(self, load: Callable[[Any], Any], source: Sequence[Any], index: int) -> None:
        self._load, self._source, self._index = load, source, index

    def get(self) -> Any:
        return self._load(self._source[self._index])


@dataclass(frozen=True, slots=True)
class Document:
    """One message or event: the key it is aligned by, and its content (JSON or text).

    ``number`` is its 1-based place in the original sequence (the documents compared may
    be fewer: assembled or left out); ``count`` > 1 when it stands for that many
    streamed chunks joined together (:mod:`replayer.compare.assemble`). ``value`` may be
    :class:`Deferred`; :attr:`content` is what it holds.
    """

    key: str
    value: Any
    number: int | None = None
    count: int = 1

    @property
    def content(self) -> Any:
        return self.value.get() if isinstance(self.value, Deferred) else self.value

    def where(self, noun: str, index: int) -> str:
        number = self.number if self.number is not None else index + 1
        if self.count > 1:
            return f"{noun} {number} ({self.key} x{self.count}, assembled)"
        return f"{noun} {number} ({self.key})"


def _number(documents: Sequence[Document], index: int) -> int:
    if index < len(documents) and documents[index].number is not None:
        return documents[index].number  # type: ignore[return-value]
    if index and documents[index - 1].number is not None:
        return documents[index - 1].number + documents[index - 1].count  # type: ignore[operator]
    return index + 1


def _span(noun: str, documents: Sequence[Document], start: int, end: int) -> str:
    first = _number(documents, start)
    if end - start <= 1:
        return f"{noun} {first}"
    return f"{noun}s {first}-{_number(documents, end - 1)}"


def compare_sequence(
    expected: Sequence[Document],
    actual: Sequence[Document],
    *,
    aspect: str,
    noun: str,
    key_name: str,
    rules: IgnoreRules,
) -> list[Difference]:
    """Key-sequence differences first (never noise), then content differences."""
    found: list[Difference] = []
    left = [d.key for d in expected]
    right = [d.key for d in actual]
    matcher = SequenceMatcher(a=left, b=right, autojunk=False)
    if left != right:
        found.append(Difference(aspect, f"{noun}s by {key_name}", "", Keys(left), Keys(right)))
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            continue
        where = _span(noun, expected, i1, i2) if i2 > i1 else f"{noun} {_number(expected, i1)}"
        lost = Keys(left[i1:i2]) if i2 > i1 else MISSING
        new = Keys(right[j1:j2]) if j2 > j1 else MISSING
        found.append(Difference(aspect, where, "", lost, new))
    for block in matcher.get_matching_blocks():
        for offset in range(block.size):
            i, j = block.a + offset, block.b + offset
            found += diff_json(
                expected[i].content,
                actual[j].content,
                ignored=rules.ignores,
                shaped=rules.shaped,
                aspect=aspect,
                where=expected[i].where(noun, i),
                assembled=expected[i].count > 1 or actual[j].count > 1,
            )
    return found
