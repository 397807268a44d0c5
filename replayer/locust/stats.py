"""What goes into Locust's stats table: row names without ids, and websocket turn times.

Locust keeps one stats row per (type, name). A recording is full of ids (``/v1/files/
file-3f2a9c``, ``/users/42``, ``?session=8c1e...``): named by their literal paths, a day of
traffic would make a row per request. A segment that looks like an id becomes ``{id}``,
and query values become ``{}`` (the keys are kept: ``?stream={}`` and ``?page={}`` are
different endpoints to a reader).
"""

from __future__ import annotations

import re

from retape.replayer.results import Outcome

_UUID = re.compile(r"[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}", re.I)
_NUMBER = re.compile(r"\d+")
_HEX = re.compile(r"[0-9a-f]{8,}", re.I)
# A prefixed id (``chatcmpl-0f3a...``, ``file_8XyZ...``): a word, a separator, then a tail
# of at least eight characters that holds a digit.
_PREFIXED = re.compile(r"[A-Za-z]+[-_](?=[A-Za-z0-9_-]*\d)[A-Za-z0-9_-]{8,}")
_TOKEN = re.compile(r"(?=[A-Za-z0-9_-]*\d)(?=[A-Za-z0-9_-]*[A-Za-z])[A-Za-z0-9_-]{16,}")
_PLACEHOLDER = re.compile(r"<redacted:\d+>")


def _is_id(segment: str) -> bool:
    return any(
        pattern.fullmatch(segment)
        for pattern in (_NUMBER, _UUID, _HEX, _PREFIXED, _TOKEN, _PLACEHOLDER)
    )


def template_path(path: str) -> str:
    """``/v1/files/file-3f2a9c1d/content?limit=5`` -> ``/v1/files/{id}/content?limit={}``."""
    bare, question, query = path.partition("?")
    segments = ["{id}" if _is_id(part) else part for part in bare.split("/")]
    templated = "/".join(segments)
    if not question:
        return templated
    keys = [item.partition("=")[0] for item in query.split("&") if item]
    return templated + "?" + "&".join(f"{key}={{}}" for key in keys)


def interaction_name(method: str, path: str) -> str:
    """The stats row of an interaction: ``POST /v1/chat/completions``."""
    return f"{method} {template_path(path)}"


def websocket_turns(outcome: Outcome) -> list[float]:
    """Seconds from each client turn to the last server message answering it.

    A turn starts with the first client message after the server last spoke and ends
    with the last server message before the client speaks again; client messages the
    server never answered (a stream of audio chunks) belong to the turn they open.
    """
    timeline = [(at, "client") for at in outcome.sent_at]
    timeline += [(m.at, "server") for m in outcome.messages or []]
    turns: list[float] = []
    start: float | None = None
    last: float | None = None
    for at, sender in sorted(timeline):
        if sender == "client":
            if start is not None and last is not None:
                turns.append(last - start)
                start, last = None, None
            if start is None:
                start = at
        elif start is not None:
            last = at
    if start is not None and last is not None:
        turns.append(last - start)
    return turns
