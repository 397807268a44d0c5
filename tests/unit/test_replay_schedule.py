"""The scheduler on its own: units that finish in any order come out in recorded order.

No network: each unit sleeps a random few milliseconds and records when it ran, so the
properties of :func:`replayer.schedule.run_units` (order of rows, slots, recorded order
inside a cassette, the bounded window, errors) are checked on many shapes quickly.
"""

from __future__ import annotations

import asyncio
import random

import pytest
from retape.replayer import options, schedule
from retape.replayer.schedule import Pacing, RateLimit, run_units

from retape.cassette.model import Interaction, Request, Response
from retape.common.errors import RetapeError


def interaction(ident: int, at: float = 0.0) -> Interaction:
    return Interaction(ident, "http", Request("GET", f"/{ident}"), Response(200), at=at)


class Recorder:
    def __init__(self, seed: int) -> None:
        self.random = random.Random(seed)
        self.running: set[tuple[str, int]] = set()
        self.most = 0
        self.overlapped_in_a_cassette = False
        self.started: list[tuple[str, int]] = []

    async def unit(self, source: tuple[str, list[Interaction]], item: Interaction) -> list:
        name = source[0]
        key = (name, item.id)
        if any(other == name for other, _ in self.running):
            self.overlapped_in_a_cassette = True
        self.running.add(key)
        self.started.append(key)
        self.most = max(self.most, len(self.running))
        await asyncio.sleep(self.random.random() * 0.004)
        self.running.discard(key)
        return [(name, item.id, probe) for probe in range(item.id % 3)]


def sources(seed: int) -> list[tuple[str, list[Interaction]]]:
    rng = random.Random(seed)
    return [
        (f"c{n}", [interaction(i) for i in range(1, rng.randint(0, 12) + 1)])
        for n in range(rng.randint(1, 7))
    ]


def run(given: list, recorder: Recorder, pacing: Pacing) -> list:
    rows: list = []
    asyncio.run(
        run_units(given, read=lambda s: s[1], unit=recorder.unit, emit=rows.append, pacing=pacing)
    )
    return rows


@pytest.mark.parametrize("seed", range(12))
@pytest.mark.parametrize("concurrency", [1, 3, 8])
@pytest.mark.parametrize("ordered", [True, False])
def test_rows_come_out_in_recorded_order(seed: int, concurrency: int, ordered: bool) -> None:
    given = sources(seed)
    recorder = Recorder(seed)
    rows = run(given, recorder, Pacing(concurrency=concurrency, ordered=ordered))
    expected = [(name, i.id, p) for name, items in given for i in items for p in range(i.id % 3)]
    assert rows == expected
    assert recorder.most <= concurrency
    if ordered:
        assert not recorder.overlapped_in_a_cassette
        for name, items in given:  # and started in recorded order
            assert [i for n, i in recorder.started if n == name] == [i.id for i in items]


@pytest.mark.parametrize("seed", range(6))
def test_a_small_window_bounds_what_waits_and_never_deadlocks(
    seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two units started and not reported at most (plus the oldest, which may always
    start), though four slots are free."""
    monkeypatch.setattr(Pacing, "window", property(lambda self: 2))
    admitted: list[int] = []
    original = schedule.InOrder.admit

    async def admit(self: schedule.InOrder, lane: int, seq: int) -> None:
        await original(self, lane, seq)
        admitted.append(self._open)

    monkeypatch.setattr(schedule.InOrder, "admit", admit)
    given = sources(seed)
    rows = run(given, Recorder(seed), Pacing(concurrency=4, ordered=False))
    assert rows == [(n, i.id, p) for n, items in given for i in items for p in range(i.id % 3)]
    assert max(admitted, default=0) <= 3


def test_the_first_user_error_is_raised_as_itself() -> None:
    async def unit(source: str, item: Interaction) -> list:
        await asyncio.sleep(0.001 * item.id)
        if item.id == 2:
            raise RetapeError("cannot reach target")
        return [item.id]

    with pytest.raises(RetapeError, match="cannot reach target"):
        asyncio.run(
            run_units(
                ["a", "b"],
                read=lambda s: [interaction(i) for i in range(1, 5)],
                unit=unit,
                emit=lambda row: None,
                pacing=Pacing(),
            )
        )


def test_rate_spaces_starts() -> None:
    async def main() -> list[float]:
        limit = RateLimit(100)
        loop = asyncio.get_running_loop()
        times: list[float] = []

        async def one() -> None:
            await limit.wait()
            times.append(loop.time())

        await asyncio.gather(*(one() for _ in range(10)))
        return times

    times = asyncio.run(main())
    assert times[-1] - times[0] >= 0.085  # nine gaps of 10 ms


def test_speed_waits_for_recorded_offsets_but_not_past_the_deadline() -> None:
    async def main(deadline: float | None) -> list[float]:
        loop = asyncio.get_running_loop()
        begun = loop.time()
        times: list[float] = []

        async def unit(source: str, item: Interaction) -> list:
            times.append(loop.time() - begun)
            return []

        await run_units(
            ["a"],
            read=lambda s: [interaction(1, at=10.0), interaction(2, at=10.2), interaction(3, 60)],
            unit=unit,
            emit=lambda row: None,
            pacing=Pacing(speed=1.0),
            deadline_at=None if deadline is None else begun + deadline,
        )
        return times

    first, second, third = asyncio.run(main(deadline=0.4))
    assert first < 0.1 and second >= 0.18 and third < 5  # the deadline cut the long wait


def test_the_command_line_default_is_the_scheduler_default() -> None:
    assert options.DEFAULT_CONCURRENCY == schedule.DEFAULT_CONCURRENCY == Pacing().concurrency
