"""A cheap stand-in for schema-validating every interaction before it is appended.

One block the schema refuses makes the whole cassette unreadable, everything recorded
before it included, so nothing invalid may be written. Full JSON Schema validation
cost about 0.5 ms per chat-completion interaction on the proxy's event loop, more
than redaction and YAML dumping together. It is not needed: ``Interaction.to_data``
builds the schema's shape (keys, types, enums) by construction, so only values taken
off the wire can break a rule. Those are checked here, with the patterns and ranges
read from ``cassette/schema.json`` itself so the two cannot drift; the tests load
(and so fully validate) every cassette the recorder writes.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from functools import cache
from typing import Any

from retape.cassette.validate import json_problem, schema


@cache
def _rules() -> dict[str, Any]:
    defs = schema()["$defs"]
    request, response = defs["request"]["properties"], defs["response"]["properties"]
    code = defs["close"]["properties"]["code"]
    name, value = defs["header"]["prefixItems"]
    return {
        "header_name": re.compile(name["pattern"]),
        "header_value": re.compile(value["pattern"]),
        "method": re.compile(request["method"]["pattern"]),
        "path": re.compile(request["path"]["pattern"]),
        "status": (response["status"]["minimum"], response["status"]["maximum"]),
        "close": (code["minimum"], code["maximum"]),
    }


def interaction_problem(data: dict[str, Any]) -> str | None:
    """Why ``Interaction.to_data()`` output would fail validation, or None."""
    rules = _rules()
    request, response = data["request"], data["response"]
    if not rules["method"].search(request["method"]):
        return f"method {request['method']!r} is not a plain token"
    if not rules["path"].search(request["path"]):
        return "the path does not start with a single '/'"
    low, high = rules["status"]
    if not low <= response["status"] <= high:
        return f"status {response['status']} is out of range"
    for side in (request, response):
        for name, value in side["headers"]:
            if not rules["header_name"].search(name):
                return f"header name {name[:60]!r} is not a token"
            if not rules["header_value"].search(value):
                return f"header {name!r} has a line break or NUL in its value"
    close = data.get("close")
    low, high = rules["close"]
    if close and close["code"] is not None and not low <= close["code"] <= high:
        return f"close code {close['code']} is out of range"
    for where, payload in _payloads(data):
        # base64 needs no check: the recorder made it with b64encode.
        problem = json_problem(payload["json"]) if "json" in payload else None
        if problem:
            return f"{where} json: {problem}"
    return None


def _payloads(data: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for side in ("request", "response"):
        body = data[side].get("body")
        if body:
            yield f"{side} body", body
    for number, message in enumerate(data.get("messages") or []):
        yield f"message {number}", message
