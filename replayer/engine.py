"""The replay loop: every interaction of every cassette, in recorded order, one verdict each.

Cassettes run one after another and interactions within a cassette in recorded order,
because recordings are often stateful (create, then use). Every network call is bounded
by ``timeout``; a failure of one interaction becomes an error row and the run goes on.
The one exception is a target that cannot be reached at all on the first attempt: that
is a configuration mistake (wrong port, server not started), reported as a
:class:`RetapeError` rather than as a wall of identical failures.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from aiohttp import ClientSession

from cassette.errors import RetapeError
from cassette.model import Cassette, Interaction
from replayer import compare
from replayer.credentials import Credentials
from replayer.http import open_session, replay_http
from replayer.results import Outcome, Result
from replayer.target import Target, Unreachable
from replayer.websocket import replay_websocket


def _result(
    cassette: Cassette, interaction: Interaction, outcome: Outcome, *, duration: float
) -> Result:
    request = interaction.request
    expected = interaction.response.status
    return Result(
        cassette=cassette.path or "<cassette>",
        id=interaction.id,
        type=interaction.type,
        method=request.method,
        path=request.path,
        expected_status=expected,
        actual_status=outcome.status,
        ok=compare.passed(
            expected_status=expected, actual_status=outcome.status, error=outcome.error
        ),
        error=outcome.error,
        duration=duration,
        details=outcome.details,
    )


def _scrubbed(outcome: Outcome, credentials: Credentials) -> Outcome:
    """Library messages may quote what was sent; mask any credential before reporting."""
    if outcome.error is not None:
        outcome.error = credentials.scrub(outcome.error)
    if "note" in outcome.details:
        outcome.details["note"] = credentials.scrub(outcome.details["note"])
    return outcome


async def _replay_one(
    interaction: Interaction,
    *,
    session: ClientSession,
    target: Target,
    credentials: Credentials,
    timeout: float,
) -> Outcome:
    path = interaction.request.path
    if interaction.type == "websocket":
        url = target.ws_url(path)
        return await replay_websocket(
            interaction, url=url, credentials=credentials, timeout=timeout
        )
    url = target.http_url(path)
    return await replay_http(
        interaction, session=session, url=url, credentials=credentials, timeout=timeout
    )


async def replay_cassettes(
    cassettes: Sequence[Cassette],
    target: Target,
    credentials: Credentials,
    *,
    timeout: float,
    on_result: Callable[[Result], None],
) -> list[Result]:
    """Replay everything against ``target``; ``on_result`` sees each row as it completes."""
    results: list[Result] = []
    reached = False
    async with open_session() as session:
        for cassette in cassettes:
            for interaction in cassette.interactions:
                started = time.monotonic()
                try:
                    outcome = await _replay_one(
                        interaction,
                        session=session,
                        target=target,
                        credentials=credentials,
                        timeout=timeout,
                    )
                    reached = True
                except Unreachable as exc:
                    if not reached:
                        raise RetapeError(f"cannot reach target {target}: {exc.reason}") from None
                    outcome = Outcome(error=f"cannot connect: {exc.reason}")
                if interaction.request.credentials and not credentials.headers:
                    outcome.details["credentials"] = "recorded with credentials, none supplied"
                duration = time.monotonic() - started
                result = _result(
                    cassette, interaction, _scrubbed(outcome, credentials), duration=duration
                )
                results.append(result)
                on_result(result)
    return results
