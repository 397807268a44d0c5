"""The aiohttp application that plays the server's half of cassettes.

Every request is matched (:mod:`.match`) and answered from the recording:

- HTTP: the recorded status, reason, headers and body, after the recorded duration
  (divided by ``speed``). Bodies are stored decoded; one recorded with a
  ``Content-Encoding`` is encoded again when retape can (gzip, deflate; br and zstd
  where their packages are installed) and otherwise sent in clear without that header.
- Streams (``text/event-stream``, or a chunked response): sent event by event. The
  cassette keeps a stream's total duration, not each event's arrival, so the events are
  spread evenly over it.
- Websocket sessions: the recorded server messages, each at its recorded offset; at a
  recorded client message the server waits for the client's, then plays its next turn;
  then the session ends as recorded (server close with its code, or waiting for the
  client's close, or a dropped connection).

A request that matches nothing gets a 404 whose JSON body names the closest recorded
interaction and what differs. Nothing is ever forwarded: this module opens no client
connection of any kind.
"""

from __future__ import annotations

import asyncio
import gzip
import logging
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field

from aiohttp import WSMsgType, web

from retape.cassette.model import Body, Interaction, Message, header_value
from retape.cassette.rules import Rules
from retape.serve.match import Incoming, Matcher, Miss, Recorded, body_difference, split_target

logger = logging.getLogger(__name__)

# Set by aiohttp from what is actually sent; a recorded value would be wrong or doubled.
_HOP_BY_HOP = frozenset(
    {"content-length", "transfer-encoding", "connection", "keep-alive", "upgrade"}
)
_HANDSHAKE = frozenset(
    {"sec-websocket-accept", "sec-websocket-extensions", "sec-websocket-protocol"}
)
CLIENT_TIMEOUT = 60.0  # how long a websocket turn waits for the client's message


@dataclass
class Unmatched:
    request: str
    closest: str
    why: list[str]


@dataclass
class Report:
    """What happened while serving, for the log and the summary on exit."""

    unmatched: list[Unmatched] = field(default_factory=list)
    diverged: list[str] = field(default_factory=list)  # websocket turns that went otherwise


def _encode(data: bytes, encoding: str) -> bytes | None:
    """``data`` in ``encoding``, or None if retape cannot produce it here."""
    name = encoding.strip().lower()
    if name == "gzip":
        return gzip.compress(data)
    if name == "deflate":
        return zlib.compress(data)
    try:
        if name == "br":
            import brotli

            return brotli.compress(data)
        if name == "zstd":
            import zstandard

            return zstandard.ZstdCompressor().compress(data)
    except ImportError:
        return None
    return None


def _payload(body: Body | None) -> tuple[bytes, str | None]:
    """(bytes to send, Content-Encoding to announce or None to drop the header)."""
    if body is None or body.is_omitted:
        return b"", None
    data = body.to_bytes()
    if body.content_encoding:
        encoded = _encode(data, body.content_encoding)
        return (encoded, body.content_encoding) if encoded is not None else (data, None)
    return data, "keep"


def _is_stream(interaction: Interaction) -> bool:
    headers = interaction.response.headers
    media = (header_value(headers, "content-type") or "").split(";")[0].strip().lower()
    chunked = "chunked" in (header_value(headers, "transfer-encoding") or "").lower()
    return media == "text/event-stream" or chunked


def stream_pieces(data: bytes, *, sse: bool) -> list[bytes]:
    """A stream cut where its events (SSE: blank lines) or lines end, nothing lost."""
    separator = b"\n\n" if sse else b"\n"
    pieces, start = [], 0
    while (end := data.find(separator, start)) >= 0:
        pieces.append(data[start : end + len(separator)])
        start = end + len(separator)
    if start < len(data):
        pieces.append(data[start:])
    return pieces


class MockServer:
    """Answers requests from the recorded interactions of one or more cassettes."""

    def __init__(
        self,
        recorded: list[Recorded],
        *,
        speed: float = 1.0,
        rules: Rules | None = None,
        log: Callable[[str], None] = print,
    ) -> None:
        self.matcher = Matcher(recorded)
        self.speed = speed
        self.credential_headers = (rules or Rules()).headers
        self.log = log
        self.report = Report()

    def app(self) -> web.Application:
        app = web.Application(client_max_size=1024**3)
        app.router.add_route("*", "/{tail:.*}", self.handle)
        return app

    async def _pause(self, seconds: float) -> None:
        if self.speed > 0 and seconds > 0:
            await asyncio.sleep(seconds / self.speed)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        path, query = split_target(request.raw_path)
        websocket = "websocket" in request.headers.get("Upgrade", "").lower()
        incoming = Incoming(
            method=request.method,
            path=path,
            query=query,
            body=body,
            credential=any(name.lower() in self.credential_headers for name in request.headers),
            websocket=websocket,
        )
        found = self.matcher.match(incoming)
        if isinstance(found, Miss):
            return self._miss(incoming, found)
        interaction = found.interaction
        again = " (again: every recorded match was used)" if found.uses > 1 else ""
        self.log(f"{interaction.response.status}  {incoming.label}  <- {found.label}{again}")
        if interaction.accepted and websocket:
            return await self._websocket(request, found)
        return await self._http(request, found)

    def _miss(self, incoming: Incoming, miss: Miss) -> web.Response:
        closest = miss.closest.label if miss.closest else "none"
        self.report.unmatched.append(Unmatched(incoming.label, closest, miss.why))
        self.log(
            f"404  {incoming.label}  matches nothing; closest {closest}: {'; '.join(miss.why)}"
        )
        document = {
            "error": f"retape serve: no recorded interaction matches {incoming.label}",
            "closest": closest,
            "differs": miss.why,
        }
        return web.json_response(document, status=404, headers={"X-Retape-Unmatched": "1"})

    def _headers(self, interaction: Interaction, encoding: str | None) -> list[tuple[str, str]]:
        headers = []
        for name, value in interaction.response.headers:
            lower = name.lower()
            if lower in _HOP_BY_HOP or (lower == "content-encoding" and encoding != "keep"):
                continue
            headers.append((name, value))
        if encoding is not None and encoding != "keep":
            headers.append(("Content-Encoding", encoding))
        return headers

    async def _http(self, request: web.Request, found: Recorded) -> web.StreamResponse:
        interaction = found.interaction
        response = interaction.response
        body = response.body
        if body is not None and body.is_omitted:
            self.log(
                f"     {found.label}: its body was not recorded ({body.size} bytes): sent empty"
            )
        data, encoding = _payload(body)
        headers = self._headers(interaction, encoding)
        if not _is_stream(interaction) or encoding not in (None, "keep"):
            await self._pause(interaction.duration)
            return web.Response(
                status=response.status, reason=response.reason or None, headers=headers, body=data
            )
        sse = "event-stream" in (header_value(response.headers, "content-type") or "")
        pieces = stream_pieces(data, sse=sse)
        out = web.StreamResponse(
            status=response.status, reason=response.reason or None, headers=headers
        )
        if not any(n.lower() == "content-length" for n, _ in response.headers):
            out.enable_chunked_encoding()
        gap = interaction.duration / (len(pieces) + 1) if pieces else interaction.duration
        await self._pause(gap)
        await out.prepare(request)
        for piece in pieces:
            await self._pause(gap)
            await out.write(piece)
        await out.write_eof()
        return out

    async def _websocket(self, request: web.Request, found: Recorded) -> web.StreamResponse:
        interaction = found.interaction
        offered = header_value(interaction.response.headers, "sec-websocket-protocol")
        ws = web.WebSocketResponse(
            protocols=[offered] if offered else (), autoclose=False, max_msg_size=0
        )
        for name, value in interaction.response.headers:
            if name.lower() not in _HOP_BY_HOP | _HANDSHAKE:
                ws.headers.add(name, value)
        await self._pause(interaction.duration if not interaction.messages else 0)
        await ws.prepare(request)
        try:
            await self._play(ws, found)
        except TimeoutError:
            self._diverged(found, f"the client sent nothing for {CLIENT_TIMEOUT:.0f}s")
            await ws.close(code=1011)
        except ConnectionError:
            self._diverged(found, "the client's connection broke")
        return ws

    async def _play(self, ws: web.WebSocketResponse, found: Recorded) -> None:
        interaction = found.interaction
        clock = 0.0
        for number, message in enumerate(interaction.messages, start=1):
            if message.sender == "server":
                await self._pause(message.at - clock)
                clock = max(clock, message.at)
                payload = message.payload()
                if isinstance(payload, str):
                    await ws.send_str(payload)
                else:
                    await ws.send_bytes(payload)
                continue
            received = await ws.receive(timeout=CLIENT_TIMEOUT)
            if received.type in (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED):
                self._diverged(found, f"message {number}: the client closed, recorded a message")
                await ws.close()
                return
            if received.type not in (WSMsgType.TEXT, WSMsgType.BINARY):
                self._diverged(found, f"message {number}: the client sent {received.type.name}")
                await ws.close()
                return
            why = _message_difference(received.data, message)
            if why:
                self._diverged(found, f"message {number}: {why}")
            clock = max(clock, message.at)
        await self._end(ws, found, clock)

    async def _end(self, ws: web.WebSocketResponse, found: Recorded, clock: float) -> None:
        close = found.interaction.close
        if close is None or close.by == "client":
            while not ws.closed:  # the client closes; more messages were not recorded
                received = await ws.receive(timeout=CLIENT_TIMEOUT)
                if received.type in (WSMsgType.TEXT, WSMsgType.BINARY):
                    self._diverged(found, "the client sent a message after the recorded ones")
                elif received.type in (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED):
                    await ws.close(code=close.code if close and close.code else 1000)
                    return
            return
        await self._pause(found.interaction.duration - clock)
        if close.by == "server":
            await ws.close(code=close.code or 1000, message=close.reason.encode())
            return
        transport = ws._req.transport if ws._req is not None else None
        if transport is not None:
            transport.abort()  # recorded as dropped without a close frame (1006)

    def _diverged(self, found: Recorded, what: str) -> None:
        self.report.diverged.append(f"{found.label}: {what}")
        self.log(f"     {found.label}: {what}")


def _message_difference(sent: str | bytes, recorded: Message) -> str | None:
    if isinstance(sent, str) != recorded.is_text:
        kind = "text" if isinstance(sent, str) else "binary"
        return f"a {kind} message, recorded {'text' if recorded.is_text else 'binary'}"
    data = sent.encode() if isinstance(sent, str) else sent
    found = body_difference(data, Body(recorded.kind, recorded.value))
    return found.removeprefix("body").lstrip(": ") if found else None
