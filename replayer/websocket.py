"""Replaying one WebSocket interaction: the handshake, then the recorded conversation.

The handshake status is the verdict: 101 when accepted, else the HTTP status of the
rejection (``InvalidStatus``), which is how a 401 or the vLLM-style 500 shows up. When
both the recording and the replay were accepted, the recorded messages are walked in
order: client messages are sent, and for each server message one message is awaited.
A server that goes quiet or closes early ends the walk with a note in the details
rather than an error, since live servers legitimately differ in what they say.
"""

from __future__ import annotations

import asyncio
from typing import Any

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

from cassette.model import Close, Interaction
from replayer.credentials import Credentials
from replayer.results import Outcome
from replayer.target import Unreachable, describe_os_error

# Headers the websocket client writes itself for this handshake, plus hop-by-hop ones.
HANDSHAKE_MANAGED = frozenset(
    {"host", "upgrade", "connection", "content-length", "transfer-encoding", "te", "trailer"}
    | {"keep-alive", "proxy-connection"}
    | {"sec-websocket-key", "sec-websocket-version", "sec-websocket-extensions"}
    | {"sec-websocket-protocol", "sec-websocket-accept"}
)
NORMAL_CLOSURE = 1000


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


async def _open(
    url: str, *, headers: list[tuple[str, str]], offered: list[str], timeout: float
) -> ClientConnection:
    return await connect(
        url,
        additional_headers=headers,
        subprotocols=offered or None,  # type: ignore[arg-type]
        open_timeout=timeout,
        close_timeout=timeout,
        ping_interval=None,  # send only what was recorded
        max_size=None,
        user_agent_header=None,  # a recorded User-Agent, if any, is in ``headers``
        proxy=None,  # never route replay traffic through an environment proxy
    )


async def _converse(ws: ClientConnection, interaction: Interaction, *, timeout: float) -> dict:
    """Walk the recorded messages; return counts and, if the walk ended early, why."""
    messages = interaction.messages
    expected = sum(m.sender == "server" for m in messages)
    details: dict[str, Any] = {
        "client_messages_sent": 0,
        "server_messages_expected": expected,
        "server_messages_received": 0,
    }
    for message in messages:
        try:
            if message.sender == "client":
                await asyncio.wait_for(ws.send(message.payload()), timeout)
                details["client_messages_sent"] += 1
            else:
                await asyncio.wait_for(ws.recv(), timeout)
                details["server_messages_received"] += 1
        except TimeoutError:
            waiting = "sending" if message.sender == "client" else "waiting for server message"
            details["note"] = f"timeout after {timeout:g}s {waiting}"
            return details
        except ConnectionClosed as exc:
            details["note"] = f"connection closed early: {exc}"
            return details
    return details


async def _await_server_close(ws: ClientConnection, *, timeout: float) -> str | None:
    """Read until the server closes, as it did in the recording; a note if it did not."""
    try:
        async with asyncio.timeout(timeout):
            while True:
                await ws.recv()
    except ConnectionClosed:
        return None
    except TimeoutError:
        return f"server did not close within {timeout:g}s as recorded"


async def replay_websocket(
    interaction: Interaction,
    *,
    url: str,
    credentials: Credentials,
    timeout: float,
) -> Outcome:
    """Open the handshake, replay the conversation if both sides accepted, then close.

    Raises :class:`Unreachable` when the TCP connection itself could not be made.
    """
    request = interaction.request
    headers = credentials.headers_for(request, drop=HANDSHAKE_MANAGED)
    offered = subprotocols_of(request.headers)
    try:
        ws = await _open(url, headers=headers, offered=offered, timeout=timeout)
    except InvalidStatus as exc:
        return Outcome(status=exc.response.status_code)
    except TimeoutError:
        return Outcome(error=f"timeout after {timeout:g}s")
    except InvalidMessage as exc:
        if isinstance(exc.__cause__, EOFError | ConnectionError):
            return Outcome(error="connection closed by server")
        return Outcome(error=f"invalid handshake: {exc}")
    except InvalidHandshake as exc:
        return Outcome(error=f"invalid handshake: {exc}")
    except OSError as exc:
        raise Unreachable(describe_os_error(exc)) from None
    except (WebSocketException, ValueError) as exc:  # e.g. a recorded header it refuses
        return Outcome(error=f"cannot open websocket: {exc}")
    try:
        if not interaction.accepted:  # recorded as rejected: the status says it all
            return Outcome(status=101)
        details = await _converse(ws, interaction, timeout=timeout)
        close = interaction.close
        if "note" not in details and close is not None and close.by != "client":
            note = await _await_server_close(ws, timeout=timeout)
            if note:
                details["note"] = note
        code, reason = close_args(close)
        await ws.close(code, reason)
        details["close_code"] = ws.close_code
        return Outcome(status=101, details=details)
    except WebSocketException as exc:
        return Outcome(status=101, error=f"websocket error: {exc}")
    finally:
        await ws.close()  # idempotent; bounded by close_timeout
