"""WebSocket edge cases through ``retape record``, recorded as they happened.

What mitmproxy (and so the cassette) does at the edges, pinned here:

- ping and pong are control frames: relayed, never recorded as messages;
- the first close frame, from either side, ends the session: mitmproxy answers it,
  forwards it and closes both connections, so a message sent after it is neither
  delivered nor recorded (the other side never saw it either);
- a connection that drops without a close frame is ``close: {code: 1006, by: none}``.
"""

from __future__ import annotations

import base64
import contextlib
import os
import socket
import struct
from collections.abc import Iterator
from pathlib import Path

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from retape.cassette import load_cassette
from retape.cassette.model import Interaction
from tests.recorder_support import TIMEOUT, serve_upstream

TEXT, BINARY, CLOSE = 0x1, 0x2, 0x8


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    with serve_upstream("ws") as url:
        yield url


def ws(base: str, path: str) -> str:
    return base.replace("http://", "ws://", 1) + path


def only(out: Path) -> Interaction:
    (interaction,) = load_cassette(out).interactions
    return interaction


def closed(interaction: Interaction) -> tuple[int | None, str, str]:
    assert interaction.close is not None
    return interaction.close.code, interaction.close.reason, interaction.close.by


def test_ping_pong_is_relayed_not_recorded_and_client_close_code_kept(record):
    with record() as rec:
        with connect(ws(rec.url, "/echo"), open_timeout=TIMEOUT, ping_interval=None) as client:
            assert client.ping(b"are-you-there").wait(TIMEOUT), "no pong through the recorder"
            client.send("after the ping")
            assert client.recv(timeout=TIMEOUT) == "after the ping"
            client.close(4000, "bye")
        assert rec.stop()[0] == 0

    session = only(rec.out)
    assert [(m.sender, m.value) for m in session.messages] == [
        ("client", "after the ping"),
        ("server", "after the ping"),
    ]
    assert closed(session) == (4000, "bye", "client")


def test_binary_frames_are_recorded_as_base64_both_ways(record):
    frames = [os.urandom(64), b"\x00\xff" * 10, "a text frame between"]
    with record() as rec:
        with connect(ws(rec.url, "/echo"), open_timeout=TIMEOUT) as client:
            for frame in frames:
                client.send(frame)
                assert client.recv(timeout=TIMEOUT) == frame
        assert rec.stop()[0] == 0

    messages = only(rec.out).messages
    assert [m.kind for m in messages] == ["base64"] * 4 + ["text"] * 2
    assert [m.payload() for m in messages] == [f for f in frames for _ in ("client", "server")]
    assert messages[0].value == base64.b64encode(frames[0]).decode()


def test_server_close_code_and_reason_reach_client_and_cassette(record):
    with record() as rec:
        with connect(ws(rec.url, "/policy"), open_timeout=TIMEOUT) as client:
            client.send("hello")
            with pytest.raises(ConnectionClosed) as ended:
                client.recv(timeout=TIMEOUT)
        assert ended.value.rcvd is not None
        assert (ended.value.rcvd.code, ended.value.rcvd.reason) == (4001, "policy")
        assert rec.stop()[0] == 0

    assert closed(only(rec.out)) == (4001, "policy", "server")


def test_drop_without_close_frame_is_recorded_as_1006_by_none(record):
    with record() as rec:
        with connect(ws(rec.url, "/drop"), open_timeout=TIMEOUT) as client:
            client.send("goodbye?")
            with pytest.raises(ConnectionClosed):
                client.recv(timeout=TIMEOUT)
        assert rec.stop()[0] == 0

    session = only(rec.out)
    assert [(m.sender, m.value) for m in session.messages] == [("client", "goodbye?")]
    assert closed(session) == (1006, "", "none")


# A client that keeps talking after the server's close frame: no library does that, so
# the frames are written by hand (RFC 6455 section 5.2; client frames are masked).


def send_frame(sock: socket.socket, opcode: int, payload: bytes) -> None:
    mask = os.urandom(4)
    assert len(payload) < 126
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    sock.sendall(bytes([0x80 | opcode, 0x80 | len(payload)]) + mask + masked)


def read_exactly(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise EOFError
        data += chunk
    return data


def read_frame(sock: socket.socket) -> tuple[int, bytes]:
    first, length = read_exactly(sock, 2)
    assert length < 126  # server frames here are short and unmasked
    return first & 0x0F, read_exactly(sock, length)


def raw_session(base: str, path: str) -> socket.socket:
    host, port = base.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=TIMEOUT)
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(
        f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
        "Sec-WebSocket-Version: 13\r\n\r\n".encode()
    )
    head = b""
    while not head.endswith(b"\r\n\r\n"):
        head += read_exactly(sock, 1)
    assert head.startswith(b"HTTP/1.1 101 "), head
    return sock


def test_messages_sent_after_the_servers_close_are_not_recorded(record):
    with record() as rec:
        with contextlib.closing(raw_session(rec.url, "/policy")) as sock:
            send_frame(sock, TEXT, b"hello")
            opcode, payload = read_frame(sock)
            assert (opcode, payload) == (CLOSE, struct.pack("!H", 4001) + b"policy")
            with contextlib.suppress(OSError):  # the recorder may already have hung up
                send_frame(sock, TEXT, b"too late")
                send_frame(sock, CLOSE, struct.pack("!H", 1000))
            with contextlib.suppress(OSError, EOFError):
                while read_frame(sock):  # drain to EOF (bounded by the socket timeout)
                    pass
        assert rec.stop()[0] == 0

    session = only(rec.out)
    assert [(m.sender, m.value) for m in session.messages] == [("client", "hello")]
    assert closed(session) == (4001, "policy", "server")
