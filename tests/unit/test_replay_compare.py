"""Deeper comparison, ignore rules, noise learning, probes and reports: the pure parts."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from retape.replayer.auth.credentials import Credentials
from retape.replayer.auth.probes import Probe, probe_credentials
from retape.replayer.compare.aspects import (
    ACCEPTED,
    CRASHED,
    Aspect,
    Comparison,
    judge,
    judge_probe,
    parse_aspects,
)
from retape.replayer.compare.body import compare_contents, parse_sse, read_content
from retape.replayer.compare.diff_json import MISSING, diff_json
from retape.replayer.compare.headers import compare_headers
from retape.replayer.compare.ignore import IgnoreRules, learn, parse_rule
from retape.replayer.compare.messages import compare_messages
from retape.replayer.config import load_config
from retape.replayer.noise.file import (
    InteractionRules,
    NoiseFile,
    dump_noise,
    noise_path,
    read_noise,
)
from retape.replayer.report.markdown import render_markdown
from retape.replayer.report.reproduce import curl_command, websocket_script
from retape.replayer.results import Outcome, Result, Summary

from retape.cassette.model import Body, Interaction, Message, Request, Response
from retape.common.errors import RetapeError
from tests.support import junit_report

SECRET = "sk-live-secret-0123456789abcdef"
COMPLETION = {
    "id": "chatcmpl-1",
    "created": 1700000000,
    "choices": [{"index": 0, "message": {"content": "hi"}, "finish_reason": "stop"}],
}


def texts(differences: list) -> list[str]:
    return [d.text for d in differences]


def server(kind: str, **fields: object) -> Message:
    return Message("server", 0.0, "json", {"type": kind, **fields})


# --- structural JSON diff ----------------------------------------------------------------------


def test_json_diff_is_path_level_and_readable() -> None:
    actual = {**COMPLETION, "choices": [{**COMPLETION["choices"][0], "finish_reason": "length"}]}
    assert texts(diff_json(COMPLETION, actual)) == [
        '$.choices[0].finish_reason: "stop" -> "length"'
    ]


def test_json_diff_names_lost_and_new_fields_and_items() -> None:
    found = diff_json({"a": 1, "list": [1, 2]}, {"list": [1], "b": None, "odd key": True})
    assert texts(found) == [
        "$.a: 1 -> (absent)",
        "$.list[1]: 2 -> (absent)",
        "$.b: (absent) -> null",
        "$['odd key']: (absent) -> true",
    ]
    assert found[0].to_json() == {
        "aspect": "body", "where": "", "path": "$.a", "expected": 1, "text": "$.a: 1 -> (absent)",
    }  # fmt: skip


def test_json_equality_is_json_not_python() -> None:
    assert diff_json({"n": 1, "f": 2.5}, {"n": 1.0, "f": 2.5}) == []
    assert texts(diff_json({"flag": True}, {"flag": 1})) == ["$.flag: true -> 1"]


# --- ignore rules ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rule", "path", "covered"),
    [
        ("$.id", ("id",), True),
        ("$.id", ("choices", 0, "id"), False),
        ("$..event_id", ("event_id",), True),
        ("$..event_id", ("session", "items", 3, "event_id"), True),
        ("$.choices[*].message", ("choices", 7, "message", "content"), True),
        ("$.choices[0]", ("choices", 1), False),
        ("$.data.*.id", ("data", "x", "id"), True),
        ("$['odd key'].v", ("odd key", "v"), True),
        ("$", ("anything",), True),
    ],
)
def test_ignore_rules_cover_a_place_and_everything_below(
    rule: str, path: tuple, covered: bool
) -> None:
    assert parse_rule(rule).covers(path) is covered


def test_header_rules_and_bad_rules() -> None:
    rules = IgnoreRules.parse(["header:X-Request-Id", "$.id"], where="test")
    assert rules.ignores_header("x-request-id") and rules.ignores(("id",))
    for bad in ["id", "$.a[", "$.a b"]:
        with pytest.raises(RetapeError, match="test"):
            IgnoreRules.parse([bad], where="test")


def test_ignored_fields_do_not_count() -> None:
    rules = IgnoreRules.parse(["$.id", "$.created"])
    fresh = {**COMPLETION, "id": "chatcmpl-2", "created": 1700000099}
    assert diff_json(COMPLETION, fresh, ignored=rules.ignores) == []


# --- noise learning ----------------------------------------------------------------------------


def test_learning_generalises_list_indices_and_skips_known_rules() -> None:
    first = {"id": "a", "items": [{"id": "x", "v": 1}, {"id": "y", "v": 2}], "stable": 1}
    second = {"id": "b", "items": [{"id": "z", "v": 1}, {"id": "w", "v": 2}], "stable": 1}
    assert learn(diff_json(first, second)) == ["$.id", "$.items[*].id"]
    known = IgnoreRules.parse(["$..id"])
    assert learn(diff_json(first, second), known=known) == []


def test_a_missing_message_is_never_learned_as_noise() -> None:
    recorded = [server("session.created"), server("transcription.done")]
    found = compare_messages(recorded, [server("session.created")], rules=IgnoreRules())
    assert learn(found) == []


def test_noise_file_round_trips_and_relearning_replaces_only_learned_rules(
    tmp_path: Path,
) -> None:
    path = noise_path(tmp_path / "chat.yaml")
    assert path.name == "chat.noise.toml"
    assert read_noise(path) == NoiseFile()
    mine = {3: InteractionRules(ignore=["$.mine"])}
    noise = NoiseFile(ignore=["$..event_id"], interactions=mine).relearned(
        {3: ["$.id", "$.created"]}
    )
    path.write_text(dump_noise(noise, cassette="chat.yaml", notes={3: {"$.id": "body"}}))
    assert '"$.id",  # body' in path.read_text()
    again = read_noise(path).relearned({3: ["$.id"], 5: ["header:x-trace"]})
    assert again.ignore == ["$..event_id"]
    assert again.interactions == {
        3: InteractionRules(ignore=["$.mine"], learned=["$.id"]),  # $.created dropped
        5: InteractionRules(learned=["header:x-trace"]),
    }
    rules = again.rules_for(5)
    assert rules.ignores(("session", "event_id")) and rules.ignores_header("X-Trace")
    assert not again.rules_for(4).ignores(("id",))
    assert again.user_rules_for(3).ignores(("mine",)) and not again.user_rules_for(3).ignores(
        ("id",)
    )
    assert again.relearned({5: []}).interactions.keys() == {3}  # nothing left: table gone


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("ignore = 'x'", "expected a list of strings"),
        ("ignore = ['id']", "not a JSON path"),
        ("[interactions.abc]\nignore = []", "expected an interaction id"),
        ("colour = 1", "unknown key 'colour'"),
    ],
)
def test_bad_noise_file_is_a_one_line_error(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "x.noise.toml"
    path.write_text(text)
    with pytest.raises(RetapeError, match=message):
        read_noise(path)


def test_pyproject_settings(tmp_path: Path) -> None:
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text(
        "[tool.retape.compare]\nignore = ['$.id']\nmessage_key = 'event'\n"
        "[tool.retape.auth_matrix]\nrefusal = [401, 403, 404]\npublic = ['/health']\n"
    )
    config = load_config(pyproject)
    assert config.ignore.ignores(("id",)) and config.message_key == "event"
    assert config.refusal == {401, 403, 404}
    assert config.is_public("/health?x=1") and not config.is_public("/v1/models")
    pyproject.write_text("[tool.retape.compare]\nignroe = []\n")
    with pytest.raises(RetapeError, match="unknown key 'ignroe'"):
        load_config(pyproject)


# --- bodies, headers, messages -----------------------------------------------------------------


def test_sse_compared_as_an_event_sequence() -> None:
    def stream(*reasons: str | None) -> bytes:
        events = [
            {"id": f"c-{n}", "choices": [{"delta": {}, "finish_reason": r}]}
            for n, r in enumerate(reasons)
        ]
        events.insert(1, {"note": "not a chunk"})
        return "".join(f"data: {json.dumps(e)}\n\n" for e in events).encode() + b"data: [DONE]\n\n"

    assert [d.key for d in parse_sse(": comment\nevent: ping\ndata: 1\n\ndata: [DONE]\n\n")] == [
        "ping",
        "[DONE]",
    ]
    rules = IgnoreRules.parse(["$.id"])
    same = compare_contents(
        read_content("sse", stream(None, "stop")), read_content("sse", stream(None, "stop")),
        rules=rules,
    )  # fmt: skip
    assert same == []
    changed = compare_contents(
        read_content("sse", stream(None, "stop")), read_content("sse", stream(None, "length")),
        rules=rules,
    )  # fmt: skip
    assert texts(changed) == ['event 3 (message) $.choices[0].finish_reason: "stop" -> "length"']


def test_json_expected_but_text_came_back() -> None:
    found = compare_contents(
        read_content("json", b'{"a": 1}'), read_content("json", b"oops"), rules=IgnoreRules()
    )
    assert texts(found) == ['expected json, got text $: "{\\"a\\": 1}" -> "oops"']


def test_headers_only_recorded_stable_ones_count() -> None:
    recorded = [("Date", "then"), ("Content-Type", "application/json"), ("X-Trace", "a")]
    recorded.append(("Set-Cookie", "s=<redacted:1>"))
    actual = [("date", "now"), ("content-type", "text/plain"), ("x-new", "1")]
    assert texts(compare_headers(recorded, actual, rules=IgnoreRules())) == [
        'header content-type: "application/json" -> "text/plain"',
        'header x-trace: "a" -> (absent)',
    ]
    quiet = IgnoreRules.parse(["header:content-type", "header:x-trace"])
    assert compare_headers(recorded, actual, rules=quiet) == []


def test_missing_server_message_is_named_in_the_sequence() -> None:
    recorded = [
        server("session.created"),
        Message("client", 0.0, "json", {"type": "session.update"}),
        server("session.updated"),
        server("transcription.done"),
    ]
    actual = [server("session.created"), server("session.updated")]
    found = compare_messages(recorded, actual, rules=IgnoreRules())
    assert texts(found) == [
        "messages by type: session.created, session.updated, transcription.done"
        " -> session.created, session.updated",
        "message 3: transcription.done -> (absent)",
    ]
    assert found[1].to_json()["expected"] == ["transcription.done"]
    assert "actual" not in found[1].to_json()


def test_message_content_diff_respects_rules() -> None:
    recorded = [server("session.created", event_id="e1", session={"model": "a"})]
    actual = [server("session.created", event_id="e2", session={"model": "b"})]
    found = compare_messages(recorded, actual, rules=IgnoreRules.parse(["$..event_id"]))
    assert texts(found) == ['message 1 (session.created) $.session.model: "a" -> "b"']


def test_deeper_aspects_only_once_the_status_matched() -> None:
    interaction = Interaction(
        1, "http", Request("GET", "/x"), Response(200, [], Body("json", COMPLETION))
    )
    comparison = Comparison(parse_aspects("body"))
    crashed = judge(interaction, Outcome(status=500, body=b"boom"), comparison=comparison,
                    rules=IgnoreRules())  # fmt: skip
    assert not crashed.ok and crashed.differences == []
    body = json.dumps({**COMPLETION, "id": "other"}).encode()
    verdict = judge(interaction, Outcome(status=200, body=body), comparison=comparison,
                    rules=IgnoreRules())  # fmt: skip
    assert texts(verdict.differences) == ['$.id: "chatcmpl-1" -> "other"']
    status_only = judge(interaction, Outcome(status=200, body=body), comparison=Comparison(),
                        rules=IgnoreRules())  # fmt: skip
    assert status_only.ok


def test_aspects_flag_lists_the_valid_values() -> None:
    assert parse_aspects("body, messages") == {Aspect.STATUS, Aspect.BODY, Aspect.MESSAGES}
    with pytest.raises(RetapeError, match="unknown aspect 'bodies' \\(expected status, headers"):
        parse_aspects("bodies")


# --- auth probes -------------------------------------------------------------------------------


def authed() -> Request:
    headers = [("Host", "h"), ("Authorization", "Bearer <redacted:1>"), ("X-Trace", "t")]
    return Request("GET", "/v1/models", headers, credentials=["authorization"])


def test_probe_credentials_drop_or_spoil_the_credential() -> None:
    live = Credentials((("Authorization", f"Bearer {SECRET}"), ("X-Api-Key", SECRET)))
    none = probe_credentials(Probe.NO_CREDENTIAL, authed(), live)
    assert none.headers_for(authed(), drop=frozenset({"host"})) == [("X-Trace", "t")]
    wrong = probe_credentials(Probe.WRONG_CREDENTIAL, authed(), live)
    assert wrong.headers == (
        ("Authorization", "Bearer retape-wrong-credential"),
        ("X-Api-Key", "retape-wrong-credential"),
    )
    # Without live credentials the recorded header (scheme kept) gets the wrong value.
    recorded = probe_credentials(Probe.WRONG_CREDENTIAL, authed(), Credentials(()))
    assert recorded.headers == (("Authorization", "Bearer retape-wrong-credential"),)


@pytest.mark.parametrize(
    ("status", "ok", "failure"),
    [(401, True, None), (403, True, None), (101, False, ACCEPTED), (200, False, ACCEPTED),
     (500, False, CRASHED), (404, False, None)],
)  # fmt: skip
def test_probe_verdicts(status: int, ok: bool, failure: str | None) -> None:
    verdict = judge_probe(Outcome(status=status), refusal=frozenset({401, 403}))
    assert (verdict.ok, verdict.failure) == (ok, failure)


# --- reports -----------------------------------------------------------------------------------


def probe_row(**fields: object) -> Result:
    base: dict[str, object] = {
        "cassette": "realtime.yaml", "id": 5, "type": "websocket", "method": "GET",
        "path": "/v1/realtime", "expected_status": None, "actual_status": 101, "ok": False,
        "probe": "no-credential", "expected_statuses": [401, 403], "failure": ACCEPTED,
    }  # fmt: skip
    return Result(**{**base, **fields})  # type: ignore[arg-type]


def test_probe_row_reads_as_a_security_failure() -> None:
    row = probe_row()
    assert row.title == "#5 websocket GET /v1/realtime [no-credential]"
    assert row.problem == f"{ACCEPTED}: expected 401 or 403, got 101"
    data = row.to_json()
    assert (data["probe"], data["expected_status"], data["expected_statuses"]) == (
        "no-credential", None, [401, 403],
    )  # fmt: skip
    assert set(data) == {
        "cassette", "id", "probe", "type", "method", "path", "expected_status",
        "expected_statuses", "actual_status", "ok", "error", "error_kind", "failure",
        "differences", "substitutions", "duration", "details",
    }  # fmt: skip


def test_junit_has_a_testcase_per_probe_with_the_diff_as_text(tmp_path: Path) -> None:
    differing = probe_row(
        probe=None, expected_status=101, expected_statuses=[101], failure=None,
        differences=compare_messages(
            [server("a"), server("b")], [server("a")], rules=IgnoreRules()
        ),
    )  # fmt: skip
    rows = [differing, probe_row(), probe_row(probe="wrong-credential", ok=True, failure=None)]
    root = ET.fromstring(junit_report(rows, tmp_path / "junit.xml"))
    cases = {c.get("name"): c for c in root.iter("testcase")}
    assert set(cases) == {
        "#5 websocket GET /v1/realtime",
        "#5 websocket GET /v1/realtime [no-credential]",
        "#5 websocket GET /v1/realtime [wrong-credential]",
    }
    failure = cases["#5 websocket GET /v1/realtime"].find("failure")
    assert failure is not None and failure.get("message") == "2 differences in messages"
    assert "message 2: b -> (absent)" in (failure.text or "")


def realtime() -> Interaction:
    request = Request(
        "GET", "/v1/realtime?model=x",
        [("Host", "h"), ("Authorization", "Bearer <redacted:1>"),
         ("Sec-WebSocket-Protocol", "realtime")],
        credentials=["authorization"],
    )  # fmt: skip
    messages = [
        server("session.created"),
        Message("client", 0.1, "json", {"type": "session.update"}),
        server("session.updated"),
    ]
    return Interaction(5, "websocket", request, Response(101), messages=messages)


def test_reproducers_never_hold_the_credential() -> None:
    live = Credentials((("Authorization", f"Bearer {SECRET}"),))
    chat = Interaction(
        3, "http",
        Request("POST", "/v1/chat?a=$b", [("Content-Type", "application/json"),
                                          ("Authorization", "Bearer <redacted:1>")],
                Body("json", {"q": "it's"}), ["authorization"]),
        Response(200),
    )  # fmt: skip
    curl = curl_command(chat, live=live, probe=None)
    assert curl.startswith('curl -sS -i \\\n  -X POST \\\n  "$TARGET/v1/chat?a=\\$b"')
    assert '-H "Authorization: Bearer $TOKEN"' in curl and SECRET not in curl
    assert curl.endswith('<<\'EOF\'\n{\n  "q": "it\'s"\n}\nEOF')
    script = websocket_script(realtime(), live=live, probe=None)
    assert SECRET not in script
    body = script.split("\n", 1)[1].rsplit("\n", 1)[0]
    compile(body, "reproducer", "exec")  # valid Python
    assert "('Authorization', 'Bearer ' + os.environ[\"TOKEN\"])" in body
    assert "([], 1, [])," in body  # turn 1: nothing to send, the server greets once
    assert """(['{"type":"session.update"}'], 1, []),""" in body
    assert "subprotocols=['realtime']" in body
    probe = websocket_script(realtime(), live=live, probe=Probe.WRONG_CREDENTIAL)
    assert "TURNS = []" in probe and "Bearer retape-wrong-credential" in probe


def test_markdown_report_explains_a_failing_websocket_probe() -> None:
    from retape.cassette.model import Cassette

    cassette = Cassette(interactions=[realtime()], path="realtime.yaml")
    rows = [probe_row(), probe_row(probe=None, expected_status=101, expected_statuses=[101],
                                   ok=True, failure=None)]  # fmt: skip
    text = render_markdown(
        rows, Summary.of(rows, duration=1.0), cassettes=[cassette],
        target="http://127.0.0.1:8000", credentials=Credentials((("Authorization", SECRET),)),
    )  # fmt: skip
    assert text.startswith("## retape replay: 1 of 2 rows failed")
    assert "### FAIL `realtime.yaml` `#5 websocket GET /v1/realtime [no-credential]`" in text
    assert "| sent | `GET /v1/realtime?model=x` websocket handshake, **no credential**" in text
    assert f"| got | `101`: **{ACCEPTED}** |" in text
    assert "```sh\npython - <<'EOF'" in text and "HEADERS = [('Sec-WebSocket-Protocol'" not in text
    assert SECRET not in text


def test_missing_value_renders_as_absent() -> None:
    assert repr(MISSING) == "(absent)"


def test_a_redacted_recorded_leaf_matches_any_live_value_but_not_a_missing_one() -> None:
    """The recording kept no value under a placeholder (a minted secret): nothing to compare."""
    recorded = {"client_secret": {"value": "<redacted:2>", "expires_at": "<redacted:3>"}}
    assert diff_json(recorded, {"client_secret": {"value": "ek_live", "expires_at": 17}}) == []
    missing = diff_json(recorded, {"client_secret": {"expires_at": 17}})
    assert [d.path for d in missing] == ["$.client_secret.value"]
    changed_shape = diff_json(
        recorded, {"client_secret": {"value": {"nested": 1}, "expires_at": 1}}
    )
    assert [d.path for d in changed_shape] == ["$.client_secret.value"]  # not a leaf any more
    assert diff_json({"note": "sent <redacted:1> here"}, {"note": "sent x here"}) != []
