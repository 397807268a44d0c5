"""``kill -9`` in the middle of busy traffic loses no interaction that had completed."""

from __future__ import annotations

import random
import signal
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from websockets.exceptions import WebSocketException
from websockets.sync.client import connect

from retape.cassette import load_cassette
from tests.recorder_support import TIMEOUT, serve_upstream, start_recorder

HTTP_CLIENTS, WS_CLIENTS = 4, 2
TRAFFIC = 1.5  # seconds of traffic before the kill
# How long before the kill an interaction must have completed to be required on disk.
#
# An HTTP response of known size under the cap has no race at all: mitmproxy holds the
# body, runs the ``response`` hook (which writes the interaction) and only then forwards
# it, so a client holding the complete response implies a block on disk. The same holds
# for chunked and SSE streams, whose final chunk is sent after the hook. A websocket
# session is different: mitmproxy relays the close frames and closes both connections
# *before* ``websocket_end`` runs, so a client can see its close handshake complete
# microseconds to a few milliseconds before the block is written. 50 ms covers that
# window with a wide margin on a loaded machine; anything completed earlier must be there.
MARGIN = 0.05


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    with serve_upstream("http") as url:
        yield url


class Traffic:
    """Client threads firing continuously; each notes when an interaction completed."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.stop = threading.Event()
        self.completed: list[tuple[float, str]] = []
        self.attempted: set[str] = set()
        self._lock = threading.Lock()

    def _done(self, ident: str) -> None:
        with self._lock:
            self.completed.append((time.monotonic(), ident))

    def _try(self, ident: str) -> None:
        with self._lock:
            self.attempted.add(ident)

    def http(self, number: int) -> None:
        rng = random.Random(number)
        with httpx.Client(base_url=self.base, timeout=TIMEOUT) as client:
            for count in range(10**6):
                if self.stop.is_set():
                    return
                ident = f"http-{number}-{count}"
                self._try(ident)
                payload = {"id": ident, "pad": "x" * rng.randint(0, 3000)}
                try:
                    reply = client.post("/echo", params={"id": ident}, json=payload)
                except httpx.HTTPError:
                    return  # the recorder is gone
                if reply.status_code == 200 and reply.json()["id"] == ident:
                    self._done(ident)

    def websocket(self, number: int) -> None:
        url = self.base.replace("http://", "ws://", 1)
        for count in range(10**6):
            if self.stop.is_set():
                return
            ident = f"ws-{number}-{count}"
            self._try(ident)
            try:
                with connect(
                    f"{url}/ws?id={ident}", open_timeout=TIMEOUT, close_timeout=TIMEOUT
                ) as ws:
                    for turn in range(3):
                        ws.send(f"{ident} turn {turn}")
                        assert ws.recv(timeout=TIMEOUT) == f"{ident} turn {turn}"
                # Leaving the block completed the close handshake: the session is over.
            except (OSError, TimeoutError, WebSocketException):
                return
            self._done(ident)

    def run(self, kill: Callable[[], None]) -> float:
        """Fire traffic for TRAFFIC seconds, call ``kill``, and return when it was called."""
        threads = [threading.Thread(target=self.http, args=(n,)) for n in range(HTTP_CLIENTS)]
        threads += [threading.Thread(target=self.websocket, args=(n,)) for n in range(WS_CLIENTS)]
        for thread in threads:
            thread.start()
        try:
            time.sleep(TRAFFIC)
            killed_at = time.monotonic()
            kill()
        finally:
            self.stop.set()
            for thread in threads:
                thread.join(TIMEOUT * 3)
        assert not any(t.is_alive() for t in threads), "a client thread did not finish"
        return killed_at


def recorded_ids(out: Path) -> list[str]:
    return [
        parse_qs(urlsplit(i.request.path).query)["id"][0] for i in load_cassette(out).interactions
    ]


def test_sigkill_during_busy_traffic_keeps_every_completed_interaction(server, tmp_path):
    out, home = tmp_path / "busy.yaml", tmp_path / "home"
    traffic = Traffic("")
    with start_recorder(server, out=out, home=home) as rec:
        traffic.base = rec.url
        killed_at = traffic.run(lambda: rec.proc.send_signal(signal.SIGKILL))
        assert rec.proc.wait(TIMEOUT) == -signal.SIGKILL

    recorded = recorded_ids(out)  # loads and fully validates the cassette
    must_have = {ident for at, ident in traffic.completed if at < killed_at - MARGIN}
    assert len([i for i in must_have if i.startswith("http")]) >= 20, "too little traffic"
    assert len([i for i in must_have if i.startswith("ws")]) >= 4, "too few sessions"
    assert must_have - set(recorded) == set()
    assert set(recorded) <= traffic.attempted and len(recorded) == len(set(recorded))

    # The killed recorder's cassette can be appended to by the next one.
    with start_recorder(server, out=out, home=home) as rec:
        httpx.post(rec.url + "/echo", params={"id": "after"}, json={}, timeout=TIMEOUT)
        assert rec.stop()[0] == 0
    assert recorded_ids(out) == [*recorded, "after"]
