"""Handing sessions out to simulated users, so that no two replay one at the same moment.

A session is one cassette, replayed whole. Users ask for a session, replay it, and give
it back. Who hands out is the process that sees every user: the Locust master in a
distributed run (workers ask over Locust's own message channel, ``runner.send_message``
and ``register_message``), the only process otherwise. retape adds no scheduler of its
own: Locust decides how many users run where; this only says which session each one
takes next.

Sessions go round robin from a cursor, skipping those in use, so every session gets its
turn. A user that asks while every session is in use waits (first come, first served)
until one is given back; ``overlap`` hands out the next session whether in use or not,
for when more users than sessions should run. Leases held by users of a worker that
vanishes are dropped when the run stops.
"""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

Grant = Callable[[int], None]

LEASE = "retape_lease"  # worker -> master: {"pool", "id"}
GRANTED = "retape_granted"  # master -> worker: {"id", "pool", "index", "name"}
RELEASE = "retape_release"  # worker -> master: {"pool", "index"}


@dataclass
class Leases:
    """Which of ``size`` sessions are in use, and who waits for one. Pure bookkeeping."""

    size: int
    overlap: bool = False
    _cursor: int = 0
    _busy: set[int] = field(default_factory=set)
    _waiting: deque[Grant] = field(default_factory=deque)

    def acquire(self, grant: Grant) -> None:
        """Call ``grant(index)`` now if a session is free, else once one is released."""
        index = self._next_free()
        if index is None:
            self._waiting.append(grant)
            return
        self._give(index, grant)

    def release(self, index: int) -> None:
        self._busy.discard(index)
        while self._waiting:
            free = self._next_free()
            if free is None:
                return
            self._give(free, self._waiting.popleft())

    def reset(self) -> None:
        """A run ended: nothing is in use and nobody waits any more."""
        self._busy.clear()
        self._waiting.clear()

    @property
    def in_use(self) -> frozenset[int]:
        return frozenset(self._busy)

    def _give(self, index: int, grant: Grant) -> None:
        if not self.overlap:
            self._busy.add(index)
        grant(index)

    def _next_free(self) -> int | None:
        if self.size <= 0:
            return None
        for step in range(self.size):
            index = (self._cursor + step) % self.size
            if self.overlap or index not in self._busy:
                self._cursor = index + 1
                return index
        return None


class Handout:
    """The sessions of every pool (one per user class) of one Locust environment.

    ``pools`` maps a pool name to a function giving its session names (files), asked
    lazily so only the handing-out process reads them. On a worker, :meth:`acquire`
    asks the master; everywhere else it leases locally.
    """

    def __init__(self, environment: Any, pools: Callable[[str], tuple[list[str], bool]]) -> None:
        self.environment = environment
        self._pools = pools
        self._leases: dict[str, Leases] = {}
        self._names: dict[str, list[str]] = {}
        self._waiters: dict[str, Callable[[int, str], None]] = {}
        self._ids = itertools.count()

    # --- the handing-out side (master or local) ---------------------------------------

    def leases(self, pool: str) -> Leases:
        if pool not in self._leases:
            names, overlap = self._pools(pool)
            self._names[pool] = names
            self._leases[pool] = Leases(len(names), overlap=overlap)
        return self._leases[pool]

    def name(self, pool: str, index: int) -> str:
        return self._names[pool][index]

    def reset(self) -> None:
        for leases in self._leases.values():
            leases.reset()
        self._waiters.clear()

    def on_lease(self, environment: Any, msg: Any, **_: Any) -> None:
        """Master: a worker's user asks for a session of ``pool``."""
        pool, request = msg.data["pool"], msg.data["id"]

        def grant(index: int) -> None:
            data = {"id": request, "pool": pool, "index": index, "name": self.name(pool, index)}
            environment.runner.send_message(GRANTED, data, client_id=msg.node_id)

        self.leases(pool).acquire(grant)

    def on_release(self, environment: Any, msg: Any, **_: Any) -> None:
        self.leases(msg.data["pool"]).release(msg.data["index"])

    # --- the asking side --------------------------------------------------------------

    @property
    def remote(self) -> bool:
        from locust.runners import WorkerRunner

        return isinstance(self.environment.runner, WorkerRunner)

    def acquire(self, pool: str, granted: Callable[[int, str], None]) -> None:
        """Ask for a session; ``granted(index, name)`` is called when one is given.

        A user that stopped waiting before then must give the session straight back.
        """
        if not self.remote:
            self.leases(pool).acquire(lambda index: granted(index, self.name(pool, index)))
            return
        request = f"{id(self)}-{next(self._ids)}"
        self._waiters[request] = granted
        self.environment.runner.send_message(LEASE, {"pool": pool, "id": request})

    def on_granted(self, environment: Any, msg: Any, **_: Any) -> None:
        """Worker: the master gave a session (to a request from before a reset: back)."""
        granted = self._waiters.pop(msg.data["id"], None)
        if granted is None:
            self.release(msg.data["pool"], msg.data["index"])
            return
        granted(msg.data["index"], msg.data["name"])

    def release(self, pool: str, index: int) -> None:
        if not self.remote:
            self.leases(pool).release(index)
            return
        self.environment.runner.send_message(RELEASE, {"pool": pool, "index": index})
