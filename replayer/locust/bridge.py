"""retape's own replay engine, run for Locust's greenlets in one native thread.

Locust runs users as gevent greenlets in a monkey-patched process; retape replays with
asyncio, aiohttp and websockets. Rather than a second HTTP and websocket client with
its own idea of fidelity, each Locust process runs one asyncio event loop in a native
thread (``_thread.start_new_thread`` as it was before patching) and hands it one
interaction at a time: the request that goes out is the one ``retape replay`` sends,
from the same code. docs/scale.md has the measurements behind the choice.

Three things make the two worlds meet safely:

* the loop polls with the unpatched ``epoll`` selector (gevent's would switch greenlets
  in a thread that has no hub running);
* blocking helpers the loop would push to its default executor (name resolution) run in
  unpatched native threads, since a patched ``threading`` executor would start greenlets
  that never run;
* a greenlet waits for its result on a gevent ``async_`` watcher, which the loop thread
  may ``send()`` (libev's thread-safe wake-up); nothing else is shared between the two
  threads, in particular no lock, which a patched ``threading`` would make a gevent lock.

A greenlet killed while it waits (Locust stopping a user) cancels its task in the loop.
"""

from __future__ import annotations

import asyncio
import selectors
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import gevent
from gevent import monkey
from gevent.event import AsyncResult
from gevent.lock import Semaphore

T = TypeVar("T")

_start_thread = monkey.get_original("_thread", "start_new_thread")
_getaddrinfo = monkey.get_original("socket", "getaddrinfo")
_getnameinfo = monkey.get_original("socket", "getnameinfo")


def _native_selector() -> selectors.BaseSelector:
    for name in ("EpollSelector", "PollSelector", "SelectSelector"):
        try:
            return monkey.get_original("selectors", name)()
        except (AttributeError, OSError):
            continue
    raise RuntimeError("no usable selector")  # pragma: no cover - every platform has select


class _Loop(asyncio.SelectorEventLoop):
    """An event loop whose default executor is a fresh native thread per call."""

    def run_in_executor(  # type: ignore[override]
        self, executor: Any, func: Callable[..., T], *args: Any
    ) -> Any:
        if executor is not None:
            return super().run_in_executor(executor, func, *args)
        future = self.create_future()

        def settle(value: Any, error: BaseException | None) -> None:
            if future.cancelled():
                return
            if error is not None:
                future.set_exception(error)
            else:
                future.set_result(value)

        def work() -> None:
            try:
                value, error = func(*args), None
            except BaseException as exc:
                value, error = None, exc
            self.call_soon_threadsafe(settle, value, error)

        _start_thread(work, ())
        return future

    async def getaddrinfo(
        self,
        host: Any,
        port: Any,
        *,
        family: int = 0,
        type: int = 0,
        proto: int = 0,
        flags: int = 0,
    ) -> list[Any]:
        return await self.run_in_executor(
            None, _getaddrinfo, host, port, family, type, proto, flags
        )

    async def getnameinfo(self, sockaddr: Any, flags: int = 0) -> tuple[str, str]:
        return await self.run_in_executor(None, _getnameinfo, sockaddr, flags)


class Engine:
    """One event loop in one native thread for the whole process, started on first use.

    Started lazily so that Locust's ``--processes`` forks before any thread exists.
    """

    def __init__(self) -> None:
        self.loop: _Loop | None = None
        self._starting = Semaphore()  # the first users arrive together: one loop, not several

    def start(self) -> _Loop:
        if self.loop is not None:
            return self.loop
        with self._starting:
            if self.loop is not None:
                return self.loop
            loop = _Loop(_native_selector())
            started = AsyncResult()
            watcher = gevent.get_hub().loop.async_()
            watcher.start(lambda: started.set(True))

            def run() -> None:
                asyncio.set_event_loop(loop)
                loop.call_soon(watcher.send)
                loop.run_forever()

            _start_thread(run, ())
            try:
                started.get()
            finally:
                watcher.close()
            self.loop = loop
        return self.loop

    def call(self, make: Callable[[], Coroutine[Any, Any, T]]) -> T:
        """Run the coroutine ``make()`` builds in the loop; block only this greenlet."""
        loop = self.start()
        watcher = gevent.get_hub().loop.async_()
        box: dict[str, Any] = {}
        done = AsyncResult()
        watcher.start(lambda: done.set(True))

        def wake(_: Any) -> None:
            if not box.get("gone"):
                watcher.send()

        def begin() -> None:
            task = loop.create_task(make())
            box["task"] = task
            task.add_done_callback(wake)

        def cancel() -> None:
            if "task" in box:
                box["task"].cancel()

        loop.call_soon_threadsafe(begin)
        try:
            done.get()
        except BaseException:  # GreenletExit from Locust stopping the user
            box["gone"] = True
            loop.call_soon_threadsafe(cancel)
            raise
        finally:
            watcher.close()
        return box["task"].result()


_ENGINE = Engine()


def engine() -> Engine:
    """The process's engine (one loop, shared by every user of every class)."""
    return _ENGINE
