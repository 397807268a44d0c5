"""Streamed model output joined back together before it is compared.

An LLM server streams one answer in as many chunks as it likes, and a new build (or
the next run) cuts it differently: ``"You"``, ``" said"`` one time, ``"You said"`` the
next. Comparing chunk by chunk reports noise on every run; comparing the joined text
reports exactly what changed. Two streaming shapes are assembled:

- SSE chat/text completion chunks (``choices[].delta.content``, ``choices[].text``): a
  run of chunk events becomes one document whose strings under ``delta`` (and ``text``)
  are concatenated per choice ``index``, every other field keeping its last non-null
  value (``finish_reason``, ``usage``);
- realtime ``*.delta`` events with a string ``delta``: the events of one kind within a
  server turn become one document, at the place of the first, its ``delta`` the joined
  text.

Pure: documents in, documents out.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

from retape.replayer.compare.sequence import Document

_KEEP_FIRST = frozenset({"role"})  # delta fields that are said once, not streamed


def _is_chunk(value: Any) -> bool:
    if not isinstance(value, dict) or not isinstance(value.get("choices"), list):
        return False
    return all(
        isinstance(c, dict) and (isinstance(c.get("delta"), dict) or isinstance(c.get("text"), str))
        for c in value["choices"]
    )


def _join(into: dict[str, Any], key: str, value: Any, *, streamed: bool) -> None:
    old = into.get(key)
    if streamed and isinstance(old, str) and isinstance(value, str):
        into[key] = old + value
    elif key not in into or (value is not None and not (key in _KEEP_FIRST and old)):
        into[key] = copy.deepcopy(value)


def merge_chunks(values: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """One completion from its chunks: streamed strings joined per choice."""
    merged: dict[str, Any] = {}
    choices: dict[Any, dict[str, Any]] = {}
    for value in values:
        for key, item in value.items():
            if key != "choices":
                _join(merged, key, item, streamed=False)
        for choice in value["choices"]:
            slot = choices.setdefault(choice.get("index", 0), {})
            for key, item in choice.items():
                if key == "delta" and isinstance(item, dict):
                    delta = slot.setdefault("delta", {})
                    for name, part in item.items():
                        _join(delta, name, part, streamed=name not in _KEEP_FIRST)
                else:
                    _join(slot, key, item, streamed=key == "text")
    merged["choices"] = [choices[index] for index in choices]
    return merged


def assemble_events(events: Sequence[Document]) -> list[Document]:
    """SSE events with runs of completion chunks merged into one document each."""
    out: list[Document] = []
    run: list[Document] = []

    def flush() -> None:
        if len(run) > 1:
            first = run[0]
            merged = merge_chunks([d.value for d in run])
            out.append(Document(first.key, merged, first.number, len(run)))
        else:
            out.extend(run)
        run.clear()

    for event in events:
        if _is_chunk(event.value):
            run.append(event)
        else:
            flush()
            out.append(event)
    flush()
    return out


def _is_delta(document: Document) -> bool:
    if not document.key.endswith(".delta"):
        return False
    value = document.content
    return isinstance(value, dict) and isinstance(value.get("delta"), str)


def assemble_deltas(messages: Sequence[Document], turns: Sequence[int]) -> list[Document]:
    """Realtime ``*.delta`` messages of one kind in one turn joined into one document."""
    groups: dict[tuple[int, str], list[Document]] = {}
    for document, turn in zip(messages, turns, strict=True):
        if _is_delta(document):
            groups.setdefault((turn, document.key), []).append(document)
    out: list[Document] = []
    for document, turn in zip(messages, turns, strict=True):
        if not _is_delta(document):
            out.append(document)
            continue
        group = groups[(turn, document.key)]
        if group[0] is not document:
            continue
        if len(group) == 1:
            out.append(document)
            continue
        value = dict(document.content)
        value["delta"] = "".join(d.content["delta"] for d in group)
        out.append(Document(document.key, value, document.number, len(group)))
    return out
