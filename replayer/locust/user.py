"""``CassetteUser``: a Locust user that replays recorded sessions with retape's verdicts.

Each simulated user takes a session (one cassette, see :mod:`.sessions`), replays its
interactions in recorded order through retape's own engine (:mod:`.bridge`), and gives
it back; then the next. Every interaction is one Locust request event, named by method
and templated path (:mod:`.stats`); a websocket also reports its handshake and each of
its turns. A failed retape verdict is a Locust failure whose message is retape's
one-line reason (``expected 101, got 500``), so Locust's summary, CSV, HTML report and
``--exit-code-on-error`` are the run's verdict. Each session is also one ``SESSION``
event, so sessions per second sit in the same table.

In a locustfile of your own::

    from retape.replayer.locust import CassetteUser

    class Staging(CassetteUser):
        host = "https://staging.internal:8000"   # or --host
        cassettes = ["sessions/"]
        bearer_env = "STAGING_API_KEY"

The request that goes out is the one ``retape replay`` sends: same headers (recorded
order and case, credentials swapped for the live ones from the environment), bodies and
encodings, websocket handshake and messages. Credential values are never in an event,
a failure message or a log.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from pathlib import Path
from types import SimpleNamespace
from typing import Any, ClassVar

import gevent
from gevent.event import AsyncResult
from gevent.lock import Semaphore
from locust import User, constant, events, task
from locust.runners import MasterRunner, WorkerRunner
from retape.replayer.auth.credentials import Credentials, credentials_from_args
from retape.replayer.compare.aspects import Comparison, parse_aspects
from retape.replayer.compare.ignore import IgnoreRules
from retape.replayer.config import ReplayConfig, load_config
from retape.replayer.engine import Replayer, RulesFor
from retape.replayer.locust.bridge import engine
from retape.replayer.locust.sessions import GRANTED, LEASE, RELEASE, Handout
from retape.replayer.locust.stats import interaction_name, websocket_turns
from retape.replayer.net.http import open_session
from retape.replayer.net.target import Target, parse_target
from retape.replayer.results import Outcome, Result

from retape.cassette.load import find_cassettes, load_cassette
from retape.cassette.model import Cassette, Interaction
from retape.common.errors import RetapeError

SESSION = "SESSION"  # the request type of the one event per replayed session
WS = "WS"
CACHED_SESSIONS = 4096  # loaded cassettes kept per process; more are read again when due


class RetapeFailure(Exception):
    """A failed retape verdict; ``str()`` is the one line ``retape replay`` prints."""


@dataclass
class _Plan:
    """What every user of one class shares in one process, built on first use."""

    files: list[str]
    target: Target
    credentials: Credentials = field(repr=False)
    comparison: Comparison
    config: ReplayConfig
    rules_for: RulesFor
    session: Any = None  # the aiohttp session, made in the engine's loop
    opening: Semaphore = field(default_factory=Semaphore)  # one session, however many users

    def __post_init__(self) -> None:
        self.load = lru_cache(maxsize=CACHED_SESSIONS)(load_cassette)


def _pools(environment: Any, pool: str) -> tuple[list[str], bool]:
    for cls in environment.user_classes or []:
        if cls.__name__ == pool and issubclass(cls, CassetteUser):
            return cls.session_files(), bool(cls.overlap)
    raise RetapeError(f"no CassetteUser class named {pool!r} in this locustfile")


def handout_of(environment: Any) -> Handout:
    handout = getattr(environment, "retape_handout", None)
    if handout is None:
        handout = Handout(environment, lambda pool: _pools(environment, pool))
        environment.retape_handout = handout
    return handout


@events.init.add_listener
def _on_init(environment: Any, **_: Any) -> None:
    """The master hands out sessions to the workers' users over Locust's messages.

    Also refreshes the gevent loop's clock. libev times ``spawn_later`` from the time it
    last read, and the hub may not have run since ``import locust``, before seconds of
    imports on a busy machine: Locust's ``--run-time`` would then end a run early.
    """
    gevent.get_hub().loop.update_now()
    handout = handout_of(environment)
    runner = environment.runner
    if isinstance(runner, MasterRunner):
        runner.register_message(LEASE, handout.on_lease)
        runner.register_message(RELEASE, handout.on_release)
    elif isinstance(runner, WorkerRunner):
        runner.register_message(GRANTED, handout.on_granted)


@events.test_stop.add_listener
def _end_of_run(environment: Any, **_: Any) -> None:
    """Nothing is leased any more, and every connection is closed (users have stopped)."""
    handout_of(environment).reset()
    for plan in CassetteUser._plans.values():
        session, plan.session = plan.session, None
        if session is not None:
            engine().call(session.close)


class CassetteUser(User):
    """Replays whole recorded sessions, one after another; see the module docstring.

    Class attributes configure it, as ``host`` and ``wait_time`` do for any Locust user.
    """

    abstract = True
    wait_time = constant(0)

    cassettes: ClassVar[Sequence[str]] = ()  # files or directories (*.yaml, *.yml)
    bearer_env: ClassVar[str | None] = None  # send 'Authorization: Bearer $VAR'
    credential_headers: ClassVar[Sequence[str]] = ()  # 'X-Api-Key: ${VAR}', like --header
    secrets: ClassVar[Sequence[str]] = ()  # 'N=VAR', like --secret
    timeout: ClassVar[float] = 10.0  # bound on every network wait, like --timeout
    speed: ClassVar[float | None] = None  # recorded think time, this many times faster
    compare: ClassVar[str] = "status"  # like --compare
    ignore: ClassVar[Sequence[str]] = ()  # like --ignore
    overlap: ClassVar[bool] = False  # may two users replay the same session at once?
    ca_file: ClassVar[str | None] = None
    insecure: ClassVar[bool] = False

    _plans: ClassVar[dict[tuple[type, str], _Plan]] = {}

    @classmethod
    def session_files(cls) -> list[str]:
        """The sessions of this class, in a stable order every process agrees on."""
        if not cls.cassettes:
            raise RetapeError(f"{cls.__name__}.cassettes names no cassette file or directory")
        files = [str(path) for path in find_cassettes(list(cls.cassettes))]
        if not files:
            raise RetapeError(f"no cassettes (*.yaml, *.yml) found in {' '.join(cls.cassettes)}")
        return files

    @cached_property
    def plan(self) -> _Plan:
        key = (type(self), self.host or "")
        if key not in self._plans:
            self._plans[key] = self._make_plan()
        return self._plans[key]

    def _make_plan(self) -> _Plan:
        from retape.replayer.cli import _rules_for  # the very rules retape replay applies

        if not self.host:
            raise RetapeError(f"{type(self).__name__}: no target (set host, or pass --host)")
        target = parse_target(self.host, insecure=self.insecure, ca_file=self.ca_file)
        credentials = credentials_from_args(
            bearer_env=self.bearer_env,
            header_specs=self.credential_headers,
            secret_specs=self.secrets,
        )
        config = load_config()
        files = self.session_files()
        sources = [SimpleNamespace(path=name) for name in files]
        base = config.ignore + IgnoreRules.parse(list(self.ignore), where="ignore")
        return _Plan(
            files=files,
            target=target,
            credentials=credentials,
            comparison=Comparison(parse_aspects(self.compare), config.message_key),
            config=config,
            rules_for=_rules_for(sources, base),  # type: ignore[arg-type]
        )

    # --- one session --------------------------------------------------------------------

    @task
    def replay_session(self) -> None:
        handout = handout_of(self.environment)
        pool = type(self).__name__
        index, name = self._lease(handout, pool)
        try:
            files = self.plan.files
            if index < len(files):
                self.replay(files[index])
            else:  # the master lists more sessions than this worker has
                self._fire(SESSION, name, 0.0, failure=f"session {name} is not on this worker")
        finally:
            handout.release(pool, index)

    def _lease(self, handout: Handout, pool: str) -> tuple[int, str]:
        given = AsyncResult()
        waiting = True

        def granted(index: int, name: str) -> None:
            if waiting:
                given.set((index, name))
            else:  # stopped while waiting: straight back
                handout.release(pool, index)

        handout.acquire(pool, granted)
        try:
            return given.get()
        except BaseException:
            waiting = False
            if given.ready():
                handout.release(pool, given.value[0])
            raise

    def replay(self, name: str) -> None:
        """Replay one session (a cassette file of :meth:`session_files`) from start to end."""
        plan = self.plan
        started = time.perf_counter()
        try:
            cassette = plan.load(name)
        except RetapeError as exc:
            self._fire(SESSION, display_name(name), 0.0, failure=str(exc))
            return
        with plan.opening:
            if plan.session is None:
                plan.session = engine().call(lambda: _open_session(plan.target))
        replayer = Replayer(
            plan.session,
            plan.target,
            plan.credentials,
            self.timeout,
            plan.comparison,
            plan.config,
            reached=True,  # a target that stops answering is a failure to count, not exit 2
        )
        failures: list[Result] = []
        count = 0
        first_at: float | None = None
        for interaction in cassette.interactions:
            if self.speed:
                first_at = interaction.at if first_at is None else first_at
                due = started + (interaction.at - first_at) / self.speed
                if due > time.perf_counter():
                    gevent.sleep(due - time.perf_counter())
            result = self._interaction(replayer, cassette, interaction)
            count += 1
            if not result.ok:
                failures.append(result)
        failure = None
        if failures:
            first = failures[0]
            failure = (
                f"{len(failures)} of {count} interactions failed; first {first.title}: "
                f"{first.problem}"
            )
        self._fire(SESSION, display_name(name), time.perf_counter() - started, failure=failure)

    def _interaction(
        self, replayer: Replayer, cassette: Cassette, interaction: Interaction
    ) -> Result:
        request = interaction.request
        name = interaction_name(request.method, request.path)
        rules = self.plan.rules_for(cassette, interaction)

        async def timed() -> tuple[Outcome, float]:
            began = time.perf_counter()
            outcome = await replayer.outcome(interaction)
            return outcome, time.perf_counter() - began

        try:
            outcome, took = engine().call(timed)
        except RetapeError as exc:  # e.g. a request body the recorder did not keep
            outcome, took = Outcome(error=str(exc)), 0.0
        result = replayer.judge(cassette, interaction, outcome, rules=rules, duration=took)
        failure = None if result.ok else result.problem
        if interaction.type != "websocket":
            length = int(outcome.details.get("response_bytes", 0))
            self._fire("HTTP", name, took, length=length, failure=failure)
            return result
        handshake = outcome.handshake_seconds if outcome.handshake_seconds is not None else took
        self._fire(WS, name, handshake, length=len(outcome.body or b""), failure=failure)
        for turn in websocket_turns(outcome):
            self._fire(WS, f"{name} turn", turn)
        return result

    def _fire(
        self, kind: str, name: str, seconds: float, *, length: int = 0, failure: str | None = None
    ) -> None:
        self.environment.events.request.fire(
            request_type=kind,
            name=name,
            response_time=seconds * 1000,
            response_length=length,
            exception=RetapeFailure(failure) if failure else None,
            context={},
        )


async def _open_session(target: Target) -> Any:
    # No pool bound: Locust decides how many users there are; each holds one connection.
    return open_session(tls=target.tls, connections=0)


def display_name(path: str) -> str:
    """A session's name in the stats table: its path as given, relative where it can be."""
    try:
        return str(Path(path).resolve().relative_to(Path.cwd()))
    except ValueError:
        return path
