"""Running interactions side by side while handing their results on in recorded order.

Cassettes are independent sessions, so each runs in a lane of its own, side by side
with the others (at most ``concurrency`` cassettes open at once). Inside a lane,
interactions run one after another in recorded order, since a recording may depend on
it (log in, then call); ``ordered=False`` lets a cassette's interactions overlap. The
unit of work is an interaction together with its auth probes, which run after it;
each unit holds one of ``concurrency`` slots while it runs, so at most that many
requests (HTTP or websocket sessions) are in flight overall.

Results are handed on in recorded order (cassette by cassette, interaction by
interaction) whatever order they complete in: a unit's rows go out as soon as every
unit before it has gone out. Rows waiting behind a slow one are held in memory, so a
unit may start only while fewer than ``window`` units are started but not handed on
(the oldest one may always start, so the window never deadlocks). Memory thus stays
bounded by the window, not by the size of the cassettes.

``rate`` caps how many requests start per second, overall; ``speed`` follows the
recording's timing, starting each interaction at its recorded ``at`` (counted from the
cassette's first interaction) divided by ``speed``. Both are for replaying against a
shared server.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from retape.cassette.model import Interaction
from retape.common.errors import RetapeError

Source = TypeVar("Source")
Row = TypeVar("Row")

# --speed never waits longer than this for one interaction, whatever the cassette says.
MAX_SPEED_WAIT = 300.0

DEFAULT_CONCURRENCY = 8
MIN_WINDOW = 1024  # units started but not handed on; a row is well under a kilobyte


@dataclass(frozen=True)
class Pacing:
    """How many interactions run at once, in which order, and how fast they start."""

    concurrency: int = DEFAULT_CONCURRENCY
    ordered: bool = True
    rate: float | None = None  # requests started per second, overall
    speed: float | None = None  # recorded timing, this many times faster

    @property
    def window(self) -> int:
        return max(MIN_WINDOW, 4 * self.concurrency)


class RateLimit:
    """Spaces request starts at least ``1 / rate`` seconds apart, first come first served."""

    def __init__(self, rate: float | None) -> None:
        self.interval = 1 / rate if rate else 0.0
        self._next = 0.0
        self._lock = asyncio.Lock()

    async def wait(self) -> None:
        if not self.interval:
            return
        async with self._lock:
            loop = asyncio.get_running_loop()
            now = loop.time()
            if self._next > now:
                await asyncio.sleep(self._next - now)
                now = loop.time()
            self._next = max(now, self._next) + self.interval


class InOrder(Generic[Row]):
    """Hands rows to ``emit`` in recorded order, from units that complete in any order.

    A unit is ``(lane, seq)``: the cassette's index and the interaction's position in it.
    """

    def __init__(self, emit: Callable[[Row], None], *, window: int) -> None:
        self._emit = emit
        self._window = window
        self._head = 0  # the lane whose rows are being handed on
        self._next = 0  # the head lane's next unit to hand on
        self._done: dict[tuple[int, int], list[Row]] = {}
        self._ends: dict[int, int] = {}  # lane -> its number of units, once all were read
        self._open = 0  # units admitted and not yet handed on
        self._changed = asyncio.Condition()

    def _oldest(self, lane: int, seq: int) -> bool:
        return (lane, seq) == (self._head, self._next)

    async def admit(self, lane: int, seq: int) -> None:
        """Wait until the unit may start without overflowing the window."""
        async with self._changed:
            await self._changed.wait_for(
                lambda: self._open < self._window or self._oldest(lane, seq)
            )
            self._open += 1

    async def done(self, lane: int, seq: int, rows: list[Row]) -> None:
        async with self._changed:
            self._done[(lane, seq)] = rows
            self._flush()
            self._changed.notify_all()

    async def end(self, lane: int, units: int) -> None:
        """The lane has read all its units."""
        async with self._changed:
            self._ends[lane] = units
            self._flush()
            self._changed.notify_all()

    def _flush(self) -> None:
        while True:
            rows = self._done.pop((self._head, self._next), None)
            if rows is not None:
                self._next += 1
                self._open -= 1
                for row in rows:
                    self._emit(row)
            elif self._ends.get(self._head) == self._next:
                del self._ends[self._head]
                self._head, self._next = self._head + 1, 0
            else:
                return


@dataclass
class _Run(Generic[Source, Row]):
    read: Callable[[Source], Iterable[Interaction]]
    unit: Callable[[Source, Interaction], Awaitable[list[Row]]]
    pacing: Pacing
    order: InOrder[Row]
    slots: asyncio.Semaphore
    group: asyncio.TaskGroup
    deadline_at: float | None = None
    keeps_order: Callable[[Source], bool] = lambda source: False

    async def lane(self, index: int, source: Source) -> None:
        loop = asyncio.get_running_loop()
        started = loop.time()
        first_at: float | None = None
        seq = 0
        for interaction in self.read(source):
            if self.pacing.speed:
                first_at = interaction.at if first_at is None else first_at
                due = started + (interaction.at - first_at) / self.pacing.speed
                # A cassette's timings are bounded (MAX_SECONDS), and one wait is too.
                due = min(due, loop.time() + MAX_SPEED_WAIT)
                if self.deadline_at is not None:
                    due = min(due, self.deadline_at)  # past it nothing is sent: no waiting
                if due > loop.time():
                    await asyncio.sleep(due - loop.time())
            await self.order.admit(index, seq)
            await self.slots.acquire()  # before reading on: at most this many held
            if self.pacing.ordered or self.keeps_order(source):
                await self.run(index, seq, source, interaction)
            else:
                self.group.create_task(self.run(index, seq, source, interaction))
            seq += 1
        await self.order.end(index, seq)

    async def run(self, index: int, seq: int, source: Source, interaction: Interaction) -> None:
        """Run one unit in the slot acquired for it."""
        try:
            rows = await self.unit(source, interaction)
        finally:
            self.slots.release()
        await self.order.done(index, seq, rows)


async def run_units(
    sources: Sequence[Source],
    *,
    read: Callable[[Source], Iterable[Interaction]],
    unit: Callable[[Source, Interaction], Awaitable[list[Row]]],
    emit: Callable[[Row], None],
    pacing: Pacing,
    deadline_at: float | None = None,
    keeps_order: Callable[[Source], bool] = lambda source: False,
) -> None:
    """Run ``unit`` for every interaction ``read`` yields from each source; ``emit`` each
    row in recorded order. The first exception (a :class:`RetapeError` first) stops
    everything and is raised as itself. ``deadline_at`` (loop time) cuts ``speed``
    waits short: the units still run, to report themselves as not run. A source for
    which ``keeps_order`` is true runs one interaction at a time even when the pacing
    is unordered (a stateful session: later requests need what earlier ones return)."""
    order: InOrder[Row] = InOrder(emit, window=pacing.window)
    lanes = asyncio.Semaphore(pacing.concurrency)

    async def lane(run: _Run[Source, Row], index: int, source: Source) -> None:
        try:
            await run.lane(index, source)
        finally:
            lanes.release()

    try:
        async with asyncio.TaskGroup() as group:
            slots = asyncio.Semaphore(pacing.concurrency)
            run = _Run(read, unit, pacing, order, slots, group, deadline_at, keeps_order)
            for index, source in enumerate(sources):
                await lanes.acquire()
                group.create_task(lane(run, index, source))
    except BaseExceptionGroup as failed:
        raise _first(failed) from None


def _first(group: BaseExceptionGroup) -> BaseException:
    """The exception to raise for a failed group: a user-facing error if there is one."""
    leaves: list[BaseException] = []
    pending: list[BaseException] = [group]
    while pending:
        exc = pending.pop(0)
        if isinstance(exc, BaseExceptionGroup):
            pending[:0] = exc.exceptions
        else:
            leaves.append(exc)
    return next((e for e in leaves if isinstance(e, RetapeError)), leaves[0])
