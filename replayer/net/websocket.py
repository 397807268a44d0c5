"""Replaying one WebSocket interaction: the handshake, then the recorded conversation.

The handshake status comes first: 101 when accepted, else the HTTP status of the
rejection (``InvalidStatus``), which is how a 401 or the vLLM-style 500 shows up. When
both the recording and the replay were accepted, the conversation is played by
:class:`~retape.replayer.conversation.Conversation`, the pure plan and state machine
that decides what to send, when the server's turn is over and how the session ended;
this module only carries out its actions on the socket and reports back what happened.
:func:`send_message` is the one place a client message goes on the wire.
"""

from __future__ import annotations

import asyncio
import ssl
from array import array
from collections.abc import Callable, Iterable
from typing import Any

from retape.replayer.auth.credentials import Credentials
from retape.replayer.compare.keys import MessageRules
from retape.replayer.conversation import (
    AwaitClose,
    ClosedBy,
    CloseSession,
    Conversation,
    Done,
    Receive,
    Send,
    SessionFacts,
    plan,
)
from retape.replayer.net.target import hung_up, unreachable
from retape.replayer.results import ErrorKind, Outcome
from retape.replayer.spool import MessageSpool
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import (
    ConnectionClosed,
    InvalidHandshake,
    InvalidMessage,
    InvalidStatus,
    WebSocketException,
)

from retape.cassette.model import Header, Interaction, Message

# Headers the websocket client writes itself for this handshake, plus hop-by-hop ones.
HANDSHAKE_MANAGED = frozenset(
    {"host", "upgrade", "connection", "content-length", "transfer-encoding", "te", "trailer"}
    | {"keep-alive", "proxy-connection"}
    | {"sec-websocket-key", "sec-websocket-version", "sec-websocket-extensions"}
    | {"sec-websocket-protocol", "sec-websocket-accept"}
)
# Called before each client message is sent: (its recorded index, the message, server
# messages so far) -> the message to send (replayer.session_state puts live values in).
Rewrite = Callable[[int, Message, Iterable[Message]], Message]
# One received message over this closes the session (1009, "message too big"): replay
# memory per message is bounded whatever a target sends. docs/security.md.
MAX_MESSAGE_BYTES = 64 * 1024 * 1024


def subprotocols_of(headers: list[tuple[str, str]]) -> list[str]:
    """Subprotocols the recorded client offered, in order (the header may repeat)."""
    offered: list[str] = []
    for name, value in headers:
        if name.lower() == "sec-websocket-protocol":
            offered += [p.strip() for p in value.split(",") if p.strip()]
    return offered


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


def _headers(headers: Any) -> list[Header]:
    return [(str(name), str(value)) for name, value in headers.raw_items()]


async def send_message(ws: ClientConnection, message: Message, *, timeout: float) -> None:
    """Put one client message on the wire, as a text or binary frame like the recording."""
    await asyncio.wait_for(ws.send(message.payload()), timeout)


def _how_closed(ws: ClientConnection) -> tuple[int | None, str, ClosedBy]:
    """The close code, its reason, and who started the close (``none``: a drop)."""
    protocol = ws.protocol
    received, sent = protocol.close_rcvd, protocol.close_sent
    if received is None:
        return (sent.code, sent.reason, "client") if sent is not None else (1006, "", "none")
    by: ClosedBy = "server" if sent is None or protocol.close_rcvd_then_sent else "client"
    return received.code, received.reason, by


async def converse(
    ws: ClientConnection,
    conversation: Conversation,
    *,
    timeout: float,
    rewrite: Rewrite | None = None,
) -> array[float]:
    """Carry out the conversation's actions until it is done; when each client message
    was sent, in seconds since the handshake (for timing reports)."""
    loop = asyncio.get_running_loop()
    opened = loop.time()
    sent_at: array[float] = array("d")
    while not isinstance(action := conversation.next_action(), Done):
        try:
            if isinstance(action, Send):
                message = action.message
                if rewrite is not None:  # live values from this session's server
                    message = rewrite(action.index, message, conversation.kept)
                try:
                    await send_message(ws, message, timeout=timeout)
                except TimeoutError:
                    conversation.send_timed_out()
                else:
                    conversation.sent(action.index, message)
                    sent_at.append(loop.time() - opened)
            elif isinstance(action, Receive | AwaitClose):
                try:
                    data = await asyncio.wait_for(ws.recv(), action.timeout)
                except TimeoutError:
                    conversation.quiet()
                else:
                    at = loop.time() - opened
                    conversation.received(Message.from_frame("server", at, data))
            elif isinstance(action, CloseSession):
                await ws.close(action.code, action.reason)
                code, reason, by = _how_closed(ws)
                conversation.closed(code, reason, by=by)
        except ConnectionClosed:
            code, reason, by = _how_closed(ws)
            conversation.closed(code, reason, by=by)
    return sent_at


def _details(facts: SessionFacts) -> dict[str, Any]:
    """The conversation's counts under their long-standing ``details`` names."""
    details: dict[str, Any] = {
        "client_messages_sent": facts.client_messages_sent,
        "server_messages_expected": facts.server_messages_expected,
        "server_messages_received": facts.server_messages,
        "close_code": facts.close_code,
    }
    if facts.probe:  # a probe plays one turn: the recorded count is not its measure
        del details["server_messages_expected"]
    extra = facts.server_messages - facts.server_messages_expected
    notes = list(facts.notes)
    if extra > 0 and not facts.probe:
        details["server_messages_extra"] = extra
        notes.append(f"{extra} server message{'s' if extra != 1 else ''} beyond the recording")
    if notes:
        details["note"] = "; ".join(notes)
    return details


async def replay_websocket(
    interaction: Interaction,
    *,
    url: str,
    credentials: Credentials,
    timeout: float,
    probe: bool = False,
    tls: ssl.SSLContext | None = None,
    rules: MessageRules | None = None,
    rewrite: Rewrite | None = None,
) -> Outcome:
    """Open the handshake, replay the conversation if both sides accepted, then close.

    ``probe=True`` (auth probes) plays only the first turn, to see whether a handshake
    that should have been refused is then served or closed by the server.
    ``tls`` verifies a wss target (:attr:`replayer.target.Target.tls`); ``rules`` say
    how messages are keyed and correlated; ``rewrite`` fills live values into each client
    message before it is sent. Raises :class:`~replayer.target.Unreachable` when the
    connection could not be made, or was closed or reset before the handshake
    response: nothing answered.
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
        if not interaction.accepted:  # recorded as refused: the status says it all
            return Outcome(status=101, headers=handshake, messages=[], handshake_seconds=took)
        session = plan(interaction, rules=rules or MessageRules(), timeout=timeout)
        received = MessageSpool()  # a long session's messages wait on disk, not in memory
        conversation = Conversation(session, timeout, probe=probe, kept=received)
        sent_at = await converse(ws, conversation, timeout=timeout, rewrite=rewrite)
        facts = conversation.facts()
        return Outcome(
            status=101,
            details=_details(facts),
            headers=handshake,
            messages=received,
            session=facts,
            turns=conversation.kept_turns,
            handshake_seconds=took,
            sent_at=sent_at,
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
