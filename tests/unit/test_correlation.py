"""Correlations without a network: inference, the format, and one cassette's replay state."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from retape.replayer.results import Outcome
from retape.replayer.session_state import SessionState

from retape.cassette.correlate import infer_correlations, looks_minted
from retape.cassette.dump import dump_cassette
from retape.cassette.errors import CassetteError
from retape.cassette.load import load_cassette
from retape.cassette.model import (
    Body,
    Cassette,
    Interaction,
    Message,
    Recording,
    Request,
    Response,
)
from retape.cassette.redact import Redactor
from retape.cli import main

KERNEL = "5f0c6a52-4a0e-4f57-a2b1-2f8c0e0c7d1e"
LIVE = "152e0c1d-9b2a-4c55-8f00-0a1b2c3d4e5f"


def http(ident, method, path, status=200, *, sent=None, got=None, headers=(), back=()):
    request = Request(method, path, list(headers), Body("json", sent) if sent else None)
    response = Response(status, list(back), Body("json", got) if got is not None else None)
    return Interaction(ident, "http", request, response)


def session() -> list[Interaction]:
    return [
        http(1, "GET", "/v1/models", got={"data": [{"id": "demo-model-2024", "object": "model"}]}),
        http(
            2,
            "POST",
            "/api/kernels",
            201,
            sent={"name": "python3"},
            got={"id": KERNEL, "execution_state": "starting"},
            back=[("Location", f"/api/kernels/{KERNEL}")],
        ),
        http(3, "GET", f"/api/kernels/{KERNEL}", got={"id": KERNEL}),
        http(4, "POST", "/v1/chat", sent={"model": "demo-model-2024", "note": f"Bearer {KERNEL}"}),
        Interaction(
            5,
            "websocket",
            Request("GET", f"/api/kernels/{KERNEL}/channels"),
            Response(101),
            messages=[
                Message(
                    "server", 0, "json", {"type": "item.created", "item": {"id": "item_0123456789"}}
                ),
                Message("client", 0, "json", {"type": "item.delete", "item_id": "item_0123456789"}),
            ],
        ),
        http(6, "DELETE", f"/api/kernels/{KERNEL}", 204),
    ]


def by_user(interactions: list[Interaction]) -> dict[int, list[str]]:
    found: dict[int, list[str]] = {}
    for c in infer_correlations(interactions):
        found.setdefault(c.used_by, []).append(f"{c.source} -> {', '.join(map(str, c.targets))}")
    return found


def test_minted_values_are_traced_whole_and_embedded() -> None:
    assert by_user(session()) == {
        3: ["#2 $.id -> path"],
        4: ["#2 $.id -> body $.note"],  # "Bearer <id>": embedded
        5: ["#2 $.id -> path", "#5 message 0 $.item.id -> message 1 $.item_id"],
        6: ["#2 $.id -> path"],
    }


def test_no_false_links() -> None:
    """Numbers, booleans, short and common words, kinds, and the client's own values."""
    assert not looks_minted("python3") and not looks_minted("completed")
    assert not looks_minted("2024-01-01T00:00:00Z") and not looks_minted("1.2.3")
    assert looks_minted(KERNEL) and looks_minted("<redacted:4>")
    interactions = [
        http(
            1,
            "POST",
            "/api/files",
            sent={"name": "report-2024.txt"},
            got={"name": "report-2024.txt", "ok": True, "count": 12345678},
        ),
        http(2, "GET", "/api/files/report-2024.txt?count=12345678&ok=true"),
    ]
    assert infer_correlations(interactions) == []  # the client chose the name first


def test_cookie_and_html_sources_and_percent_encoded_forms() -> None:
    xsrf = "2|fbf36089|577c3f97|1796181178"
    page = Interaction(
        1,
        "http",
        Request("GET", "/login"),
        Response(
            200,
            [("Set-Cookie", f"_xsrf={xsrf}; Path=/"), ("Content-Type", "text/html")],
            Body("text", f'<form><input type="hidden" name="_xsrf" value="{xsrf}"/></form>'),
        ),
    )
    login = Interaction(
        2,
        "http",
        Request(
            "POST",
            "/login",
            [("Content-Type", "application/x-www-form-urlencoded"), ("X-XSRFToken", xsrf)],
            Body("text", "_xsrf=2%7Cfbf36089%7C577c3f97%7C1796181178&password=x"),
        ),
        Response(302),
    )
    assert by_user([page, login]) == {2: ["#1 html _xsrf -> header x-xsrftoken, body"]}


def test_the_format_round_trips_and_refuses_bad_references(tmp_path: Path) -> None:
    interactions = session()
    by_id = {i.id: i for i in interactions}
    for correlation in infer_correlations(interactions):
        by_id[correlation.used_by].uses.append(correlation)
    path = tmp_path / "s.yaml"
    path.write_text(dump_cassette(Cassette(Recording(), interactions)))
    loaded = load_cassette(path)
    assert [i.uses for i in loaded.interactions] == [i.uses for i in interactions]
    text = path.read_text()
    for bad, message in (
        ("from: '#2 $.id'", "from: '#9 $.id'"),  # a later interaction
        ("to: [path]", "to: [query]"),  # not a target
    ):
        (tmp_path / "bad.yaml").write_text(text.replace(*[bad, message], 1))
        with pytest.raises(CassetteError) as caught:
            load_cassette(tmp_path / "bad.yaml")
        assert ".uses[0]." in str(caught.value) and ":" in str(caught.value)


def test_state_carries_live_values_and_blocks_what_did_not_come_back() -> None:
    interactions = session()
    by_id = {i.id: i for i in interactions}
    for correlation in infer_correlations(interactions):
        by_id[correlation.used_by].uses.append(correlation)
    plan = [(i.request.method, c) for i in interactions for c in i.uses]
    state = SessionState(plan)
    state.observe(by_id[2], Outcome(status=201, body=json.dumps({"id": LIVE}).encode()))
    prepared = state.prepare(by_id[3])
    assert prepared.interaction.request.path == f"/api/kernels/{LIVE}"
    assert prepared.substitutions[0].text.startswith("#3 path: 5f0c6a52-4a… (recorded) -> 152e")
    delete = state.prepare(by_id[6])
    state.observe(delete.interaction, Outcome(status=500))
    assert state.left_behind() == [
        f"kernel id {LIVE} (created by #2 $.id) may be left on the target: its delete #6 got 500"
    ]
    fresh = SessionState(plan)
    fresh.observe(by_id[2], Outcome(status=500, body=b'{"error": "boom"}'))
    assert fresh.prepare(by_id[3]).blocked == (
        "not sent: needs kernel id from #2 $.id, which this run did not return"
    )


def test_minted_secret_replaces_the_recorded_credential_and_is_not_shown() -> None:
    redactor = Redactor()
    minted = "ek_0123456789abcdefLIVEKEY"
    raw = [
        http(1, "POST", "/v1/realtime/sessions", got={"client_secret": {"value": minted}}),
        Interaction(
            2,
            "websocket",
            Request("GET", "/v1/realtime", [("Authorization", f"Bearer {minted}")]),
            Response(101),
        ),
    ]
    found = infer_correlations(raw)
    written = [redactor.interaction(i) for i in raw]
    written[1].uses = [redactor.correlation(c) for c in found]
    assert minted not in dump_cassette(Cassette(Recording(), written))
    (use,) = written[1].uses
    assert use.value.startswith("<redacted:") and str(use.source) == "#1 $.client_secret.value"
    state = SessionState([("GET", use)])
    live = "ek_live_9876543210zyxwvut"
    state.observe(
        written[0],
        Outcome(status=200, body=json.dumps({"client_secret": {"value": live}}).encode()),
    )
    prepared = state.prepare(written[1])
    assert prepared.live_headers == [("Authorization", f"Bearer {live}")]
    assert live not in prepared.substitutions[0].text and live in state.secrets


def test_cookie_jar_sends_live_cookies_in_place_of_recorded_ones() -> None:
    state = SessionState([])
    state.observe(
        http(1, "POST", "/login", 302),
        Outcome(
            status=302,
            headers=[
                ("Set-Cookie", "session-8888=abc123; HttpOnly; Path=/"),
                ("Set-Cookie", "other=1; Path=/admin"),
            ],
        ),
    )
    later = http(2, "GET", "/api/me", headers=[("Cookie", "<redacted:3>")])
    assert state.prepare(later).live_headers == [("Cookie", "session-8888=abc123")]
    assert state.prepare(http(3, "GET", "/api/me")).live_headers == []  # none recorded


def test_retape_correlate_writes_uses_in_place(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(dump_cassette(Cassette(Recording(), session())))
    assert main(["correlate", str(path)]) == 0
    out = capsys.readouterr().out
    assert "updated" in out and "#6 path <- #2 $.id (kernel id)" in out
    text = path.read_text().replace(
        "  - name: kernel id\n", "  - name: kernel id\n    enabled: false\n", 1
    )
    path.write_text(text)
    assert main(["correlate", str(path)]) == 0  # a reviewed one stays as it was
    assert "#3 path <- #2 $.id (kernel id)  [disabled]" in capsys.readouterr().out
    assert load_cassette(path).interactions[2].uses[0].enabled is False
