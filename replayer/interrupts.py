"""Ctrl-C and SIGTERM during a replay: stop, keep the rows that ran, say so, exit 130.

``asyncio.run`` already turns the first Ctrl-C into a cancellation of the replay: the
interaction in flight is abandoned, its connections closed, and ``KeyboardInterrupt``
is raised once the loop has wound down, so the caller can still print what ran. CI
runners cancel a job with SIGTERM instead (some send SIGINT first), so
:func:`sigterm_as_ctrl_c` routes SIGTERM down exactly the same path: one behaviour,
one exit code, whichever signal arrives. A second signal stops at once, as a second
Ctrl-C does.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from types import FrameType


class Signals:
    """Which signal stopped the replay, for the closing line."""

    def __init__(self) -> None:
        self.terminated = False

    @property
    def name(self) -> str:
        return "SIGTERM" if self.terminated else "SIGINT"

    def on_sigterm(self, signum: int, frame: FrameType | None) -> None:
        self.terminated = True
        # asyncio's own SIGINT handler while a loop runs, Python's default one otherwise.
        handler = signal.getsignal(signal.SIGINT)
        if callable(handler):
            handler(signal.SIGINT, frame)
        else:  # SIGINT ignored or not set from Python: SIGTERM must still stop the run
            raise KeyboardInterrupt


@contextlib.contextmanager
def sigterm_as_ctrl_c(signals: Signals) -> Iterator[Signals]:
    """Within the block, SIGTERM raises ``KeyboardInterrupt`` the way Ctrl-C does."""
    if threading.current_thread() is not threading.main_thread():
        yield signals  # signal handlers can only be set from the main thread
        return
    previous = signal.signal(signal.SIGTERM, signals.on_sigterm)
    try:
        yield signals
    finally:
        signal.signal(signal.SIGTERM, previous)
