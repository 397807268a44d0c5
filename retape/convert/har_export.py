"""Cassettes out as HAR 1.2, websocket sessions in Chrome's ``_webSocketMessages``.

The HAR is meant to open where HAR files are read: Chrome DevTools (Network > Import
HAR), mitmproxy (``mitmproxy -r x.har``, :mod:`mitmproxy.io.har`), and ``retape import``.
Everything the cassette holds is written as it is, placeholders included: an export
never holds more than the cassette did. What HAR has no field for (how a websocket
ended, an omitted body's size and sha256, the credential markers) goes in ``_retape``
on the entry, so the HAR imports back to the same cassette.
"""

from __future__ import annotations

import base64
import datetime
import json
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from retape import __version__
from retape.cassette.model import Body, Cassette, Header, Interaction, header_value

_DEFAULT_ORIGIN = "http://localhost"


def origin_of(cassette: Cassette) -> str:
    """The recorded upstream if it is a usable origin, else ``http://localhost``."""
    parts = urlsplit(cassette.recording.upstream or "")
    if parts.scheme in ("http", "https") and parts.netloc and "<redacted:" not in parts.netloc:
        return f"{parts.scheme}://{parts.netloc}"
    return _DEFAULT_ORIGIN


def recording_start(cassette: Cassette) -> float:
    """Epoch seconds of the recording's start (``recording.at``), 0 if unknown."""
    try:
        moment = datetime.datetime.fromisoformat(cassette.recording.at)
    except ValueError:
        return 0.0
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.UTC)
    return moment.timestamp()


def _iso(epoch: float) -> str:
    return datetime.datetime.fromtimestamp(epoch, datetime.UTC).isoformat(timespec="microseconds")


def _headers(headers: list[Header]) -> list[dict[str, str]]:
    return [{"name": name, "value": value} for name, value in headers]


def _content(body: Body | None) -> dict[str, Any]:
    """``{text[, encoding: base64]}`` for a body HAR can carry; {} for none or omitted."""
    if body is None or body.is_omitted:
        return {}
    data = body.to_bytes()
    if body.kind == "base64":
        return {"text": base64.b64encode(data).decode("ascii"), "encoding": "base64"}
    return {"text": data.decode("utf-8")}


def _size(body: Body | None) -> int:
    if body is None:
        return 0
    return body.size or 0 if body.is_omitted else len(body.to_bytes())


def _version(interaction: Interaction) -> str:
    return "http/2.0" if interaction.http_version.upper().startswith("HTTP/2") else "HTTP/1.1"


def entry(interaction: Interaction, *, origin: str, start: float, page: str) -> dict[str, Any]:
    """One HAR entry for one interaction."""
    request, response = interaction.request, interaction.response
    websocket = interaction.type == "websocket"
    scheme = origin.split(":", 1)[0]
    if websocket:
        scheme = {"http": "ws", "https": "wss"}[scheme]
    url = f"{scheme}:{origin.split(':', 1)[1]}{request.path}"
    started = start + interaction.at
    handshake_ms = 0.0 if websocket else interaction.duration * 1000
    har_request: dict[str, Any] = {
        "method": request.method,
        "url": url,
        "httpVersion": _version(interaction),
        "cookies": [],
        "headers": _headers(request.headers),
        "queryString": [
            {"name": k, "value": v}
            for k, v in parse_qsl(urlsplit(request.path).query, keep_blank_values=True)
        ],
        "headersSize": -1,
        "bodySize": _size(request.body),
    }
    if request.body is not None:
        mime = header_value(request.headers, "content-type") or ""
        har_request["postData"] = {"mimeType": mime, **({"text": ""} | _content(request.body))}
    mime = header_value(response.headers, "content-type") or ""
    location = header_value(response.headers, "location") or ""
    har: dict[str, Any] = {
        "pageref": page,
        "startedDateTime": _iso(started),
        "time": round(handshake_ms, 3),
        "request": har_request,
        "response": {
            "status": response.status,
            "statusText": response.reason,
            "httpVersion": _version(interaction),
            "cookies": [],
            "headers": _headers(response.headers),
            "content": {"size": _size(response.body), "mimeType": mime, **_content(response.body)},
            "redirectURL": location,
            "headersSize": -1,
            "bodySize": _size(response.body),
        },
        "cache": {},
        "timings": {"send": 0, "wait": round(handshake_ms, 3), "receive": 0},
    }
    extra: dict[str, Any] = {"id": interaction.id, "duration": round(interaction.duration, 6)}
    if request.credentials:
        extra["credentials"] = list(request.credentials)
    for name, body in (("requestBody", request.body), ("responseBody", response.body)):
        if body is not None and (body.is_omitted or body.content_encoding):
            extra[name] = body.to_data()
    if websocket:
        har["_resourceType"] = "websocket"
        har["_webSocketMessages"] = [
            {
                "type": "send" if m.sender == "client" else "receive",
                "time": round(started + m.at, 6),
                "opcode": 1 if m.is_text else 2,
                "data": m.payload() if m.is_text else m.value,
            }
            for m in interaction.messages
        ]
        if interaction.close is not None:
            extra["close"] = interaction.close.to_data()
    har["_retape"] = extra
    return har


def to_har(cassettes: list[Cassette]) -> dict[str, Any]:
    """The HAR document: one page per cassette, entries in time order."""
    pages, entries = [], []
    for number, cassette in enumerate(cassettes, start=1):
        start, origin, page = recording_start(cassette), origin_of(cassette), f"page_{number}"
        pages.append(
            {
                "startedDateTime": _iso(start),
                "id": page,
                "title": str(cassette.path or page),
                "pageTimings": {},
            }
        )
        entries += [entry(i, origin=origin, start=start, page=page) for i in cassette.interactions]
    entries.sort(key=lambda e: e["startedDateTime"])
    return {
        "log": {
            "version": "1.2",
            "creator": {"name": "retape", "version": __version__},
            "pages": pages,
            "entries": entries,
        }
    }


def write_har(cassettes: list[Cassette], out: Path) -> int:
    """Write the HAR to ``out``; return how many entries it holds."""
    document = to_har(cassettes)
    out.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return len(document["log"]["entries"])
