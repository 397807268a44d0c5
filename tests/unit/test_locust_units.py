"""The pure parts of ``retape locust``: stats names, websocket turns, session hand-out.

Nothing here imports Locust (which would monkey-patch the test process for gevent);
tests/test_locust.py runs the real thing.
"""

from __future__ import annotations

import pytest
from retape.replayer.locust.sessions import Leases
from retape.replayer.locust.stats import interaction_name, template_path, websocket_turns
from retape.replayer.results import Outcome

from retape.cassette.model import Message


@pytest.mark.parametrize(
    ("path", "name"),
    [
        ("/v1/chat/completions", "/v1/chat/completions"),
        ("/users/42/orders/7", "/users/{id}/orders/{id}"),
        ("/v1/files/file-3f2a9c1d8e/content", "/v1/files/{id}/content"),
        ("/s/0b9a6f1e-2c4d-4e8f-9a1b-3c5d7e9f1a2b", "/s/{id}"),
        ("/blob/9f86d081884c7d65", "/blob/{id}"),
        ("/v1/responses/resp_67ccd2bed1ec8190b14f964abc054267", "/v1/responses/{id}"),
        ("/search?q=cats&page=2", "/search?q={}&page={}"),
        ("/v1/models?api_key=<redacted:3>", "/v1/models?api_key={}"),
        ("/v2/users/me", "/v2/users/me"),  # a version and a word stay
        ("/", "/"),
    ],
)
def test_ids_are_templated_out_of_stats_names(path: str, name: str) -> None:
    assert template_path(path) == name


def test_an_interaction_row_is_named_by_method_and_templated_path() -> None:
    assert interaction_name("DELETE", "/items/991") == "DELETE /items/{id}"


def _server(at: float) -> Message:
    return Message("server", at, "text", "x")


def test_websocket_turns_run_from_the_client_turn_to_its_last_answer() -> None:
    outcome = Outcome(
        status=101,
        # greeting at 0.01, then: update -> 1 answer; two appends + commit -> 2 answers
        messages=[_server(0.01), _server(0.05), _server(0.30), _server(0.42)],
        sent_at=[0.02, 0.10, 0.11, 0.12],
    )
    assert websocket_turns(outcome) == pytest.approx([0.03, 0.32])


def test_a_turn_the_server_never_answered_is_not_measured() -> None:
    outcome = Outcome(status=101, messages=[_server(0.01)], sent_at=[0.02, 0.03])
    assert websocket_turns(outcome) == []


def _granted(leases: Leases) -> list[int]:
    got: list[int] = []
    leases.acquire(got.append)
    return got


def test_sessions_go_round_robin_and_none_is_handed_out_twice_at_once() -> None:
    leases = Leases(3)
    given = [_granted(leases) for _ in range(3)]
    assert given == [[0], [1], [2]]
    assert leases.in_use == {0, 1, 2}
    waiting = _granted(leases)
    assert waiting == []  # all three in use: the fourth user waits
    leases.release(1)
    assert waiting == [1]  # first come, first served, with the one given back
    leases.release(0)
    assert _granted(leases) == [0]


def test_every_session_gets_its_turn_before_one_repeats() -> None:
    leases = Leases(3)
    order = []
    for _ in range(6):
        [index] = _granted(leases)
        order.append(index)
        leases.release(index)
    assert order == [0, 1, 2, 0, 1, 2]


def test_overlap_hands_out_busy_sessions_when_asked() -> None:
    leases = Leases(2, overlap=True)
    assert [_granted(leases) for _ in range(3)] == [[0], [1], [0]]


def test_a_reset_forgets_leases_and_waiters() -> None:
    leases = Leases(1)
    _granted(leases)
    waiting = _granted(leases)
    leases.reset()
    leases.release(0)
    assert waiting == []
    assert _granted(leases) == [0]
