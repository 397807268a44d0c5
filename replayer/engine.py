"""The replay loop: every interaction of every cassette, one verdict each, in recorded order.

Cassettes run side by side and interactions within a cassette in recorded order,
because recordings are often stateful (create, then use); how many run at once, and
how fast they start, is :mod:`replayer.schedule`'s job, and rows are reported in
recorded order whatever order they complete in. Cassettes may be loaded
(:class:`~cassette.model.Cassette`) or streamed from their files
(:class:`~cassette.stream.CassetteStream`), read as the replay goes. With the auth
matrix on, each interaction recorded with a credential is followed by its probes. Every network
call is bounded by ``timeout``; a failure of one interaction becomes an error row and
the run goes on. The one exception is a target that cannot be reached at all on the
first attempt: that is a configuration mistake (wrong port, server not started),
reported as a :class:`RetapeError` rather than as a wall of identical failures.

Bodies and messages received live only until their row is judged: a result keeps the
differences and a short excerpt, never the whole response.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from aiohttp import ClientSession
from retape.replayer.auth.credentials import Credentials
from retape.replayer.auth.mask import Masker
from retape.replayer.auth.probes import Probe, probe_credentials, probes_for
from retape.replayer.auth.secrets import fill_placeholders, needs_secret_error
from retape.replayer.compare import aspects as compare
from retape.replayer.compare.aspects import Comparison
from retape.replayer.compare.ignore import IgnoreRules
from retape.replayer.compare.keys import MessageRules
from retape.replayer.config import ReplayConfig
from retape.replayer.net.http import open_session, replay_http
from retape.replayer.net.target import Target, Unreachable
from retape.replayer.net.websocket import replay_websocket
from retape.replayer.results import (
    DEADLINE_NOT_RUN,
    DEADLINE_STOPPED,
    ErrorKind,
    Outcome,
    Result,
)
from retape.replayer.schedule import Pacing, RateLimit, run_units
from retape.replayer.session_state import Prepared, SessionState

from retape.cassette.model import (
    MAX_JSON_DEPTH,
    Cassette,
    Correlation,
    Interaction,
    TooDeep,
    loads_json,
)
from retape.cassette.stream import CassetteStream
from retape.common.errors import RetapeError

_EXCERPT = 2000  # characters of a failing row's response body kept for the reports

Source = Cassette | CassetteStream
RulesFor = Callable[[Source, Interaction], IgnoreRules]
Unit = Callable[[Source, Interaction], Awaitable[list[Result]]]
MessagesFor = Callable[[Source | None], MessageRules]


class Learner(Protocol):
    """Noise learning hooks (see :mod:`replayer.learning`)."""

    @property
    def first_pass(self) -> bool:
        """Replay everything once, through :meth:`observe`, before the judged pass."""
        ...

    pass_gap: float  # seconds between the two passes

    async def observe(self, replayer: Replayer, cassette: Source, interaction: Interaction) -> None:
        """The first pass for one interaction."""
        ...

    def learn(
        self, cassette: Source, interaction: Interaction, outcome: Outcome, rules: IgnoreRules
    ) -> IgnoreRules: ...


def interactions_of(cassette: Source) -> Iterable[Interaction]:
    """A loaded cassette's list, or a stream's interactions, read again from its file."""
    return cassette.interactions if isinstance(cassette, Cassette) else cassette


@dataclass
class Replayer:
    """Everything one replay needs; one instance per run (or per pytest item)."""

    session: ClientSession
    target: Target
    credentials: Credentials
    timeout: float
    comparison: Comparison = field(default_factory=Comparison)
    config: ReplayConfig = field(default_factory=ReplayConfig)
    rules_for: RulesFor = lambda cassette, interaction: IgnoreRules()
    messages_for: MessagesFor | None = None  # default: the comparison's message key

    def message_rules(self, cassette: Source | None) -> MessageRules:
        if self.messages_for is None:
            return self.comparison.messages
        return self.messages_for(cassette)

    reached: bool = False
    deadline_at: float | None = None  # loop time after which nothing is sent (--deadline)
    # One SessionState per cassette (correlations, cookies), keyed by id(cassette); None
    # replays each interaction on its own (the pytest plugin's items).
    sessions: dict[int, SessionState] | None = None

    def session_for(self, cassette: Source) -> SessionState | None:
        if self.sessions is None:
            return None
        state = self.sessions.get(id(cassette))
        if state is None:
            state = SessionState(plan_of(cassette), message_key=self.comparison.message_key)
            self.sessions[id(cassette)] = state
        return state

    async def outcome(
        self,
        interaction: Interaction,
        probe: Probe | None = None,
        *,
        session: tuple[SessionState, Prepared] | None = None,
        cassette: Source | None = None,
    ) -> Outcome:
        """Send it; a target that never answered becomes a RetapeError (first call) or a row.

        Past ``deadline_at`` nothing is sent (a ``not run`` row); an interaction still
        running when it passes is stopped (a ``stopped`` row).
        """
        loop = asyncio.get_running_loop()
        if self.deadline_at is not None and loop.time() >= self.deadline_at:
            return Outcome(error=DEADLINE_NOT_RUN, error_kind=ErrorKind.DEADLINE)
        interaction, missing = fill_placeholders(interaction, self.credentials.secrets)
        if missing:
            return Outcome(error=needs_secret_error(missing), error_kind=ErrorKind.NOT_SENT)
        credentials = self.credentials
        rewrite = None
        if session is not None:
            state, prepared = session
            credentials = credentials.with_live(prepared.live_headers, state.secrets)
            rewrite = state.message_rewriter(interaction, prepared)
        if probe is not None:
            credentials = probe_credentials(probe, interaction.request, self.credentials)
        path = interaction.request.path
        deadline = asyncio.timeout_at(self.deadline_at)
        try:
            async with deadline:
                if interaction.type == "websocket":
                    outcome = await replay_websocket(
                        interaction,
                        url=self.target.ws_url(path),
                        credentials=credentials,
                        timeout=self.timeout,
                        probe=probe is not None,
                        tls=self.target.tls,
                        rewrite=rewrite,
                        rules=self.message_rules(cassette),
                    )
                else:
                    outcome = await replay_http(
                        interaction,
                        session=self.session,
                        url=self.target.http_url(path),
                        credentials=credentials,
                        timeout=self.timeout,
                    )
            self.reached = True
        except Unreachable as exc:
            if not self.reached:
                raise RetapeError(f"cannot reach target {self.target}: {exc.reason}") from None
            outcome = Outcome(error=exc.row, error_kind=exc.kind)
        except TimeoutError:
            if not deadline.expired():
                raise
            outcome = Outcome(error=DEADLINE_STOPPED, error_kind=ErrorKind.DEADLINE)
        problem = too_deep(outcome)
        if problem and outcome.error is None:
            outcome.error, outcome.error_kind = problem, ErrorKind.PROTOCOL
        supplied = self.credentials.headers or credentials.live
        if probe is None and interaction.request.credentials and not supplied:
            outcome.details["credentials"] = "recorded with credentials, none supplied"
        return masked_outcome(outcome, self.credentials.masker)

    async def session_outcome(
        self, cassette: Source, interaction: Interaction, probe: Probe | None = None
    ) -> tuple[Outcome, Prepared | None]:
        """:meth:`outcome`, within the cassette's session: live values in, captures out.

        A row whose needed value did not come back is not sent; its error says which.
        Secrets the server minted are masked from the moment they are captured.
        """
        state = self.session_for(cassette)
        if state is None:
            return await self.outcome(interaction, probe, cassette=cassette), None
        prepared = state.prepare(interaction, probe=probe is not None)
        if prepared.blocked:
            outcome = Outcome(error=prepared.blocked, error_kind=ErrorKind.NOT_SENT)
        else:
            outcome = await self.outcome(
                prepared.interaction, probe, session=(state, prepared), cassette=cassette
            )
            if prepared.blocked and outcome.error is None:  # inside a websocket session
                outcome.error = prepared.blocked
        if probe is None:
            state.observe(prepared.interaction, outcome)
        for secret in state.secrets:
            self.credentials.masker.add(secret)
        _noted(outcome, prepared)
        return masked_outcome(outcome, self.credentials.masker), prepared

    def judge(
        self,
        cassette: Source,
        interaction: Interaction,
        outcome: Outcome,
        *,
        probe: Probe | None = None,
        rules: IgnoreRules | None = None,
        duration: float = 0.0,
    ) -> Result:
        request = interaction.request
        if probe is None:
            rules = rules if rules is not None else self.rules_for(cassette, interaction)
            verdict = compare.judge(
                interaction,
                outcome,
                comparison=self.comparison,
                rules=rules,
                messages=self.message_rules(cassette),
            )
            expected: int | None = interaction.response.status
            statuses = [interaction.response.status]
        else:
            verdict = compare.judge_probe(outcome, refusal=self.config.refusal)
            expected, statuses = None, sorted(self.config.refusal)
        details = dict(outcome.details)
        if not verdict.ok and outcome.body:
            # The body was masked whole (masked_outcome): a cut cannot split a secret.
            text = outcome.body[:_EXCERPT].decode("utf-8", errors="replace")
            details["response_excerpt"] = text
        result = Result(
            cassette=cassette.path or "<cassette>",
            id=interaction.id,
            type=interaction.type,
            method=request.method,
            path=request.path,
            expected_status=expected,
            actual_status=outcome.status,
            ok=verdict.ok,
            error=outcome.error,
            error_kind=outcome.error_kind,
            duration=duration,
            details=details,
            probe=probe.value if probe else None,
            expected_statuses=statuses,
            differences=verdict.differences,
            failure=verdict.failure,
            session=outcome.session.to_json() if outcome.session is not None else None,
        )
        # The one place a row becomes what every report reads: nothing live gets past it.
        return self.credentials.masker.value(result)

    async def run(
        self,
        cassette: Source,
        interaction: Interaction,
        probe: Probe | None = None,
        *,
        learner: Learner | None = None,
    ) -> Result:
        """Replay one interaction (or one probe of it) and judge it."""
        started = time.monotonic()
        outcome, prepared = await self.session_outcome(cassette, interaction, probe)
        rules = None
        if probe is None:
            rules = self.rules_for(cassette, interaction)
            if learner is not None:
                rules = learner.learn(cassette, interaction, outcome, rules)
        result = self.judge(
            cassette,
            interaction,
            outcome,
            probe=probe,
            rules=rules,
            duration=time.monotonic() - started,
        )
        if prepared is not None and probe is None:
            result.substitutions = [s.text for s in prepared.substitutions]
        return result


def plan_of(cassette: Source) -> list[tuple[str, Correlation]]:
    """Every correlation of a cassette with its interaction's method, read before replay."""
    if isinstance(cassette, Cassette):
        return [(i.request.method, c) for i in cassette.interactions for c in i.uses]
    return list(cassette.correlations)


def _noted(outcome: Outcome, prepared: Prepared) -> None:
    """The session's part of a row's details: substitutions, correlations that missed."""
    if prepared.substitutions:
        outcome.details["substitutions"] = [s.to_json() for s in prepared.substitutions]
    if prepared.unmatched:
        outcome.details["correlations_unmatched"] = list(prepared.unmatched)


def _deep_text(data: str | bytes) -> bool:
    opening = (
        data.count("[") + data.count("{")
        if isinstance(data, str)
        else (data.count(b"[") + data.count(b"{"))
    )
    if opening <= MAX_JSON_DEPTH:
        return False
    try:
        loads_json(data)
    except TooDeep:
        return True
    except ValueError:
        return False
    return False


def too_deep(outcome: Outcome) -> str | None:
    """An error for JSON from the target nested past the bound (a hostile or broken
    target): it is not compared, so it cannot exhaust the recursion of a diff."""
    if outcome.body and _deep_text(outcome.body):
        return f"response JSON nested deeper than {MAX_JSON_DEPTH} levels: not compared"
    for number, message in enumerate(outcome.messages or [], 1):
        if message.kind == "text" and _deep_text(str(message.value)):
            return (
                f"server message {number}: JSON nested deeper than {MAX_JSON_DEPTH} levels: "
                "not compared"
            )
    return None


def masked_outcome(outcome: Outcome, masker: Masker) -> Outcome:
    """What the target sent back (and what libraries said about it) with every live
    secret masked, before comparison shortens anything: a target may echo a credential
    anywhere, and a difference line or an excerpt cut first could keep half of it."""
    if not masker:
        return outcome
    return masker.value(outcome)


async def replay_cassettes(
    cassettes: Sequence[Source],
    target: Target,
    credentials: Credentials,
    *,
    timeout: float,
    on_result: Callable[[Result], None],
    comparison: Comparison | None = None,
    config: ReplayConfig | None = None,
    auth_matrix: bool = False,
    rules_for: RulesFor | None = None,
    messages_for: MessagesFor | None = None,
    learner: Learner | None = None,
    deadline: float | None = None,
    pacing: Pacing | None = None,
    on_left_behind: Callable[[str, list[str]], None] | None = None,
) -> None:
    """Replay everything against ``target``; ``on_result`` sees each row in recorded
    order, as soon as it and every row before it are done.

    Each cassette is a session: values its responses minted are carried into its later
    requests (:mod:`replayer.session_state`). ``on_left_behind`` hears, per cassette, the
    resources this run created whose recorded delete did not succeed.

    ``pacing`` says how many run at once and how fast they start (:class:`Pacing`:
    ``--concurrency``, ``--unordered``, ``--rate``, ``--speed``). ``deadline`` (seconds
    from now) bounds the whole run: past it every remaining row is reported as not run
    rather than dropped.
    """
    pacing = pacing or Pacing()
    async with open_session(tls=target.tls, connections=pacing.concurrency) as session:
        replayer = Replayer(
            session,
            target,
            credentials,
            timeout,
            comparison or Comparison(),
            config or ReplayConfig(),
        )
        replayer.sessions = {}
        if rules_for is not None:
            replayer.rules_for = rules_for
        if messages_for is not None:
            replayer.messages_for = messages_for
        if deadline is not None:
            replayer.deadline_at = asyncio.get_running_loop().time() + deadline
        starts = RateLimit(pacing.rate)

        async def start() -> None:
            """Wait for ``--rate``, but not past the deadline: after it nothing is sent."""
            try:
                async with asyncio.timeout_at(replayer.deadline_at):
                    await starts.wait()
            except TimeoutError:
                pass

        async def observe(cassette: Source, interaction: Interaction) -> list[Result]:
            assert learner is not None
            await start()
            await learner.observe(replayer, cassette, interaction)
            return []

        async def replay(cassette: Source, interaction: Interaction) -> list[Result]:
            rows: list[Result] = []
            probes = probes_for(interaction, replayer.config) if auth_matrix else []
            for probe in [None, *probes]:
                await start()
                rows.append(await replayer.run(cassette, interaction, probe, learner=learner))
            return rows

        async def each(unit: Unit, emit: Callable[[Result], None]) -> None:
            await run_units(
                cassettes,
                read=interactions_of,
                unit=unit,
                emit=emit,
                pacing=pacing,
                deadline_at=replayer.deadline_at,
                keeps_order=lambda cassette: bool(plan_of(cassette)),  # --unordered spares it
            )

        if learner is not None and learner.first_pass:
            await each(observe, lambda row: None)
            await asyncio.sleep(learner.pass_gap)
            replayer.sessions = {}  # the judged pass is a session of its own
        await each(replay, on_result)
        if on_left_behind is not None:
            for cassette in cassettes:
                state = replayer.sessions.get(id(cassette))
                left = state.left_behind() if state is not None else []
                if left:
                    on_left_behind(cassette.path or "<cassette>", left)
