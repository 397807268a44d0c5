"""Finding what still looks like a secret in a cassette: a CI guard for shared cassettes.

The scanner walks the loaded data with the same :class:`Rules` the recorder redacts
with, and reports each finding with file, line, interaction id, place and rule.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from retape.cassette.locate import Locator
from retape.cassette.rules import PLACEHOLDER_RE, SCHEMED_HEADERS, Rules
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


def _is_redacted_credential(name: str, value: str) -> bool:
    if PLACEHOLDER_RE.fullmatch(value.strip()):
        return True
    _scheme, _, rest = value.partition(" ")
    return name in SCHEMED_HEADERS and PLACEHOLDER_RE.fullmatch(rest.strip()) is not None


class _Walker:
    def __init__(self, rules: Rules) -> None:
        self.rules = rules

    def text(
        self, place: Place, value: str, *, params: bool = False
    ) -> Iterator[tuple[Place, str]]:
        for span in self.rules.spans(value, params=params):
            yield place, span.rule

    def json(self, place: Place, value: Any) -> Iterator[tuple[Place, str]]:
        if isinstance(value, dict):
            for key, item in value.items():
                here = [*place, key]
                if self.rules.is_secret_field(str(key)) and isinstance(item, str | int):
                    if not self.rules.is_exempt(str(item)):
                        yield here, f"field:{key}"
                    continue
                yield from self.json(here, item)
        elif isinstance(value, list):
            for index, item in enumerate(value):
                yield from self.json([*place, index], item)
        elif isinstance(value, str):
            yield from self.text(place, value)

    def headers(self, place: Place, headers: list[list[str]] | None) -> Iterator[tuple[Place, str]]:
        for index, (name, value) in enumerate(headers or []):
            lower = name.lower()
            if lower in self.rules.headers:
                if not _is_redacted_credential(lower, value) and not self.rules.is_allowed(value):
                    yield [*place, index], f"header:{lower}"
            else:
                yield from self.text([*place, index], value, params=lower == "location")

    def body(self, place: Place, body: dict | None, form: bool) -> Iterator[tuple[Place, str]]:
        if not body:
            return
        if "json" in body:
            yield from self.json([*place, "json"], body["json"])
        elif "text" in body:
            yield from self.text([*place, "text"], body["text"], params=form)
        elif "base64" in body:
            yield from self.binary([*place, "base64"], body["base64"])

    def binary(self, place: Place, encoded: str) -> Iterator[tuple[Place, str]]:
        try:
            raw = base64.b64decode(encoded, validate=False)
        except (binascii.Error, ValueError):
            return
        yield from self.text(place, raw.decode("latin-1"))

    def interaction(self, place: Place, item: dict) -> Iterator[tuple[Place, str]]:
        for side in ("request", "response"):
            part = item.get(side) or {}
            headers = part.get("headers") or []
            form = any(
                n.lower() == "content-type" and v.lower().startswith("application/x-www-form")
                for n, v in headers
            )
            yield from self.headers([*place, side, "headers"], headers)
            yield from self.body([*place, side, "body"], part.get("body"), form)
        if "path" in (item.get("request") or {}):
            yield from self.text([*place, "request", "path"], item["request"]["path"], params=True)
        for index, message in enumerate(item.get("messages") or []):
            here = [*place, "messages", index]
            if "json" in message:
                yield from self.json([*here, "json"], message["json"])
            elif "text" in message:
                yield from self.text([*here, "text"], message["text"])
            elif "base64" in message:
                yield from self.binary([*here, "base64"], message["base64"])


def scan_data(data: dict[str, Any], *, path: str, text: str, rules: Rules) -> list[Finding]:
    """Every finding in a validated cassette's data, in file order."""
    walker = _Walker(rules)
    locator = Locator(text)
    found: list[Finding] = []
    upstream = (data.get("recording") or {}).get("upstream")
    if isinstance(upstream, str):
        for place, rule in walker.text(["recording", "upstream"], upstream, params=True):
            found.append(Finding(path, locator.line(place), None, format_place(place), rule))
    for index, item in enumerate(data.get("interactions") or []):
        for place, rule in walker.interaction(["interactions", index], item):
            relative = format_place(place[2:])
            found.append(Finding(path, locator.line(place), item.get("id"), relative, rule))
    return found
