"""HAR 1.2 files into cassette interactions: Chrome, Firefox, mitmproxy's ``hardump``.

What the exporters agree on is HAR 1.2 (``log.entries[].request/response``). Websocket
sessions are an extension that Chrome introduced and mitmproxy's savehar copied: an
entry for the handshake carries ``_webSocketMessages``, each ``{type: send|receive,
time: epoch seconds, opcode: 1|2, data}`` with binary data in base64. HTTP/2 exports
carry pseudo-headers (``:authority``...), which are not headers and are dropped.

Bodies in a HAR are already decoded (``content.text`` is the text, or base64 with
``encoding: base64``), so ``Content-Encoding`` only notes how they travelled, as in a
recorded cassette. An entry of ours (``retape export --har``) also carries ``_retape``:
what HAR has no field for (how a websocket closed, an omitted body's note), so that an
export imports back to the same cassette.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import logging
from typing import Any
from urllib.parse import urlencode

from retape.cassette.model import (
    Body,
    Close,
    Header,
    Interaction,
    Message,
    Request,
    Response,
    Sender,
    header_value,
)
from retape.cassette.redact import Redactor
from retape.convert.detect import CaptureError, load_har
from retape.convert.pipeline import Imported, Pending, split_url

logger = logging.getLogger(__name__)

DECODED_ENCODINGS = frozenset({"gzip", "deflate", "br", "zstd"})
_TEXT, _BINARY = 1, 2
_CONTROL = frozenset({8, 9, 10})  # close, ping, pong: not messages (docs/cassette-format.md)
_VERSIONS = {"http/2.0": "HTTP/2.0", "http/2": "HTTP/2.0", "h2": "HTTP/2.0", "http/3": "HTTP/3"}


class _Refused(Exception):
    """An entry that cannot be imported; becomes ``file: entry N: why``."""


def read_har(path: str) -> Imported:
    """Every usable entry of a HAR file, in file order; refuses the file on a broken one."""
    log = load_har(path)["log"]
    creator = log.get("creator") if isinstance(log.get("creator"), dict) else {}
    mitmproxy = str(creator.get("version", "")) if creator.get("name") == "mitmproxy" else ""
    pending = []
    for number, entry in enumerate(log["entries"], start=1):
        try:
            item = _pending(entry, f"{path}: entry {number}")
        except _Refused as exc:
            raise CaptureError(path, f"entry {number}: {exc}") from None
        if item is not None:
            pending.append(item)
    return Imported(pending, mitmproxy)


def _pending(entry: Any, where: str) -> Pending | None:
    if not isinstance(entry, dict):
        raise _Refused("not an object")
    request, response = entry.get("request"), entry.get("response")
    if not isinstance(request, dict) or not isinstance(request.get("url"), str):
        raise _Refused("no request.url")
    method = request.get("method")
    if not isinstance(method, str) or not method:
        raise _Refused("no request.method")
    status = response.get("status") if isinstance(response, dict) else None
    if not isinstance(response, dict) or not isinstance(status, int) or not 100 <= status <= 599:
        logger.warning("%s: skipped %s %s: no response (status %r)", where, method,
                       request["url"][:80], status)  # fmt: skip
        return None
    try:
        origin, path = split_url(request["url"])
    except ValueError as exc:
        raise _Refused(str(exc)) from None
    started = _timestamp(entry.get("startedDateTime"))
    elapsed = _number(entry.get("time"), "time") / 1000.0
    found = entry.get("_retape")
    extra: dict[str, Any] = found if isinstance(found, dict) else {}
    req_headers = _headers(request.get("headers"), "request.headers")
    resp_headers = _headers(response.get("headers"), "response.headers")
    upgrade = (header_value(req_headers, "upgrade") or "").lower() == "websocket"
    frames = entry.get("_webSocketMessages")
    if (frames is not None or entry.get("_resourceType") == "websocket") and not upgrade:
        raise _Refused("websocket messages, but the request has no 'Upgrade: websocket' header")
    if frames is not None and not isinstance(frames, list):
        raise _Refused("_webSocketMessages is not a list")
    if upgrade and status != 101 and frames:
        raise _Refused(f"websocket messages on a handshake the server refused ({status})")
    opened = started + elapsed
    messages = _messages(frames or [], opened) if upgrade and status == 101 else []
    if messages:
        first = min(m.at for m in messages)
        if first < 0:  # the export's "time" covers more than the handshake: shift to 0
            messages = [Message(m.sender, m.at - first, m.kind, m.value) for m in messages]
    duration = elapsed
    if messages:
        duration = max(elapsed, elapsed + max(m.at for m in messages))
    if isinstance(extra.get("duration"), int | float):
        duration = float(extra["duration"])
    raw = Interaction(
        id=0,
        type="websocket" if upgrade else "http",
        request=Request(
            method=method.upper(),
            path=path,
            headers=req_headers,
            body=_request_body(request, req_headers, extra),
            credentials=[str(c).lower() for c in extra.get("credentials") or []],
        ),
        response=Response(
            status=status,
            headers=resp_headers,
            body=_response_body(response, resp_headers, extra),
            reason=str(response.get("statusText") or ""),
        ),
        duration=max(0.0, duration),
        http_version=_version(request.get("httpVersion")),
        messages=messages,
        close=_close(extra) if upgrade and status == 101 else None,
    )

    def build(redactor: Redactor, recording_start: float) -> Interaction:
        raw.at = max(0.0, started - recording_start)
        return redactor.interaction(raw)

    return Pending(started, origin, build, where)


def _timestamp(value: Any) -> float:
    if not isinstance(value, str):
        raise _Refused("no startedDateTime")
    try:
        moment = datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise _Refused(f"startedDateTime is not ISO 8601: {value[:40]!r}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.UTC)
    return moment.timestamp()


def _number(value: Any, name: str) -> float:
    if value is None:
        return 0.0
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _Refused(f"{name} is not a number")
    return max(0.0, float(value))


def _headers(value: Any, name: str) -> list[Header]:
    """``[{name, value}]`` (every browser) or ``[[name, value]]`` (Slack); no pseudo-headers."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise _Refused(f"{name} is not a list")
    headers: list[Header] = []
    for item in value:
        if isinstance(item, dict):
            key, val = item.get("name"), item.get("value")
        elif isinstance(item, list | tuple) and len(item) == 2:
            key, val = item
        else:
            raise _Refused(f"{name}: not a name/value pair: {str(item)[:60]}")
        if not isinstance(key, str) or not isinstance(val, str | int | float):
            raise _Refused(f"{name}: not a name/value pair: {str(item)[:60]}")
        if not key.startswith(":"):
            headers.append((key, str(val)))
    return headers


def _version(value: Any) -> str:
    text = str(value or "").strip()
    return _VERSIONS.get(text.lower(), "HTTP/1.1")


def _content_bytes(text: Any, encoding: Any, name: str) -> bytes:
    if not isinstance(text, str):
        raise _Refused(f"{name}.text is not a string")
    if encoding == "base64":
        try:
            return base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            raise _Refused(f"{name}.text is not valid base64") from None
    return text.encode("utf-8", "surrogateescape")


def _body(data: bytes, headers: list[Header], mime: Any) -> Body | None:
    content_type = header_value(headers, "content-type") or str(mime or "")
    declared = (header_value(headers, "content-encoding") or "").strip().lower()
    return Body.from_bytes(data, content_type, declared if declared in DECODED_ENCODINGS else None)


def _request_body(request: dict, headers: list[Header], extra: dict) -> Body | None:
    if isinstance(extra.get("requestBody"), dict):
        return Body.from_data(extra["requestBody"])
    post = request.get("postData")
    if not isinstance(post, dict):
        return None
    if post.get("text") is None and isinstance(post.get("params"), list):
        pairs = [(str(p.get("name", "")), str(p.get("value", ""))) for p in post["params"]]
        return _body(urlencode(pairs).encode(), headers, post.get("mimeType"))
    if post.get("text") is None:
        return None
    data = _content_bytes(post.get("text"), post.get("encoding"), "request.postData")
    return _body(data, headers, post.get("mimeType"))


def _response_body(response: dict, headers: list[Header], extra: dict) -> Body | None:
    if isinstance(extra.get("responseBody"), dict):
        return Body.from_data(extra["responseBody"])
    content = response.get("content")
    if not isinstance(content, dict) or content.get("text") is None:
        return None  # Firefox leaves some bodies out; HAR does not require them
    data = _content_bytes(content.get("text"), content.get("encoding"), "response.content")
    return _body(data, headers, content.get("mimeType"))


def _messages(frames: list, opened: float) -> list[Message]:
    messages = []
    for number, frame in enumerate(frames, start=1):
        name = f"_webSocketMessages[{number}]"
        if not isinstance(frame, dict):
            raise _Refused(f"{name} is not an object")
        kind, opcode, data = frame.get("type"), frame.get("opcode"), frame.get("data", "")
        if kind not in ("send", "receive"):
            raise _Refused(f"{name}.type is {kind!r}, not send or receive")
        if opcode in _CONTROL:
            continue
        if opcode not in (_TEXT, _BINARY):
            raise _Refused(f"{name}.opcode is {opcode!r}, not 1 (text) or 2 (binary)")
        if not isinstance(data, str):
            raise _Refused(f"{name}.data is not a string")
        at = _number(frame.get("time"), f"{name}.time") - opened
        sender: Sender = "client" if kind == "send" else "server"
        if opcode == _TEXT:
            messages.append(Message.from_frame(sender, at, data))
            continue
        try:
            payload = base64.b64decode(data, validate=True)
        except (binascii.Error, ValueError):
            raise _Refused(f"{name}.data of a binary frame is not base64") from None
        messages.append(Message.from_frame(sender, at, payload))
    return messages


def _close(extra: dict) -> Close:
    """How the session ended: ours say; a browser's HAR does not, so a client close."""
    close = extra.get("close")
    if isinstance(close, dict) and close.get("by") in ("client", "server", "none"):
        return Close.from_data(close) or Close(1000)
    return Close(1000, "", "client")
