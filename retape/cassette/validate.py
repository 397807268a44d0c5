"""Schema validation with messages that point at the place in the file.

Validation runs on the plain data (fast path). Only when it fails is the YAML parsed
again into nodes to find the line of the offending value, so a valid cassette pays
nothing for line numbers.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
from collections.abc import Iterator, Sequence
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING, Any

from retape.cassette.errors import CassetteError
from retape.cassette.locate import Locator
from retape.cassette.model import MAX_JSON_DEPTH  # deeper JSON would overflow its walkers
from retape.cassette.refs import RefError, Source, Target

if TYPE_CHECKING:
    import jsonschema
    from jsonschema.exceptions import ValidationError

__all__ = [
    "MAX_JSON_DEPTH",
    "MAX_MESSAGES",
    "MAX_SECONDS",
    "format_place",
    "json_problem",
    "schema",
    "validate_data",
]


# Seconds (``at``, ``duration``): finite, and at most about 11.5 days, so ``--speed`` can
# never be told to wait forever (the schema says the maximum; NaN needs saying here).
MAX_SECONDS = 1_000_000
# Messages in one websocket interaction: a session is loaded whole for its replay, so
# this bounds what one interaction can cost (docs/security.md).
MAX_MESSAGES = 1_000_000

_TYPE_NAMES = {
    "integer": "an integer",
    "number": "a number",
    "string": "a string",
    "object": "a mapping",
    "array": "a list",
    "null": "nothing",
    "boolean": "true or false",
}


@cache
def schema() -> dict[str, Any]:
    """The cassette JSON Schema shipped with the package (cassette/schema.json)."""
    text = resources.files("retape.cassette").joinpath("schema.json").read_text(encoding="utf-8")
    return json.loads(text)


@cache
def _validator() -> jsonschema.protocols.Validator:
    # Imported on first use: jsonschema's import pulls in its format checkers (with
    # rfc3987-syntax installed, a grammar built at import: 0.3 s quiet, 4 s on a loaded
    # machine), and a cassette the fast path accepts never needs it.
    import jsonschema

    cls = jsonschema.validators.validator_for(schema())
    return cls(schema())


def format_place(path: Sequence[str | int]) -> str:
    """``['interactions', 3, 'response', 'status']`` → ``interactions[3].response.status``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "top level"


def _describe(error: ValidationError) -> str:
    keyword = error.validator
    value = error.validator_value
    if keyword == "type":
        types = [value] if isinstance(value, str) else list(value)
        wanted = " or ".join(_TYPE_NAMES.get(t, t) for t in types if t != "null") or "nothing"
        return f"expected {wanted}, got {_short(error.instance)}"
    if keyword == "required":
        missing = [k for k in value if isinstance(error.instance, dict) and k not in error.instance]
        return f"missing required field {missing[0]!r}" if missing else error.message
    if keyword == "additionalProperties":
        extra = sorted(k for k in error.instance if k not in error.schema.get("properties", {}))
        return f"unknown field {extra[0]!r}" if extra else error.message
    if keyword in ("enum", "const"):
        choices = value if keyword == "enum" else [value]
        listed = ", ".join(json.dumps(c) for c in choices)
        return f"expected one of {listed}, got {_short(error.instance)}"
    if keyword == "oneOf":
        if "body" in error.path:
            return "expected exactly one of 'json', 'text', 'base64' or 'omitted'"
        return "expected exactly one of 'json', 'text' or 'base64'"
    if keyword == "dependentRequired":
        return _describe_dependency(error)
    if keyword in ("minimum", "maximum"):
        return f"{_short(error.instance)} is out of range ({keyword} {value})"
    if keyword == "pattern" and error.path and error.path[-1] == "path":
        return (
            f"expected a path starting with a single '/', got {_short(error.instance)} "
            "(a cassette never names a host: the target comes from --target)"
        )
    if keyword == "pattern" and error.path and error.path[-1] == "method":
        return f"expected an HTTP method (a token), got {_short(error.instance)}"
    where = list(error.path)
    if keyword == "pattern" and len(where) >= 3 and where[-3] == "headers":
        if where[-1] == 0:
            return f"expected a header name (an RFC 9110 token), got {_short(error.instance)}"
        return "a header value may not hold a line break (CR, LF) or NUL"
    if keyword == "pattern" and error.path and error.path[-1] == "sha256":
        return f"expected 64 lowercase hex digits, got {_short(error.instance)}"
    if keyword in ("minItems", "maxItems") and error.path and "headers" in error.path:
        return "expected a header as [name, value]"
    return error.message


def _describe_dependency(error: ValidationError) -> str:
    """An omitted body's fields: ``size``/``sha256`` needed, and only with ``omitted``."""
    present = error.instance if isinstance(error.instance, dict) else {}
    for field, needs in error.validator_value.items():
        missing = [name for name in needs if field in present and name not in present]
        if missing and field == "omitted":
            return f"an omitted body needs {' and '.join(repr(m) for m in missing)}"
        if missing:
            return f"{field!r} belongs only to an omitted body ('omitted: true')"
    return error.message


def _short(value: Any) -> str:
    text = json.dumps(value, default=str) if not isinstance(value, str) else repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


Problem = tuple[list[str | int], str]


def json_problem(value: Any, depth: int = 0) -> str | None:
    """Why a ``json:`` value could not be sent as JSON, or None."""
    if depth > MAX_JSON_DEPTH:
        return f"nested deeper than {MAX_JSON_DEPTH} levels"
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str | int | float | bool) and key is not None:
                return f"a key of type {type(key).__name__} is not JSON"
            problem = json_problem(item, depth + 1)
            if problem:
                return problem
        return None
    if isinstance(value, list):
        for item in value:
            problem = json_problem(item, depth + 1)
            if problem:
                return problem
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return f"{value} is not a JSON number"
    if value is None or isinstance(value, str | int | float | bool):
        return None
    return f"a {type(value).__name__} value is not JSON (quote it to make it a string)"


def _payload_problem(payload: dict[str, Any]) -> tuple[str, str] | None:
    """Check a body or message's payload: strict base64, JSON that serialises."""
    if "base64" in payload:
        try:
            base64.b64decode(payload["base64"], validate=True)
        except (binascii.Error, ValueError):
            return "base64", "not valid base64"
    if "json" in payload:
        problem = json_problem(payload["json"])
        if problem:
            return "json", problem
    return None


def _payloads(index: int, interaction: dict[str, Any]) -> Iterator[tuple[list[str | int], dict]]:
    for side in ("request", "response"):
        body = interaction[side].get("body")
        if body:
            yield ["interactions", index, side, "body"], body
    for number, message in enumerate(interaction.get("messages") or []):
        yield ["interactions", index, "messages", number], message


def _finite(value: Any) -> bool:
    return not isinstance(value, float) or math.isfinite(value)


def correlation_problem(use: dict[str, Any], ident: int) -> tuple[str, str] | None:
    """Why a ``uses:`` item of interaction ``ident`` cannot be followed: (key, message)."""
    try:
        source = Source.parse(use["from"])
    except RefError as exc:
        return "from", str(exc)
    targets: list[Target] = []
    for number, text in enumerate(use["to"]):
        try:
            targets.append(Target.parse(text))
        except RefError as exc:
            return f"to[{number}]", str(exc)
    if source.id > ident:
        return "from", f"#{source.id} comes after this interaction (#{ident})"
    # From this interaction itself: only a server message used by a later client message.
    if source.id == ident and (
        source.part != "message"
        or any(t.part != "message" or (t.index or 0) <= (source.index or 0) for t in targets)
    ):
        return "from", (
            "a value from this interaction itself can only be a server message used by "
            "a later client message"
        )
    if use.get("match") is not None:
        try:
            pattern = re.compile(use["match"])
        except re.error as exc:
            return "match", f"not a regular expression: {exc}"
        if pattern.groups < 1:
            return "match", "needs a group, (...), around the value"
    return None


def semantic_problem(data: dict[str, Any]) -> Problem | None:
    """Rules JSON Schema cannot say: ids unique, websocket-only fields, sendable payloads,
    correlations that refer to earlier interactions in words that parse."""
    seen: set[int] = set()
    for index, interaction in enumerate(data.get("interactions") or []):
        ident = interaction["id"]
        if ident in seen:
            return ["interactions", index, "id"], f"duplicate interaction id {ident}"
        seen.add(ident)
        for key in ("at", "duration"):
            if not _finite(interaction.get(key, 0)):
                return ["interactions", index, key], "expected a finite number of seconds"
        if len(interaction.get("messages") or ()) > MAX_MESSAGES:
            return ["interactions", index, "messages"], (
                f"more than {MAX_MESSAGES} messages in one session"
            )
        for number, message in enumerate(interaction.get("messages") or []):
            if not _finite(message.get("at", 0)):
                return ["interactions", index, "messages", number, "at"], (
                    "expected a finite number of seconds"
                )
        if interaction["type"] == "http" and interaction.get("messages"):
            return (
                ["interactions", index, "messages"],
                "messages are only allowed on a websocket interaction",
            )
        for where, payload in _payloads(index, interaction):
            problem = _payload_problem(payload)
            if problem:
                return [*where, problem[0]], problem[1]
        for number, use in enumerate(interaction.get("uses") or []):
            found = correlation_problem(use, ident)
            if found:
                key, message = found
                place: list[str | int] = ["interactions", index, "uses", number]
                if key.startswith("to["):
                    place += ["to", int(key[3:-1])]
                else:
                    place.append(key)
                return place, message
    return None


def validate_data(data: Any, *, path: str, text: str) -> None:
    """Raise :class:`CassetteError` (with file, line and place) if ``data`` is not v1."""
    if not isinstance(data, dict) or "retape" not in data:
        raise CassetteError(
            "not a retape cassette (no top-level 'retape:' version marker)", path=path, line=1
        )
    if data["retape"] != 1:
        raise CassetteError(
            f"unsupported cassette format version {_short(data['retape'])} "
            "(this retape reads version 1)",
            path=path,
            line=Locator(text).line(["retape"]),
            place="retape",
        )
    from jsonschema.exceptions import best_match

    error = best_match(_validator().iter_errors(data))
    if error is not None:
        where = list(error.absolute_path)
        raise CassetteError(
            _describe(error), path=path, line=Locator(text).line(where), place=format_place(where)
        )
    semantic = semantic_problem(data)
    if semantic is not None:
        where, message = semantic
        raise CassetteError(
            message, path=path, line=Locator(text).line(where), place=format_place(where)
        )
