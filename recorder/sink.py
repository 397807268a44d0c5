"""The writer process: redaction, YAML and the append, off mitmproxy's event loop.

mitmproxy runs every addon hook on one event-loop thread, so whatever the recorder
does per interaction (about 0.35 ms of redaction and YAML dumping for a chat completion)
the proxy forwards nothing else meanwhile. A thread would not help: that work is pure
Python and holds the GIL, so it would still be taken from the proxy's thread. The loop
therefore only takes a :class:`~retape.recorder.snapshot.FlowSnapshot` and pickles it
down a pipe to a child process (``python -m retape.recorder.sink``) that converts,
checks and appends it with the same :class:`~retape.cassette.writer.CassetteWriter`,
one ``O_APPEND`` write under ``flock`` per interaction, and answers one line per
interaction, in order.

Guarantees (docs/cassette-format.md, "How the file is written"):

* **Written before forwarded.** The hook returns a future that resolves when the child
  has written the block; mitmproxy awaits it before it forwards the response. A client
  that holds a complete buffered response (or the last chunk of a stream) therefore
  always finds the interaction in the cassette, as before, even if the recorder is then
  killed with SIGKILL. Only that flow waits; the loop serves every other one meanwhile.
* **Bounded.** At most ``max_pending`` interactions (and ``max_bytes`` of snapshot,
  always at least one) are handed over and not yet written; a hook that finds the
  hand-over full waits for room, which holds back only its own flow (back-pressure on
  the traffic that outruns the disk, not on the whole proxy).
* **Nothing is lost on a parent crash.** If the proxy dies, the child sees the pipe
  close, writes everything it already received and exits (it ignores SIGINT and SIGTERM,
  which a terminal or a supervisor sends to the whole group: the parent's clean
  shutdown closes the pipe and the child then drains). A frame cut short by the
  parent's death is dropped: its client never got a response.
* **fsync**: none by default (a written block survives any process crash, since the
  kernel holds it, but not a power loss); ``durable=True`` fsyncs each block before it
  is acknowledged, so then "forwarded" implies "on stable storage".
"""

from __future__ import annotations

import asyncio
import collections
import logging
import os
import pickle
import select
import signal
import struct
import subprocess
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import BinaryIO

from retape.cassette.errors import CassetteError
from retape.cassette.model import Recording
from retape.cassette.rules import Rules
from retape.common.errors import RetapeError

logger = logging.getLogger(__name__)

MAX_PENDING = 256
MAX_BYTES = 64 * 1024 * 1024
_START_TIMEOUT = 60.0  # seconds for the child to import, open and lock the cassette
_STOP_TIMEOUT = 120.0  # seconds to drain at shutdown: at most MAX_PENDING blocks
_HEADER = struct.Struct(">I")


@dataclass(frozen=True)
class SinkConfig:
    """Everything the child needs, sent down the pipe (never in argv: rules may name
    secrets' shapes, and argv is world-readable)."""

    path: str
    recording: Recording
    rules: Rules
    durable: bool
    started: float
    max_body: int


class Sink:
    """The parent's end: hand snapshots over, learn when each is on disk.

    ``on_result(problem)`` is called once per snapshot, in order, with None when it was
    written or the reason it was not.
    """

    def __init__(
        self,
        config: SinkConfig,
        on_result: Callable[[str | None], None],
        *,
        max_pending: int = MAX_PENDING,
        max_bytes: int = MAX_BYTES,
    ) -> None:
        self._on_result = on_result
        self.max_pending, self.max_bytes = max_pending, max_bytes
        self._pending: collections.deque[tuple[asyncio.Future[None] | None, int]] = (
            collections.deque()
        )
        self._pending_bytes = 0
        self._out = bytearray()  # frames not yet taken by the pipe (loop mode only)
        self._in = b""
        self._loop: asyncio.AbstractEventLoop | None = None
        self._room: asyncio.Event | None = None
        self._proc = subprocess.Popen(
            # -P: the installed retape, never a retape/ folder in the working directory
            # (a checkout, or a user's project) that -m would put first on sys.path.
            [sys.executable, "-P", "-m", "retape.recorder.sink"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            bufsize=0,
        )
        assert self._proc.stdin is not None and self._proc.stdout is not None
        self._stdin, self._stdout = self._proc.stdin.fileno(), self._proc.stdout.fileno()
        try:
            _write_all(self._stdin, _frame(config))
            status, _, message = self._read_line(_START_TIMEOUT).partition(" ")
        except (OSError, TimeoutError) as exc:
            self._kill()
            problem = f"cannot start the cassette writer: {exc}"
            raise CassetteError(problem, path=config.path) from None
        if status != "ready":
            self._kill()
            if not message:
                raise CassetteError("the cassette writer did not start", path=config.path)
            raise RetapeError(message)  # the writer's own CassetteError, already formatted

    @property
    def pending(self) -> int:
        """Snapshots handed over and not yet acknowledged."""
        return len(self._pending)

    def submit(self, snapshot: object) -> asyncio.Future[None] | None:
        """Hand one snapshot over; the future (None outside an event loop) resolves once
        it is written or refused. On the loop, a full hand-over makes the future wait for
        room first; outside one (tests, shutdown), this call blocks for room instead."""
        if self._proc.poll() is not None:
            self._on_result("the cassette writer has stopped (see the messages above)")
            return None
        frame = _frame(snapshot)
        loop = _running_loop()
        if loop is None:
            self._submit_blocking(frame)
            return None
        self._attach(loop)
        future: asyncio.Future[None] = loop.create_future()
        if self._full(len(frame)):
            loop.create_task(self._submit_when_room(frame, future))
        else:
            self._enqueue(frame, future)
        return future

    def close(self) -> None:
        """Hand over what is buffered, let the child write everything, wait for it."""
        if self._proc.stdin is None or self._proc.stdin.closed:
            return
        self._detach()
        try:
            os.set_blocking(self._stdin, True)
            _write_all(self._stdin, bytes(self._out))
        except OSError as exc:  # the child is gone; its answers say what was written
            logger.warning("the cassette writer stopped early: %s", exc)
        self._out.clear()
        self._proc.stdin.close()
        deadline = time.monotonic() + _STOP_TIMEOUT
        try:
            while self._pending:
                self._answer(self._read_line(max(0.0, deadline - time.monotonic())))
        except (OSError, TimeoutError) as exc:
            logger.warning("the cassette writer did not finish: %s", exc)
        for _ in range(len(self._pending)):
            self._answer("lost the cassette writer stopped before writing this interaction")
        self._kill()

    # -- on the event loop -------------------------------------------------------------

    def _attach(self, loop: asyncio.AbstractEventLoop) -> None:
        if self._loop is loop:
            return
        self._detach()
        self._loop, self._room = loop, asyncio.Event()
        os.set_blocking(self._stdin, False)
        loop.add_reader(self._stdout, self._readable)

    def _detach(self) -> None:
        if self._loop is not None and not self._loop.is_closed():
            self._loop.remove_reader(self._stdout)
            self._loop.remove_writer(self._stdin)
        self._loop = None

    def _full(self, size: int) -> bool:
        if not self._pending:
            return False  # always room for one, however large
        return len(self._pending) >= self.max_pending or self._pending_bytes + size > self.max_bytes

    async def _submit_when_room(self, frame: bytes, future: asyncio.Future[None]) -> None:
        assert self._room is not None
        while self._full(len(frame)) and self._loop is not None:
            self._room.clear()
            await self._room.wait()
        if self._loop is None:  # closed meanwhile: write it the blocking way
            self._submit_blocking(frame)
            future.set_result(None)
        else:
            self._enqueue(frame, future)

    def _enqueue(self, frame: bytes, future: asyncio.Future[None] | None) -> None:
        self._pending.append((future, len(frame)))
        self._pending_bytes += len(frame)
        flushing = bool(self._out)
        self._out += frame
        if not flushing:
            self._flush()

    def _flush(self) -> None:
        try:
            sent = os.write(self._stdin, self._out)
        except BlockingIOError:
            sent = 0
        except OSError as exc:  # the child died: its unanswered snapshots are lost
            logger.warning("the cassette writer stopped: %s", exc)
            self._out.clear()
            self._detach()
            return
        del self._out[:sent]
        assert self._loop is not None
        if self._out:
            self._loop.add_writer(self._stdin, self._flush)
        else:
            self._loop.remove_writer(self._stdin)

    def _readable(self) -> None:
        try:
            data = os.read(self._stdout, 65536)
        except BlockingIOError:
            return
        if not data:  # the child exited: nothing more will be answered
            self._detach()
            return
        lines = (self._in + data).split(b"\n")
        self._in = lines.pop()
        for line in lines:
            self._answer(line.decode("utf-8", "replace"))

    def _answer(self, line: str) -> None:
        future, size = self._pending.popleft()
        self._pending_bytes -= size
        status, _, message = line.partition(" ")
        self._on_result(None if status == "ok" else message)
        if future is not None and not future.done():
            future.set_result(None)
        if self._room is not None:
            self._room.set()

    # -- without an event loop -----------------------------------------------------------

    def _submit_blocking(self, frame: bytes) -> None:
        self._detach()
        os.set_blocking(self._stdin, True)
        while self._full(len(frame)):
            self._answer(self._read_line(_STOP_TIMEOUT))
        self._pending.append((None, len(frame)))
        self._pending_bytes += len(frame)
        try:
            _write_all(self._stdin, bytes(self._out) + frame)
        except OSError as exc:
            logger.warning("the cassette writer stopped: %s", exc)
        self._out.clear()

    def _read_line(self, timeout: float) -> str:
        """One answer, blocking; raises TimeoutError, or EOFError-like OSError at exit."""
        deadline = time.monotonic() + timeout
        while b"\n" not in self._in:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self._stdout], [], [], left)[0]:
                raise TimeoutError(f"no answer from the cassette writer in {timeout:.0f} s")
            data = os.read(self._stdout, 65536)
            if not data:
                raise OSError("the cassette writer exited")
            self._in += data
        line, _, self._in = self._in.partition(b"\n")
        return line.decode("utf-8", "replace")

    def _kill(self) -> None:
        if self._proc.stdin is not None and not self._proc.stdin.closed:
            self._proc.stdin.close()
        try:
            self._proc.wait(_STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        if self._proc.stdout is not None:
            self._proc.stdout.close()


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def _frame(value: object) -> bytes:
    data = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    return _HEADER.pack(len(data)) + data


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


# -- the child -------------------------------------------------------------------------


def _read_frame(stream: BinaryIO) -> object | None:
    """The next value, or None at the end (or at a frame cut short by the parent's death)."""
    header = stream.read(_HEADER.size)
    if len(header) < _HEADER.size:
        return None
    (size,) = _HEADER.unpack(header)
    data = stream.read(size)
    if len(data) < size:
        return None
    return pickle.loads(data)  # our own parent's pipe, never a file


def _say(out: BinaryIO, status: str, message: str = "") -> None:
    line = f"{status} {message}".strip().replace("\n", " ")
    out.write(line.encode("utf-8") + b"\n")
    out.flush()


def main() -> int:
    """Read a config, then snapshots until the pipe closes; one answer line each."""
    import yaml
    from retape.recorder.convert import interaction_from
    from retape.recorder.guard import interaction_problem

    from retape.cassette.correlate import Correlator
    from retape.cassette.redact import Redactor
    from retape.cassette.writer import CassetteWriter

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, signal.SIG_IGN)  # the parent's shutdown closes the pipe
    stdin, out = sys.stdin.buffer, sys.stdout.buffer
    sys.stdout = sys.stderr  # nothing but answers may reach the pipe
    config = _read_frame(stdin)
    if not isinstance(config, SinkConfig):
        return 2
    try:
        writer = CassetteWriter(config.path, config.recording, durable=config.durable)
    except CassetteError as exc:
        _say(out, "error", str(exc))
        return 0
    _say(out, "ready")
    # Appending to a cassette: number new secrets after the ones already in it.
    redactor = Redactor(config.rules, first_number=writer.next_placeholder)
    learned_at_first_write: int | None = None
    correlator = Correlator()  # the values this recording's server minted, and their uses
    try:
        while (snapshot := _read_frame(stdin)) is not None:
            ident = writer.next_id
            try:
                interaction = interaction_from(
                    snapshot,  # type: ignore[arg-type]
                    redactor,
                    config.started,
                    config.max_body,
                    correlator=correlator,
                    ident=ident,
                )
                # A block that would not validate must not reach the file: it would make
                # the whole cassette unreadable, including everything recorded before it.
                problem = interaction_problem(interaction.to_data())
                if problem:
                    raise ValueError(problem)
                writer.append(interaction)
            except (CassetteError, OSError, ValueError, yaml.YAMLError) as exc:
                correlator.forget(ident)  # nothing later may point at an id never written
                _say(out, "skip", str(exc))
            except Exception as exc:  # a bug: costs this interaction, says so, goes on
                correlator.forget(ident)
                traceback.print_exc()
                _say(out, "skip", f"internal error: {type(exc).__name__}")
            else:
                _say(out, "ok")
                if learned_at_first_write is None:
                    learned_at_first_write = redactor.learned
    finally:
        writer.close()
    if learned_at_first_write is not None and redactor.learned > learned_at_first_write:
        _scrub_written(writer.path, redactor)
    return 0


def _scrub_written(path: object, redactor: object) -> None:
    """Values learned after the first interaction was written may sit in lines already
    on disk (a token minted in a response, pasted earlier in a websocket message). If
    any is there, the file is rewritten atomically with everything learned. A recorder
    killed before this point leaves those lines as they were (docs/security.md)."""
    from pathlib import Path

    from retape.cassette.redact import Redactor
    from retape.cassette.writer import rewrite_interactions

    assert isinstance(path, Path) and isinstance(redactor, Redactor)
    try:
        text = path.read_text(encoding="utf-8")
        if any(form in text for form in redactor.known_forms()):
            rewrite_interactions(path, redactor.interaction)
    except (CassetteError, OSError, ValueError) as exc:
        print(
            f"retape: warning: could not rescrub {path}: {redactor.text(str(exc))}", file=sys.stderr
        )


if __name__ == "__main__":
    # Run the imported module's main, so the classes the parent pickled are this ones.
    from retape.recorder.sink import main as imported_main

    sys.exit(imported_main())
