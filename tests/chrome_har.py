"""HAR files in Chrome's shape, for importer tests: built, not exported by a browser.

Chrome DevTools (Network > Export HAR) writes HAR 1.2 with its own fields: creator
``WebInspector``, ``pages``, entries with ``_initiator``, ``_priority``,
``_resourceType`` (``fetch``, ``websocket``...), ``connection``, ``_transferSize``,
``_error``, ``timings._blocked_queueing``, and for a websocket the handshake entry with
a ``ws://``/``wss://`` URL and ``_webSocketMessages`` (``type`` send/receive, ``time``
in epoch seconds, ``opcode`` 1 text / 2 binary, ``data``, base64 for binary). HTTP/2
requests carry pseudo-headers (``:authority``, ``:method``, ``:path``, ``:scheme``).

:func:`chromify` rewrites a real capture (mitmproxy's savehar of real traffic) into
that shape, so an import of "Chrome's format" can be replayed against the server the
traffic came from; :func:`static_chrome_har` is a small hand-built one with the edges
(HTTP/2 pseudo-headers, a binary frame, a failed request).
"""

from __future__ import annotations

import copy
import datetime
from typing import Any


def _chrome_time(iso: str) -> str:
    moment = datetime.datetime.fromisoformat(iso)
    return moment.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _chrome_entry(entry: dict[str, Any], number: int) -> dict[str, Any]:
    out = copy.deepcopy(entry)
    request, response = out["request"], out["response"]
    websocket = "_webSocketMessages" in out
    if websocket:
        request["url"] = "ws://" + request["url"].split("://", 1)[1]
    out["startedDateTime"] = _chrome_time(entry["startedDateTime"])
    out["_initiator"] = {"type": "script", "stack": {"callFrames": []}}
    out["_priority"] = None if websocket else "High"
    out["_resourceType"] = "websocket" if websocket else "fetch"
    out["connection"] = str(1000 + number)
    out["pageref"] = "page_1"
    request["headersSize"] = -1
    response["_transferSize"] = response.get("bodySize", 0)
    response["_error"] = None
    content = response.setdefault("content", {})
    if not content.get("text"):
        content.pop("text", None)
    out["timings"] = {
        "blocked": 0.5, "dns": -1, "ssl": -1, "connect": -1,
        "send": 0.1, "wait": max(0.0, entry["time"] - 0.7), "receive": 0.1,
        "_blocked_queueing": 0.3,
    }  # fmt: skip
    out.pop("serverIPAddress", None)
    out["serverIPAddress"] = "127.0.0.1"
    return out


def chromify(har: dict[str, Any]) -> dict[str, Any]:
    """The same traffic as Chrome would export it."""
    entries = [_chrome_entry(e, n) for n, e in enumerate(har["log"]["entries"], start=1)]
    return {
        "log": {
            "version": "1.2",
            "creator": {"name": "WebInspector", "version": "537.36"},
            "pages": [
                {
                    "startedDateTime": entries[0]["startedDateTime"] if entries else "",
                    "id": "page_1",
                    "title": "http://127.0.0.1/",
                    "pageTimings": {"onContentLoad": -1, "onLoad": -1},
                }
            ],
            "entries": entries,
        }
    }


SECRET = "sk-chrome-fixture-0123456789abcdefXYZ"


def static_chrome_har() -> dict[str, Any]:
    """HTTP/2 fetch with pseudo-headers and a key, a websocket with text and binary
    frames both ways, a failed request (status 0)."""
    auth = {"name": "authorization", "value": f"Bearer {SECRET}"}
    return {
        "log": {
            "version": "1.2",
            "creator": {"name": "WebInspector", "version": "537.36"},
            "pages": [{"startedDateTime": "2026-03-30T00:00:54.253Z", "id": "page_1",
                       "title": "https://api.example.test/", "pageTimings": {}}],
            "entries": [
                {
                    "_initiator": {"type": "script"},
                    "_priority": "High",
                    "_resourceType": "fetch",
                    "cache": {},
                    "connection": "2411",
                    "pageref": "page_1",
                    "request": {
                        "method": "POST",
                        "url": "https://api.example.test/v1/chat/completions?trace=1",
                        "httpVersion": "http/2.0",
                        "headers": [
                            {"name": ":authority", "value": "api.example.test"},
                            {"name": ":method", "value": "POST"},
                            {"name": ":path", "value": "/v1/chat/completions?trace=1"},
                            {"name": ":scheme", "value": "https"},
                            auth,
                            {"name": "content-type", "value": "application/json"},
                        ],
                        "queryString": [{"name": "trace", "value": "1"}],
                        "cookies": [],
                        "headersSize": -1,
                        "bodySize": 52,
                        "postData": {
                            "mimeType": "application/json",
                            "text": '{"model":"demo-model","messages":[],"stream":false}',
                        },
                    },
                    "response": {
                        "status": 200,
                        "statusText": "",
                        "httpVersion": "http/2.0",
                        "headers": [
                            {"name": "content-type", "value": "application/json"},
                            {"name": "content-encoding", "value": "gzip"},
                        ],
                        "cookies": [],
                        "content": {"size": 27, "mimeType": "application/json",
                                    "compression": -10, "text": '{"id":"chatcmpl-abc123def"}'},
                        "redirectURL": "",
                        "headersSize": -1,
                        "bodySize": 37,
                        "_transferSize": 120,
                        "_error": None,
                    },
                    "serverIPAddress": "192.0.2.10",
                    "startedDateTime": "2026-03-30T00:00:54.253Z",
                    "time": 63.4,
                    "timings": {"blocked": 1.2, "dns": -1, "ssl": -1, "connect": -1,
                                "send": 0.2, "wait": 61.0, "receive": 1.0,
                                "_blocked_queueing": 0.8},
                },
                {
                    "_initiator": {"type": "script"},
                    "_resourceType": "websocket",
                    "_webSocketMessages": [
                        {"type": "receive", "time": 1774828855.5, "opcode": 1,
                         "data": '{"type":"session.created","session":{"id":"sess_1a2b3c4d"}}'},
                        {"type": "send", "time": 1774828855.75, "opcode": 1,
                         "data": '{"type":"session.update"}'},
                        {"type": "send", "time": 1774828855.8, "opcode": 2,
                         "data": "AAECAwQ="},
                        {"type": "receive", "time": 1774828856.0, "opcode": 2,
                         "data": "/wD/"},
                    ],
                    "cache": {},
                    "connection": "2412",
                    "pageref": "page_1",
                    "request": {
                        "method": "GET",
                        "url": "wss://api.example.test/v1/realtime",
                        "httpVersion": "HTTP/1.1",
                        "headers": [
                            {"name": "Host", "value": "api.example.test"},
                            {"name": "Upgrade", "value": "websocket"},
                            {"name": "Connection", "value": "Upgrade"},
                            {"name": "Sec-WebSocket-Version", "value": "13"},
                            {"name": "Sec-WebSocket-Key", "value": "dGhlIHNhbXBsZSBub25jZQ=="},
                            {"name": "Cookie", "value": f"session={SECRET}"},
                        ],
                        "queryString": [], "cookies": [], "headersSize": 400, "bodySize": 0,
                    },
                    "response": {
                        "status": 101,
                        "statusText": "Switching Protocols",
                        "httpVersion": "HTTP/1.1",
                        "headers": [
                            {"name": "Upgrade", "value": "websocket"},
                            {"name": "Connection", "value": "Upgrade"},
                            {"name": "Sec-WebSocket-Accept",
                             "value": "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="},
                        ],
                        "cookies": [],
                        "content": {"size": 0, "mimeType": "x-unknown"},
                        "redirectURL": "", "headersSize": 129, "bodySize": 0,
                        "_transferSize": 129, "_error": None,
                    },
                    "serverIPAddress": "192.0.2.10",
                    "startedDateTime": "2026-03-30T00:00:55.250Z",
                    "time": 250.0,
                    "timings": {"blocked": -1, "dns": -1, "ssl": -1, "connect": -1,
                                "send": 0, "wait": 250.0, "receive": 0},
                },
                {
                    "_resourceType": "fetch",
                    "cache": {},
                    "request": {"method": "GET", "url": "https://ads.example.test/pixel",
                                "httpVersion": "", "headers": [], "queryString": [],
                                "cookies": [], "headersSize": -1, "bodySize": 0},
                    "response": {"status": 0, "statusText": "", "httpVersion": "",
                                 "headers": [], "cookies": [], "content": {"size": 0,
                                 "mimeType": "x-unknown"}, "redirectURL": "",
                                 "headersSize": -1, "bodySize": -1, "_transferSize": 0,
                                 "_error": "net::ERR_BLOCKED_BY_CLIENT"},
                    "startedDateTime": "2026-03-30T00:00:56.000Z",
                    "time": 0,
                    "timings": {"blocked": -1, "dns": -1, "ssl": -1, "connect": -1,
                                "send": 0, "wait": 0, "receive": 0},
                },
            ],
        }
    }  # fmt: skip
