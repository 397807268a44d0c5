"""Comparing two sequences of JSON documents: websocket messages or SSE events.

A session is first compared by key (each message's ``type``, each event's name), so the
report says ``session.created, session.updated, transcription.done -> session.created,
session.updated`` instead of a hundred shifted field differences. Documents whose keys
line up are then diffed field by field, with the ignore rules in force.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from difflib import SequenceMatcher
from typing import Any

from retape.replayer.compare.diff_json import MISSING, Difference, Keys, diff_json
from retape.replayer.compare.ignore import IgnoreRules


@dataclass(frozen=True)
class Document:
    """One message or event: the key it is aligned by, and its content (JSON or text)."""

    key: str
    value: Any


def _span(noun: str, start: int, end: int) -> str:
    return f"{noun} {start + 1}" if end - start <= 1 else f"{noun}s {start + 1}-{end}"


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
        where = _span(noun, i1, i2) if i2 > i1 else f"{noun} {i1 + 1}"
        lost = Keys(left[i1:i2]) if i2 > i1 else MISSING
        new = Keys(right[j1:j2]) if j2 > j1 else MISSING
        found.append(Difference(aspect, where, "", lost, new))
    for block in matcher.get_matching_blocks():
        for offset in range(block.size):
            i, j = block.a + offset, block.b + offset
            found += diff_json(
                expected[i].value,
                actual[j].value,
                ignored=rules.ignores,
                aspect=aspect,
                where=f"{noun} {i + 1} ({left[i]})",
            )
    return found
