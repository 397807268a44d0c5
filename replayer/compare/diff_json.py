"""Structural diff of two JSON documents, as path-level differences a person can read.

``$.choices[0].finish_reason: "stop" -> "length"`` says more than two pretty-printed
bodies side by side, and the path is what an ignore rule names (see
:mod:`replayer.noise`). Pure: no I/O, no knowledge of HTTP or websockets.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final

from retape.cassette.refs import format_path
from retape.cassette.rules import PLACEHOLDER_RE

Part = str | int
Parts = tuple[Part, ...]
_SHOWN = 120  # characters of a value shown in a difference line
_SHOWN_KEYS = 2000  # characters of a message or event sequence


class _Missing:
    """A value that is not there at all (a missing key or list item), unlike JSON null."""

    def __repr__(self) -> str:
        return "(absent)"


MISSING: Final = _Missing()


class Keys(tuple):
    """A sequence of message or event keys, rendered compactly (``delta x5``)."""

    def __str__(self) -> str:
        runs: list[list[Any]] = []
        for key in self:
            if runs and runs[-1][0] == key:
                runs[-1][1] += 1
            else:
                runs.append([key, 1])
        return ", ".join(k if n == 1 else f"{k} x{n}" for k, n in runs) or "(none)"


@dataclass(frozen=True)
class Difference:
    """One thing that differs: where, what was expected and what came back.

    ``aspect`` is the comparison that found it (headers, body, messages); ``where``
    locates the JSON document inside it (``message 3 (session.updated)``, ``event 5``,
    or empty for a whole body); ``path`` is the JSON path inside that document, or the
    header name. ``parts`` keeps the path as data for noise learning; it is ``None``
    for differences no ignore rule can express (a missing message in a sequence).
    """

    aspect: str
    where: str
    path: str
    expected: Any
    actual: Any
    parts: Parts | None = field(default=None, compare=False)
    assembled: bool = field(default=False, compare=False)  # texts joined from streamed chunks

    @property
    def text(self) -> str:
        place = " ".join(p for p in (self.where, self.path) if p)
        texts = isinstance(self.expected, str) and isinstance(self.actual, str)
        if texts and (self.assembled or max(len(self.expected), len(self.actual)) > _SHOWN):
            left, right = side_by_side(self.expected, self.actual)
            return f"{place}: {left} -> {right}"
        return f"{place}: {render(self.expected)} -> {render(self.actual)}"

    def to_json(self) -> dict[str, Any]:
        """Absent values are left out, so ``null`` in the report always means JSON null."""
        data: dict[str, Any] = {"aspect": self.aspect, "where": self.where, "path": self.path}
        if self.expected is not MISSING:
            data["expected"] = (
                list(self.expected) if isinstance(self.expected, Keys) else (self.expected)
            )
        if self.actual is not MISSING:
            data["actual"] = list(self.actual) if isinstance(self.actual, Keys) else self.actual
        data["text"] = self.text
        return data


def render(value: Any) -> str:
    """A value as compact JSON, shortened to one readable line."""
    if value is MISSING:
        return "(absent)"
    if isinstance(value, Shape):
        return str(value)
    if isinstance(value, Keys):  # a sequence is read whole: it is the headline
        text, shown = str(value), _SHOWN_KEYS
    else:
        text = json.dumps(value, ensure_ascii=False, separators=(", ", ": "), default=str)
        shown = _SHOWN
    return text if len(text) <= shown else text[: shown - 1] + "…"


def side_by_side(expected: str, actual: str, *, width: int = _SHOWN) -> tuple[str, str]:
    """Two long texts shown around where they first differ, the same stretch of each."""
    start = 0
    while start < min(len(expected), len(actual)) and expected[start] == actual[start]:
        start += 1
    start = max(0, start - width // 3) if max(len(expected), len(actual)) > width else 0

    def cut(text: str) -> str:
        piece = text[start : start + width]
        shown = json.dumps(piece, ensure_ascii=False)
        return ("…" if start else "") + shown + ("…" if start + width < len(text) else "")

    return cut(expected), cut(actual)


def _kind(value: Any) -> str:
    """A JSON value's type, numbers as one type (``1`` and ``1.5`` have the same shape)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


class Shape(str):
    """A value shown by its type alone, in a shape-mode difference (``string -> number``)."""

    def __repr__(self) -> str:
        return str(self)


def same(expected: Any, actual: Any) -> bool:
    """JSON equality: ``1 == 1.0``, but ``true`` is not ``1``."""
    if isinstance(expected, bool) or isinstance(actual, bool):
        return type(expected) is type(actual) and expected == actual
    if isinstance(expected, int | float) and isinstance(actual, int | float):
        return expected == actual
    return type(expected) is type(actual) and expected == actual


def _redacted(value: Any) -> bool:
    """A recorded leaf that is wholly a ``<redacted:N>`` placeholder."""
    return isinstance(value, str) and PLACEHOLDER_RE.fullmatch(value) is not None


def diff_json(
    expected: Any,
    actual: Any,
    *,
    ignored: Callable[[Parts], bool] = lambda parts: False,
    shaped: Callable[[Parts], bool] = lambda parts: False,
    aspect: str = "body",
    where: str = "",
    limit: int = 200,
    assembled: bool = False,
) -> list[Difference]:
    """Every leaf-level difference, in document order, skipping ignored subtrees.

    A new key or list item is reported as ``(absent) -> value``, a lost one as
    ``value -> (absent)``. Under a ``shaped`` path only the shape counts: the same keys
    and the same JSON types, values free; list lengths free too (generated output may
    have more items), each item compared with the first expected one. ``limit`` bounds
    the list for pathological documents.
    """
    found: list[Difference] = []

    def walk(exp: Any, act: Any, parts: Parts, shape: bool) -> None:
        if len(found) >= limit or ignored(parts):
            return
        shape = shape or shaped(parts)
        if isinstance(exp, dict) and isinstance(act, dict):
            for key in [*exp, *(k for k in act if k not in exp)]:
                walk(exp.get(key, MISSING), act.get(key, MISSING), (*parts, key), shape)
            return
        if isinstance(exp, list) and isinstance(act, list):
            if shape and exp:
                for index, item in enumerate(act):
                    walk(exp[min(index, len(exp) - 1)], item, (*parts, index), shape)
                return
            for index in range(max(len(exp), len(act))):
                left = exp[index] if index < len(exp) else MISSING
                right = act[index] if index < len(act) else MISSING
                walk(left, right, (*parts, index), shape)
            return
        if shape and exp is not MISSING and act is not MISSING:
            if _kind(exp) != _kind(act):
                left, right = Shape(_kind(exp)), Shape(_kind(act))
                found.append(Difference(aspect, where, format_path(parts), left, right, parts))
            return
        if _redacted(exp) and act is not MISSING and not isinstance(act, dict | list):
            return  # the recording kept no value here (a secret), so there is none to compare
        if exp is MISSING or act is MISSING or not same(exp, act):
            found.append(Difference(aspect, where, format_path(parts), exp, act, parts, assembled))

    walk(expected, actual, (), False)
    return found
