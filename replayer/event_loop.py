"""The event loop a replay runs on: uvloop where it is installed, asyncio's otherwise.

Measured on the benchmark's 2,000 chat completions (medians of 5, one run, quiet
2-core machine): replay throughput +7% at concurrency 1 and +20% at concurrency 8,
where the loop's own scheduling and socket calls are a larger share (docs/performance.md).
``RETAPE_LOOP=asyncio`` keeps the standard loop, to rule the loop out when a replay
behaves differently than expected.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's loop when it can be used, else None (asyncio's default)."""
    if os.environ.get("RETAPE_LOOP", "").lower() == "asyncio":
        return None
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


def run(main: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run(main)`` on :func:`loop_factory`'s loop: the same Ctrl-C handling
    (the first one cancels ``main``, ``KeyboardInterrupt`` once it has wound down)."""
    with asyncio.Runner(loop_factory=loop_factory()) as runner:
        return runner.run(main)
