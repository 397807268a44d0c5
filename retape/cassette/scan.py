"""Finding what still looks like a secret in a cassette: a CI guard for shared cassettes.

The scanner asks the :class:`~cassette.redact.Redactor` itself, with the same
:class:`Rules`, what it would change, and reports each change with file, line,
interaction id, place and rule: a file ``retape redact`` leaves alone is one ``retape
scan`` calls clean, and the other way round.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from retape.cassette.load import cassette_from_data
from retape.cassette.locate import Locator
from retape.cassette.redact import Redactor
from retape.cassette.rules import PLACEHOLDER_RE, Rules
from retape.cassette.validate import format_place


@dataclass(frozen=True)
class Finding:
    path: str
    line: int | None
    interaction: int | None
    place: str
    rule: str

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line else self.path
        which = f"interaction {self.interaction}: " if self.interaction is not None else ""
        return f"{where}: {which}{self.place}: looks like a secret (rule {self.rule})"


Place = list[str | int]


def _new_rules(before: Any, after: Any, redactor: Redactor) -> list[str]:
    """The rules behind the placeholders ``after`` has and ``before`` did not."""
    old = set(PLACEHOLDER_RE.findall(before)) if isinstance(before, str) else set()
    new = [p for p in PLACEHOLDER_RE.findall(str(after)) if p not in old]
    rules = [redactor.rule_of.get(int(p[10:-1]), "secret") for p in new if p[10:-1].isdigit()]
    return list(dict.fromkeys(rules)) or ["secret"]


def _differences(
    before: Any, after: Any, place: Place, redactor: Redactor
) -> Iterator[tuple[Place, str]]:
    """Every leaf where redaction changed something: what ``redact`` would rewrite."""
    if isinstance(before, dict) and isinstance(after, dict):
        for key, value in before.items():
            if key == "credentials":  # redact adds the marker; a marker is not a secret
                continue
            yield from _differences(value, after.get(key), [*place, key], redactor)
        return
    if isinstance(before, list) and isinstance(after, list) and len(before) == len(after):
        for index, (left, right) in enumerate(zip(before, after, strict=True)):
            yield from _differences(left, right, [*place, index], redactor)
        return
    if before != after:
        for rule in _new_rules(before, after, redactor):
            yield place, rule


def scan_data(data: dict[str, Any], *, path: str, text: str, rules: Rules) -> list[Finding]:
    """Every finding in a validated cassette's data, in file order.

    A finding is exactly a place that ``retape redact`` would rewrite with the same
    rules: the file is redacted in memory (twice, so a value learned late in the file is
    also found early in it) and every leaf that changed is reported.
    """
    redactor = Redactor.continuing(rules, text)
    cassette = cassette_from_data(data, path=path)
    for interaction in cassette.interactions:  # first pass: learn every value
        redactor.interaction(interaction)
    redactor.path(cassette.recording.upstream)
    locator = Locator(text)
    found: list[Finding] = []
    upstream = cassette.recording.upstream
    for place, rule in _differences(upstream, redactor.path(upstream), [], redactor):
        where = ["recording", "upstream", *place]
        found.append(Finding(path, locator.line(where), None, format_place(where), rule))
    for index, interaction in enumerate(cassette.interactions):
        before = interaction.to_data()
        after = redactor.interaction(interaction).to_data()
        for place, rule in _differences(before, after, [], redactor):
            where = ["interactions", index, *place]
            found.append(
                Finding(path, locator.line(where), interaction.id, format_place(place), rule)
            )
    return found
