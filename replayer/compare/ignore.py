"""Ignore rules, and learning them from two runs that should have been identical.

Live servers put fresh ids and timestamps in every answer; a naive diff flags them on
every run and buries the real change. An ignore rule names such a field by JSON path,
relative to one JSON document (a body, one SSE event's data, one websocket message):

- ``$.id``, ``$.choices[0].message``, ``$['odd key']``: one place;
- ``$..event_id``: that key at any depth; ``$.data[*].id``: any list index; ``.*``: any key;
- ``header:x-request-id``: a response header.

A rule also covers everything below the place it names. Learning (``--learn-noise``)
turns the differences between two runs of the same build into rules, with list
indices generalised to ``[*]`` so that one noisy item teaches about all of them.
Pure: parsing, matching and learning only; files live in :mod:`replayer.noise_file`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from retape.replayer.compare.diff_json import Difference, Part, Parts, format_path

from retape.common.errors import RetapeError

HEADER_PREFIX = "header:"
_TOKEN = re.compile(
    r"""(?P<dots>\.\.?)(?P<name>[A-Za-z_][A-Za-z0-9_-]*|\*)"""
    r"""|(?P<dotdot>\.\.)?\[(?:(?P<index>\d+|\*)|'(?P<sq>(?:[^'\\]|\\.)*)'|"(?P<dq>(?:[^"\\]|\\.)*)")\]"""
)
ANY_KEY, ANY_INDEX = object(), object()  # wildcards in a parsed rule


@dataclass(frozen=True)
class Step:
    """One step of a rule: a key, an index, or a wildcard; ``deep`` for ``..``."""

    match: object  # str key, int index, ANY_KEY or ANY_INDEX
    deep: bool = False

    def accepts(self, part: Part) -> bool:
        if self.match is ANY_INDEX:
            return isinstance(part, int)
        if self.match is ANY_KEY:
            return isinstance(part, str)
        return type(part) is type(self.match) and part == self.match


@dataclass(frozen=True)
class Rule:
    """A parsed JSON-path ignore rule; ``text`` is how the user wrote it."""

    text: str
    steps: tuple[Step, ...]

    def covers(self, parts: Parts) -> bool:
        """True when the rule names ``parts`` or one of its ancestors."""
        return _covers(self.steps, parts)


def _covers(steps: tuple[Step, ...], parts: Parts) -> bool:
    if not steps:
        return True
    step, rest = steps[0], steps[1:]
    if step.deep:
        return any(
            step.accepts(parts[i]) and _covers(rest, parts[i + 1 :]) for i in range(len(parts))
        )
    return bool(parts) and step.accepts(parts[0]) and _covers(rest, parts[1:])


def _unescape(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text)


def parse_rule(text: str, *, where: str = "ignore rule") -> Rule:
    """Parse ``$.a[*]..b``; a RetapeError names the rule and where it came from."""
    rule = text.strip()
    if not rule.startswith("$"):
        raise RetapeError(f"{where}: {text!r} is not a JSON path (start with '$', e.g. '$.id')")
    steps: list[Step] = []
    position = 1
    while position < len(rule):
        token = _TOKEN.match(rule, position)
        if token is None:
            raise RetapeError(f"{where}: cannot read {text!r} at {rule[position:]!r}")
        position = token.end()
        if token["name"] is not None:
            name = token["name"]
            steps.append(Step(ANY_KEY if name == "*" else name, deep=token["dots"] == ".."))
            continue
        deep = token["dotdot"] is not None
        if token["index"] is not None:
            index = token["index"]
            steps.append(Step(ANY_INDEX if index == "*" else int(index), deep=deep))
        else:
            quoted = token["sq"] if token["sq"] is not None else token["dq"]
            steps.append(Step(_unescape(quoted), deep=deep))
    return Rule(rule, tuple(steps))


@dataclass(frozen=True)
class IgnoreRules:
    """The rules in force for one interaction: JSON paths and header names ignored, and
    JSON paths compared by shape only (same keys and types, values free: model output)."""

    paths: tuple[Rule, ...] = ()
    headers: frozenset[str] = field(default_factory=frozenset)
    shapes: tuple[Rule, ...] = ()

    @classmethod
    def shape(cls, texts: Iterable[str], *, where: str = "shape rule") -> IgnoreRules:
        """Rules comparing these JSON paths by shape; ``$`` for whole documents."""
        rules = []
        for text in texts:
            if not isinstance(text, str):
                raise RetapeError(f"{where}: expected a string, got {text!r}")
            rules.append(parse_rule(text, where=where))
        return cls(shapes=tuple(rules))

    @classmethod
    def parse(cls, texts: Iterable[str], *, where: str = "ignore rule") -> IgnoreRules:
        paths: list[Rule] = []
        headers: set[str] = set()
        for text in texts:
            if not isinstance(text, str):
                raise RetapeError(f"{where}: expected a string, got {text!r}")
            if text.strip().lower().startswith(HEADER_PREFIX):
                name = text.strip()[len(HEADER_PREFIX) :].strip().lower()
                if not name:
                    raise RetapeError(f"{where}: {text!r} names no header")
                headers.add(name)
            else:
                paths.append(parse_rule(text, where=where))
        return cls(tuple(paths), frozenset(headers))

    def __add__(self, other: IgnoreRules) -> IgnoreRules:
        seen = {r.text for r in self.paths}
        extra = tuple(r for r in other.paths if r.text not in seen)
        shaped = {r.text for r in self.shapes}
        shapes = self.shapes + tuple(r for r in other.shapes if r.text not in shaped)
        return IgnoreRules(self.paths + extra, self.headers | other.headers, shapes)

    def ignores(self, parts: Parts) -> bool:
        return any(rule.covers(parts) for rule in self.paths)

    def shaped(self, parts: Parts) -> bool:
        """True when ``parts`` (or an ancestor) is compared by shape only."""
        return any(rule.covers(parts) for rule in self.shapes)

    def ignores_header(self, name: str) -> bool:
        return name.lower() in self.headers

    def texts(self) -> list[str]:
        return [r.text for r in self.paths] + [HEADER_PREFIX + h for h in sorted(self.headers)]


def generalise(parts: Parts) -> str:
    """A learned rule for one noisy place: every list index becomes ``[*]``."""
    text = "$"
    for part in parts:
        text += "[*]" if isinstance(part, int) else format_path((part,))[1:]
    return text


def rule_for(difference: Difference) -> str | None:
    """The narrowest rule covering one difference, or ``None`` when no rule should.

    Differences without a path (a message missing from a sequence, a changed status)
    are never noise, and a difference of a whole document (a text or binary body, a
    JSON body that is another type) is not learned either: ``$`` would hide every
    change in that body. A person may still write ``$`` by hand.
    """
    if difference.aspect == "headers":
        return HEADER_PREFIX + difference.path.lower()
    if not difference.parts:
        return None
    return generalise(difference.parts)


def covers(rule: str, difference: Difference) -> bool:
    """Whether the rule written ``rule`` hides ``difference``."""
    rules = IgnoreRules.parse([rule], where="learned rule")
    if difference.aspect == "headers":
        return rules.ignores_header(difference.path)
    return difference.parts is not None and rules.ignores(difference.parts)


def learn(differences: Iterable[Difference], *, known: IgnoreRules | None = None) -> list[str]:
    """Rules covering every difference that a rule may cover, minus those already known."""
    known = known or IgnoreRules()
    learned: list[str] = []
    for difference in differences:
        rule = rule_for(difference)
        if rule is None:
            continue
        if difference.aspect == "headers":
            if not known.ignores_header(difference.path):
                learned.append(rule)
        elif difference.parts is not None and not known.ignores(difference.parts):
            learned.append(rule)
    return sorted(set(learned))


def unlearnable(differences: Iterable[Difference]) -> list[Difference]:
    """Field-free differences of a whole document: reported, never learned."""
    return [d for d in differences if d.aspect != "headers" and d.parts == ()]
