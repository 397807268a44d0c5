"""Replaying one WebSocket interaction: the handshake, then the recorded conversation.

The handshake status is the verdict: 101 when accepted, else the HTTP status of the
rejection (``InvalidStatus``), which is how a 401 or the vLLM-style 500 shows up. When
both the recording and the replay were accepted, the recorded messages are walked in
order: client messages are sent, and the server's messages are awaited and kept for
the ``messages`` comparison. A server that goes quiet or closes early ends the walk
with a note in the details rather than an error; what it said (or did not) is for the
comparison to judge. Messages beyond the recorded ones are counted and noted
(``server_messages_extra``). Where the recorded client closed the session, the replay
first listens for :data:`EXTRA_WINDOW` seconds so that such messages are heard, but
does not compare them: the recording ended there and cannot say whether its server
had more to say.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Callable
from typing import Any

from retape.replayer.auth.credentials import Credentials
from retape.replayer.net.target import hung_up, unreachable
from retape.replayer.results import ErrorKind, Outcome
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import (
    ConnectionClosed,
    InvalidHandshake,
    InvalidMessage,
    InvalidStatus,
    ProtocolError,
    WebSocketException,
)
from websockets.frames import Close as CloseFrame

from retape.cassette.model import Close, Header, Interaction, Message

# Headers the websocket client writes itself for this handshake, plus hop-by-hop ones.
HANDSHAKE_MANAGED = frozenset(
    {"host", "upgrade", "connection", "content-length", "transfer-encoding", "te", "trailer"}
    | {"keep-alive", "proxy-connection"}
    | {"sec-websocket-key", "sec-websocket-version", "sec-websocket-extensions"}
    | {"sec-websocket-protocol", "sec-websocket-accept"}
)
# Called before each client message is sent: (its index, the message, server messages so
# far) -> the message to send (replayer.session_state puts live values in).
Rewrite = Callable[[int, Message, list[Message]], Message]
NORMAL_CLOSURE = 1000
# One received message over this closes the session (1009, "message too big"): replay
# memory per message is bounded whatever a target sends. docs/security.md.
MAX_MESSAGE_BYTES = 64 * 1024 * 1024
EXTRA_WINDOW = 0.25  # seconds spent listening for unrecorded messages before a client close
KEPT_EXTRA = 100  # unrecorded messages kept for the comparison; the rest are only counted


def subprotocols_of(headers: list[tuple[str, str]]) -> list[str]:
    """Subprotocols the recorded client offered, in order (the header may repeat)."""
    offered: list[str] = []
    for name, value in headers:
        if name.lower() == "sec-websocket-protocol":
            offered += [p.strip() for p in value.split(",") if p.strip()]
    return offered


def close_args(close: Close | None) -> tuple[int, str]:
    """The recorded close code and reason if a client may send them, else a normal close.

    Recorded codes like 1005 (no code) and 1006 (dropped) describe what happened and are
    not allowed on the wire.
    """
    if close is None or close.code is None:
        return NORMAL_CLOSURE, ""
    try:
        CloseFrame(close.code, close.reason).serialize()
    except ProtocolError:
        return NORMAL_CLOSURE, ""
    if len(close.reason.encode()) > 123:  # a close frame's payload is at most 125 bytes
        return close.code, ""
    return close.code, close.reason


class _NeverRedirected(connect):
    """``connect`` that treats a 3xx answer as the handshake's status, never as a hop.

    websockets follows redirects itself and strips only ``Authorization`` and ``Cookie``
    on the way, so a target answering 302 with a ``Location`` on another host would
    receive every ``--header`` credential. The status is what a replay compares.
    """

    def process_redirect(self, exc: Exception) -> Exception | str:
        return exc


async def _open(
    url: str,
    *,
    headers: list[tuple[str, str]],
    offered: list[str],
    timeout: float,
    tls: ssl.SSLContext | None,
) -> ClientConnection:
    # Only for wss: websockets refuses an ssl argument with a ws:// URL.
    secure: dict[str, Any] = {"ssl": tls} if tls is not None and url.startswith("wss:") else {}
    return await _NeverRedirected(
        url,
        **secure,
        additional_headers=headers,
        subprotocols=offered or None,  # type: ignore[arg-type]
        open_timeout=timeout,
        close_timeout=timeout,
        ping_interval=None,  # send only what was recorded
        max_size=MAX_MESSAGE_BYTES,  # a hostile target cannot make one message cost more
        user_agent_header=None,  # a recorded User-Agent, if any, is in ``headers``
        proxy=None,  # never route replay traffic through an environment proxy
    )


class _Conversation:
    """The replay's side of a session: sends what the client sent, keeps what came back.

    Server messages are awaited by count: before each recorded client message, as many
    server messages as the recording had received by then. A wait that times out is
    noted and the walk goes on (the server may be waiting for the client's next
    message, as when one event went missing); a second timeout with nothing received
    since the first ends it, so a server gone silent costs at most two timeouts.
    """

    def __init__(
        self,
        ws: ClientConnection,
        interaction: Interaction,
        *,
        timeout: float,
        rewrite: Rewrite | None = None,
    ):
        self.ws = ws
        self.interaction = interaction
        self.timeout = timeout
        self.rewrite = rewrite
        self.received: list[Message] = []
        self.sent_at: list[float] = []
        self.opened = asyncio.get_running_loop().time()
        self.details: dict[str, Any] = {
            "client_messages_sent": 0,
            "server_messages_expected": sum(m.sender == "server" for m in interaction.messages),
            "server_messages_received": 0,
        }
        self._timed_out_at: int | None = None  # received count at the last timeout

    def _keep(self, data: str | bytes) -> None:
        self.details["server_messages_received"] += 1
        if len(self.received) >= self.details["server_messages_expected"] + KEPT_EXTRA:
            return  # a flood: counted, not kept
        at = asyncio.get_running_loop().time() - self.opened
        self.received.append(Message.from_frame("server", at, data))

    def _note(self, text: str) -> None:
        note = self.details.get("note")
        self.details["note"] = f"{note}; {text}" if note else text

    async def _receive_until(self, due: int) -> bool:
        """Receive until ``due`` messages came; False when the walk must end."""
        try:
            async with asyncio.timeout(self.timeout):
                while len(self.received) < due:
                    self._keep(await self.ws.recv())
        except TimeoutError:
            if self._timed_out_at == len(self.received):
                return False
            self._timed_out_at = len(self.received)
            waiting = f"waiting for server message {len(self.received) + 1}"
            self.details.setdefault("note", f"timeout after {self.timeout:g}s {waiting}")
        return True

    async def walk(self) -> None:
        due = 0
        try:
            for index, message in enumerate(self.interaction.messages):
                if message.sender == "server":
                    due += 1
                    continue
                if not await self._receive_until(due):
                    return
                if self.rewrite is not None:  # live values from this session's server
                    message = self.rewrite(index, message, self.received)
                await asyncio.wait_for(self.ws.send(message.payload()), self.timeout)
                self.details["client_messages_sent"] += 1
                self.sent_at.append(asyncio.get_running_loop().time() - self.opened)
            await self._receive_until(due)
        except TimeoutError:
            self._note(f"timeout after {self.timeout:g}s sending")
        except ConnectionClosed as exc:
            self._note(f"connection closed early: {exc}")

    async def listen_for_extra(self) -> None:
        """Count, without keeping, what the server still sends before the client closes."""
        try:
            async with asyncio.timeout(min(EXTRA_WINDOW, self.timeout)):
                while True:
                    await self.ws.recv()
                    self.details["server_messages_received"] += 1
        except (TimeoutError, ConnectionClosed):
            return

    def note_extra(self) -> None:
        extra = self.details["server_messages_received"] - self.details["server_messages_expected"]
        if extra > 0:
            self.details["server_messages_extra"] = extra
            self._note(f"{extra} server message{'s' if extra != 1 else ''} beyond the recording")

    async def await_server_close(self) -> None:
        """Read until the server closes, as it did in the recording; a note if it did not."""
        try:
            async with asyncio.timeout(self.timeout):
                while True:
                    self._keep(await self.ws.recv())
        except ConnectionClosed:
            return
        except TimeoutError:
            self._note(f"server did not close within {self.timeout:g}s as recorded")


def _headers(headers: Any) -> list[Header]:
    return [(str(name), str(value)) for name, value in headers.raw_items()]


async def replay_websocket(
    interaction: Interaction,
    *,
    url: str,
    credentials: Credentials,
    timeout: float,
    converse: bool = True,
    tls: ssl.SSLContext | None = None,
    rewrite: Rewrite | None = None,
) -> Outcome:
    """Open the handshake, replay the conversation if both sides accepted, then close.

    ``converse=False`` (auth probes) closes right after a handshake that should never
    have been accepted. ``tls`` verifies a wss target (:attr:`replayer.target.Target.tls`).
    Raises :class:`~replayer.target.Unreachable` when the connection could not be made,
    or was closed or reset before the handshake response: nothing answered.
    """
    request = interaction.request
    headers = credentials.headers_for(request, drop=HANDSHAKE_MANAGED)
    offered = credentials.subprotocols(subprotocols_of(request.headers))
    started = asyncio.get_running_loop().time()
    try:
        ws = await _open(url, headers=headers, offered=offered, timeout=timeout, tls=tls)
    except InvalidStatus as exc:
        response = exc.response
        return Outcome(
            status=response.status_code,
            headers=_headers(response.headers),
            body=response.body,
            handshake_seconds=asyncio.get_running_loop().time() - started,
        )
    except TimeoutError:
        return Outcome(error=f"timeout after {timeout:g}s", error_kind=ErrorKind.TIMEOUT)
    except InvalidMessage as exc:
        if isinstance(exc.__cause__, EOFError | ConnectionError):
            raise hung_up() from None
        return Outcome(error=f"invalid handshake: {exc}", error_kind=ErrorKind.PROTOCOL)
    except InvalidHandshake as exc:
        return Outcome(error=f"invalid handshake: {exc}", error_kind=ErrorKind.PROTOCOL)
    except OSError as exc:
        raise unreachable(exc) from None
    except (WebSocketException, ValueError) as exc:  # e.g. a recorded header it refuses
        return Outcome(error=f"cannot open websocket: {exc}")
    handshake = _headers(ws.response.headers) if ws.response is not None else []
    took = asyncio.get_running_loop().time() - started
    try:
        if not converse or not interaction.accepted:  # the status says it all
            return Outcome(status=101, headers=handshake, messages=[], handshake_seconds=took)
        talk = _Conversation(ws, interaction, timeout=timeout, rewrite=rewrite)
        await talk.walk()
        close = interaction.close
        if "note" not in talk.details:
            if close is not None and close.by != "client":
                await talk.await_server_close()
            else:
                await talk.listen_for_extra()
        talk.note_extra()
        code, reason = close_args(close)
        await ws.close(code, reason)
        talk.details["close_code"] = ws.close_code
        return Outcome(
            status=101,
            details=talk.details,
            headers=handshake,
            messages=talk.received,
            handshake_seconds=took,
            sent_at=talk.sent_at,
        )
    except WebSocketException as exc:
        kind = ErrorKind.CLOSED if isinstance(exc, ConnectionClosed) else ErrorKind.PROTOCOL
        return Outcome(status=101, error=f"websocket error: {exc}", error_kind=kind)
    except asyncio.CancelledError:
        # Stopped by --deadline or Ctrl-C: drop the connection rather than wait up to
        # close_timeout for a closing handshake that a hung server never completes.
        ws.transport.abort()
        raise
    finally:
        await ws.close()  # idempotent; bounded by close_timeout
