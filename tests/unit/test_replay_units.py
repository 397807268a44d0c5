"""The replayer's pure parts, without a network: target URLs, credentials, verdicts, reports."""

from __future__ import annotations

import gzip
import io
import re
import xml.etree.ElementTree as ET
import zlib
from pathlib import Path

import pytest
from retape.replayer.auth.credentials import MASK, Credentials, credentials_from_args
from retape.replayer.compare.aspects import messages_note, passed
from retape.replayer.conversation import close_args
from retape.replayer.net.http import encode_body
from retape.replayer.net.target import parse_target
from retape.replayer.net.websocket import subprotocols_of
from retape.replayer.report.text import TextReport, format_result, format_summary, wants_colour
from retape.replayer.results import Result, Summary

from retape.cassette.model import Body, Close, Request
from retape.common.errors import RetapeError
from tests.support import cli, junit_report

SECRET = "s3cr3t-value-0123456789"


def row(**fields: object) -> Result:
    base: dict[str, object] = {
        "cassette": "demo.yaml",
        "id": 4,
        "type": "websocket",
        "method": "GET",
        "path": "/v1/realtime",
        "expected_status": 101,
        "actual_status": 500,
        "ok": False,
    }
    return Result(**{**base, **fields})  # type: ignore[arg-type]


# --- target ------------------------------------------------------------------------------------


def test_target_prefix_is_concatenated_before_the_recorded_path() -> None:
    target = parse_target("http://127.0.0.1:8000/api/")
    assert target.http_url("/v1/models?x=1") == "http://127.0.0.1:8000/api/v1/models?x=1"
    assert target.ws_url("/v1/realtime") == "ws://127.0.0.1:8000/api/v1/realtime"
    # Concatenation, not urljoin: a path can never replace the host or drop the prefix.
    assert target.http_url("//evil.example/x") == "http://127.0.0.1:8000/api//evil.example/x"
    assert target.http_url("/../x") == "http://127.0.0.1:8000/api/../x"


def test_target_without_prefix_and_https_maps_to_wss() -> None:
    assert parse_target("http://localhost:8000").http_url("/h") == "http://localhost:8000/h"
    assert parse_target("HTTPS://[::1]").ws_url("/ws") == "wss://[::1]/ws"
    assert str(parse_target("http://127.0.0.1:8000/api")) == "http://127.0.0.1:8000/api"


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ws://127.0.0.1:8000", "http:// or https://"),
        ("127.0.0.1:8000", "http:// or https://"),
        ("http://", "no host"),
        ("http://127.0.0.1:99999", "invalid URL"),
        ("http://127.0.0.1:8000/?x=1", "query or fragment"),
    ],
)
def test_bad_target_urls_are_user_errors(url: str, message: str) -> None:
    with pytest.raises(RetapeError, match=message):
        parse_target(url)


def test_target_with_userinfo_is_refused_without_echoing_it() -> None:
    with pytest.raises(RetapeError) as info:
        parse_target(f"http://me:{SECRET}@127.0.0.1:8000")
    assert SECRET not in str(info.value)


# --- credentials -------------------------------------------------------------------------------


def recorded(*, credentials: list[str]) -> Request:
    return Request(
        "GET",
        "/v1/models",
        [
            ("Host", "recorded.example"),
            ("Authorization", "Bearer <redacted:1>"),
            ("X-Api-Key", "<redacted:2>"),
            ("X-Note", "uses <redacted:3> inside"),
            ("X-Trace", "t-1"),
        ],
        credentials=credentials,
    )


def test_bearer_and_header_values_come_from_the_environment() -> None:
    creds = credentials_from_args(
        bearer_env="TOKEN",
        header_specs=["X-Api-Key: key-${KEY}-${REGION}", "X-Tenant: acme"],
        environ={"TOKEN": SECRET, "KEY": "k1", "REGION": "eu"},
    )
    assert creds.headers == (
        ("Authorization", f"Bearer {SECRET}"),
        ("X-Api-Key", "key-k1-eu"),
        ("X-Tenant", "acme"),
    )
    assert SECRET not in repr(creds)


@pytest.mark.parametrize(
    ("bearer", "specs", "environ", "message"),
    [
        ("TOKEN", [], {}, "--bearer-env: environment variable TOKEN is not set"),
        ("TOKEN", [], {"TOKEN": ""}, "--bearer-env: environment variable TOKEN is empty"),
        (None, ["X-Key: ${KEY}"], {}, "--header X-Key: environment variable KEY is not set"),
        (None, ["X-Key: ${KEY"], {"KEY": SECRET}, "unterminated"),
        (None, ["X-Key: ${1BAD}"], {}, "not an environment variable name"),
        (None, ["X-Key: ${KEY}"], {"KEY": "a\r\nX-Evil: 1"}, "KEY contains a line break"),
        ("TOKEN", ["authorization: x"], {"TOKEN": SECRET}, "both set Authorization"),
    ],
)
def test_credential_mistakes_name_the_variable_never_the_value(
    bearer: str | None, specs: list[str], environ: dict[str, str], message: str
) -> None:
    with pytest.raises(RetapeError, match=message) as info:
        credentials_from_args(bearer_env=bearer, header_specs=specs, environ=environ)
    assert SECRET not in str(info.value)


def test_malformed_header_flag_does_not_echo_its_text() -> None:
    with pytest.raises(RetapeError, match="expects 'Name: ") as info:
        credentials_from_args(bearer_env=None, header_specs=[f"Bearer {SECRET}"], environ={})
    assert SECRET not in str(info.value)


def test_live_credentials_replace_recorded_ones_and_placeholders_are_never_sent() -> None:
    creds = Credentials((("Authorization", f"Bearer {SECRET}"),))
    sent = creds.headers_for(
        recorded(credentials=["authorization", "x-api-key"]), drop=frozenset({"host"})
    )
    assert sent == [("X-Trace", "t-1"), ("Authorization", f"Bearer {SECRET}")]


def test_credentials_are_only_sent_where_the_recording_had_them() -> None:
    creds = Credentials((("Authorization", f"Bearer {SECRET}"),))
    sent = creds.headers_for(recorded(credentials=[]), drop=frozenset())
    assert sent == [("Host", "recorded.example"), ("X-Trace", "t-1")]


def test_scrub_masks_credential_values_in_library_messages() -> None:
    creds = Credentials((("Authorization", f"Bearer {SECRET}"), ("X-Key", "other-secret")))
    text = f"bad header value 'Bearer {SECRET}' and {SECRET} and other-secret"
    assert creds.scrub(text) == f"bad header value '{MASK}' and {MASK} and {MASK}"


# --- compare -----------------------------------------------------------------------------------


def test_status_must_match_exactly_and_errors_never_pass() -> None:
    assert passed(expected_status=101, actual_status=101, error=None)
    assert not passed(expected_status=101, actual_status=500, error=None)
    assert not passed(expected_status=200, actual_status=None, error=None)
    assert not passed(expected_status=200, actual_status=200, error="incomplete response body")


def test_messages_note_only_when_the_conversation_ran_short() -> None:
    full = {"server_messages_expected": 3, "server_messages_received": 3}
    assert messages_note(full) is None
    short = {**full, "server_messages_received": 1, "note": "timeout after 1s"}
    assert messages_note(short) == "received 1 of 3 server messages: timeout after 1s"
    assert messages_note({}) is None


# --- websocket and http helpers ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("close", "expected"),
    [
        (Close(1000, "bye", "client"), (1000, "bye")),
        (Close(4001, "custom", "client"), (4001, "custom")),
        (Close(1005, "", "client"), (1000, "")),  # "no code": not sendable
        (Close(1006, "", "none"), (1000, "")),  # "dropped": not sendable
        (Close(None, "", "none"), (1000, "")),
        (Close(1000, "x" * 200, "client"), (1000, "")),
        (None, (1000, "")),
    ],
)
def test_close_args_send_the_recorded_close_when_the_protocol_allows(
    close: Close | None, expected: tuple[int, str]
) -> None:
    assert close_args(close) == expected


def test_subprotocols_come_from_the_recorded_handshake_in_order() -> None:
    headers = [("Sec-WebSocket-Protocol", "realtime, v2"), ("sec-websocket-protocol", "v3")]
    assert subprotocols_of(headers) == ["realtime", "v2", "v3"]
    assert subprotocols_of([("Upgrade", "websocket")]) == []


def test_request_bodies_are_compressed_again_when_the_stdlib_can() -> None:
    data, header = encode_body(Body("text", "hello", "gzip"), "gzip")
    assert gzip.decompress(data or b"") == b"hello" and header == ("Content-Encoding", "gzip")
    data, header = encode_body(Body("text", "hello", "deflate"), "deflate")
    assert zlib.decompress(data or b"") == b"hello"
    assert encode_body(Body("text", "hello", "br"), "br") == (b"hello", None)
    assert encode_body(Body("json", {"a": 1}), None) == (b'{"a":1}', None)
    assert encode_body(None, None) == (None, None)


# --- results and reports -----------------------------------------------------------------------


def test_text_line_shows_the_status_change() -> None:
    line = format_result(row())
    assert line == "FAIL   demo.yaml #4  websocket GET /v1/realtime  expected 101, got 500"
    assert format_result(row(actual_status=101, ok=True)).startswith("PASS   ")
    error = format_result(row(actual_status=None, error="timeout after 10s"))
    assert error.endswith("expected 101, got timeout after 10s") and error.startswith("ERROR")


def test_text_line_escapes_control_characters_from_cassettes() -> None:
    line = format_result(row(path="/x\x1b[2J\n"))
    assert "\x1b" not in line and "\n" not in line and "\\x1b[2J\\n" in line


def test_colour_only_on_a_terminal_outside_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.delenv("CI", raising=False)
    assert wants_colour(Terminal()) and not wants_colour(io.StringIO())
    monkeypatch.setenv("CI", "true")
    assert not wants_colour(Terminal())


def test_colour_changes_nothing_but_colour() -> None:
    plain, coloured = io.StringIO(), io.StringIO()
    long_path = "/v1/realtime" + "/x" * 60  # longer than any terminal: still one line
    for stream, colour in ((plain, False), (coloured, True)):
        report = TextReport(stream, colour=colour)
        report.result(row(path=long_path))
        report.summary(Summary.of([row()], duration=1.0))
    assert "\x1b[" in coloured.getvalue()
    assert re.sub("\x1b\\[[0-9;]*m", "", coloured.getvalue()) == plain.getvalue()
    assert len(plain.getvalue().splitlines()) == 2


def test_summary_counts_and_line() -> None:
    rows = [row(ok=True, actual_status=101), row(), row(actual_status=None, error="timeout")]
    summary = Summary.of(rows, duration=1.5)
    assert (summary.total, summary.passed, summary.failed, summary.errors) == (3, 1, 1, 1)
    assert format_summary(summary) == "3 interactions: 1 passed, 1 failed, 1 error in 1.50s"
    assert not summary.all_passed


def test_junit_has_a_suite_per_cassette_and_survives_odd_characters(tmp_path: Path) -> None:
    rows = [
        row(),
        row(id=5, type="http", path="/bad\x00\x1b", actual_status=None, error="timeout"),
        row(cassette="other.yaml", id=1, actual_status=101, ok=True),
    ]
    root = ET.fromstring(junit_report(rows, tmp_path / "junit.xml"))
    suites = root.findall("testsuite")
    assert [s.get("name") for s in suites] == ["demo.yaml", "other.yaml"]
    first = suites[0].findall("testcase")
    assert first[0].get("name") == "#4 websocket GET /v1/realtime"
    assert first[0].find("failure").get("message") == "expected 101, got 500"  # type: ignore[union-attr]
    assert first[1].find("error") is not None
    assert suites[1].find("testcase/failure") is None


# --- the command -------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["0", "-1", "nan", "soon"])
def test_timeout_must_be_a_positive_number(value: str) -> None:
    result = cli("replay", "x.yaml", "--target", "http://127.0.0.1:9", "--timeout", value)
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1
    assert "--timeout" in result.stderr
