"""The Recorder addon against mitmproxy's own test flows: every write path, no network.

An integration test since the addon writes through its writer process (recorder/sink.py).
"""

from __future__ import annotations

import gzip
import hashlib
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from mitmproxy import exceptions, http
from mitmproxy.test import taddons, tflow, tutils
from mitmproxy.websocket import WebSocketMessage
from retape.recorder.addon import Recorder
from retape.recorder.capture import BodyCapture, stream_for
from retape.recorder.convert import http_interaction, websocket_interaction
from retape.recorder.guard import interaction_problem
from wsproto.frame_protocol import CloseReason, Opcode

from retape.cassette import CassetteError, load_cassette
from retape.cassette.redact import Redactor
from retape.cassette.validate import validate_data

SECRETS = {
    "Authorization": "Bearer tok-authorization-0123456789",
    "Proxy-Authorization": "Basic cHJveHk6c2VjcmV0LXByb3h5LTAxMjM=",
    "Cookie": "session=cookie-secret-0123456789; theme=dark",
    "X-Api-Key": "xapikey-secret-0123456789",
    "Api-Key": "apikey-secret-0123456789",
    "X-Custom-Token": "custom-secret-0123456789",
}
SET_COOKIES = ["sid=setcookie-secret-0123456789; Path=/; HttpOnly", "csrf=csrf-secret-0123456789"]
SECRET_FRAGMENTS = [
    "tok-authorization-0123456789",
    "cHJveHk6c2VjcmV0LXByb3h5LTAxMjM=",
    "cookie-secret-0123456789",
    "xapikey-secret-0123456789",
    "apikey-secret-0123456789",
    "custom-secret-0123456789",
    "setcookie-secret-0123456789",
    "csrf-secret-0123456789",
]


@pytest.fixture
def recording(tmp_path: Path) -> Iterator[tuple[Recorder, Path]]:
    recorder = Recorder()
    out = tmp_path / "c.yaml"
    with taddons.context(recorder) as tctx:
        tctx.configure(
            recorder,
            retape_out=str(out),
            retape_upstream="http://upstream.test",
            retape_redact_headers=["X-Custom-Token"],
        )
        yield recorder, out
        recorder.done()


def credential_request(**kwargs) -> http.Request:
    fields = [(name.encode(), value.encode()) for name, value in SECRETS.items()]
    fields.append((b"Content-Type", b"application/json"))
    return tutils.treq(headers=http.Headers(fields), **kwargs)


def credential_response(**kwargs) -> http.Response:
    fields = [(b"Set-Cookie", value.encode()) for value in SET_COOKIES]
    fields.append((b"Content-Type", b"application/json"))
    return tutils.tresp(headers=http.Headers(fields), **kwargs)


def assert_no_secret(out: Path) -> None:
    text = out.read_text()
    for fragment in SECRET_FRAGMENTS:
        assert fragment not in text


def test_http_exchange_redacts_every_credential_header_both_ways(recording):
    recorder, out = recording
    echo = json.dumps({"you_sent": SECRETS["X-Api-Key"]}).encode()
    flow = tflow.tflow(
        req=credential_request(path=b"/v1/x?key=" + SECRETS["Api-Key"].encode(), content=b"{}"),
        resp=credential_response(content=echo),
    )
    recorder.response(flow)
    recorder.done()

    assert_no_secret(out)
    (interaction,) = load_cassette(out).interactions
    assert interaction.type == "http"
    request, response = interaction.request, interaction.response
    assert request.credentials == [
        "authorization",
        "proxy-authorization",
        "cookie",
        "x-api-key",
        "api-key",
        "x-custom-token",
    ]
    assert [name for name, _ in request.headers] == [*SECRETS, "Content-Type"]
    assert dict(request.headers)["Authorization"].startswith("Bearer <redacted:")
    assert dict(request.headers)["Proxy-Authorization"].startswith("Basic <redacted:")
    assert request.path.startswith("/v1/x?key=<redacted:")
    set_cookies = [value for name, value in response.headers if name == "Set-Cookie"]
    assert len(set_cookies) == 2
    assert all(value.startswith("<redacted:") for value in set_cookies)
    assert response.body is not None
    assert response.body.value["you_sent"].startswith("<redacted:")


def test_same_secret_gets_the_same_placeholder_across_interactions(recording):
    recorder, out = recording
    for _ in range(2):
        recorder.response(tflow.tflow(req=credential_request(), resp=True))
    recorder.done()
    first, second = load_cassette(out).interactions
    assert first.request.headers == second.request.headers
    assert [first.id, second.id] == [1, 2]


def test_echoed_secret_gets_the_placeholder_of_its_header(recording):
    recorder, out = recording
    token = "tok-authorization-0123456789"
    request = tutils.treq(headers=http.Headers(authorization=f"Bearer {token}"), content=b"")
    response = tutils.tresp(
        headers=http.Headers(content_type="text/plain"), content=f"you are {token}".encode()
    )
    recorder.response(tflow.tflow(req=request, resp=response))
    recorder.done()

    (interaction,) = load_cassette(out).interactions
    assert interaction.request.headers == [("authorization", "Bearer <redacted:1>")]
    assert interaction.response.body is not None
    assert interaction.response.body.value == "you are <redacted:1>"


def test_websocket_session_redacts_handshake_and_messages(recording):
    recorder, out = recording
    flow = tflow.twebsocketflow(close_code=CloseReason.GOING_AWAY, close_reason="bye")
    flow.request = credential_request(path=b"/v1/realtime", content=b"")
    flow.request.headers["Upgrade"] = "websocket"
    flow.response = credential_response(status_code=101, content=b"")
    flow.websocket.closed_by_client = False
    flow.websocket.messages = [
        WebSocketMessage(Opcode.TEXT, True, b'{"type":"hello"}', timestamp=1.0),
        WebSocketMessage(Opcode.TEXT, False, SECRETS["X-Api-Key"].encode(), timestamp=2.0),
        WebSocketMessage(
            Opcode.BINARY, False, b"\x00\x01" + SECRETS["Api-Key"].encode(), timestamp=3.0
        ),
    ]
    recorder.websocket_start(flow)
    recorder.websocket_end(flow)
    recorder.done()

    assert_no_secret(out)
    (interaction,) = load_cassette(out).interactions
    assert interaction.type == "websocket"
    assert interaction.response.status == 101
    assert interaction.request.credentials[0] == "authorization"
    assert [(m.sender, m.kind) for m in interaction.messages] == [
        ("client", "json"),
        ("server", "text"),
        ("server", "base64"),
    ]
    assert interaction.messages[1].value.startswith("<redacted:")
    assert interaction.close is not None
    assert (interaction.close.code, interaction.close.reason, interaction.close.by) == (
        1001,
        "bye",
        "server",
    )
    assert type(interaction.close.code) is int


def test_rejected_handshake_recorded_as_websocket_with_status(recording):
    recorder, out = recording
    request = credential_request(path=b"/v1/realtime", content=b"")
    request.headers["Upgrade"] = "websocket"
    response = credential_response(status_code=401, reason=b"Unauthorized")
    response.content = b'{"error":"Unauthorized"}'
    recorder.response(tflow.tflow(req=request, resp=response))
    recorder.done()

    assert_no_secret(out)
    (interaction,) = load_cassette(out).interactions
    assert interaction.type == "websocket"
    assert interaction.response.status == 401
    assert interaction.response.body is not None
    assert interaction.response.body.value == {"error": "Unauthorized"}
    assert interaction.messages == []
    assert interaction.close is None


def test_session_open_at_shutdown_is_written_as_dropped(recording):
    recorder, out = recording
    flow = tflow.twebsocketflow()
    flow.request = credential_request(path=b"/v1/realtime", content=b"")
    flow.websocket.close_code = None
    recorder.websocket_start(flow)
    recorder.done()  # mitmproxy's shutdown, before the session ended

    assert_no_secret(out)
    (interaction,) = load_cassette(out).interactions
    assert interaction.close is not None
    assert (interaction.close.code, interaction.close.by) == (1006, "none")


def test_accepted_handshake_waits_for_websocket_end(recording):
    recorder, out = recording
    recorder.response(tflow.twebsocketflow())
    recorder.done()
    assert load_cassette(out).interactions == []


def test_bodies_are_stored_decoded_with_their_encoding_noted(recording):
    recorder, out = recording
    request = tutils.treq(
        headers=http.Headers(content_type="application/json", content_encoding="gzip"),
        content=gzip.compress(b'{"a": 1}'),
    )
    response = tutils.tresp(
        headers=http.Headers(content_type="application/json", content_encoding="gzip"),
        content=b"\x1f\x8b not really gzip",
    )
    recorder.response(tflow.tflow(req=request, resp=response))
    recorder.done()

    (interaction,) = load_cassette(out).interactions
    body = interaction.request.body
    assert body is not None
    assert (body.kind, body.value, body.content_encoding) == ("json", {"a": 1}, "gzip")
    raw = interaction.response.body
    assert raw is not None
    assert (raw.kind, raw.content_encoding) == ("base64", None)
    assert raw.to_bytes() == b"\x1f\x8b not really gzip"


def test_streamed_response_is_recorded_from_the_capture(recording):
    recorder, out = recording
    response = tutils.tresp(headers=http.Headers(content_type="text/event-stream"), content=None)
    flow = tflow.tflow(resp=response)
    recorder.responseheaders(flow)
    tee = flow.response.stream
    assert isinstance(tee, BodyCapture)
    assert tee(b"data: 1\n\n") == b"data: 1\n\n"
    tee(b"data: [DONE]\n\n")
    tee(b"")
    recorder.response(flow)
    recorder.done()

    (interaction,) = load_cassette(out).interactions
    assert interaction.response.body is not None
    assert interaction.response.body.value == "data: 1\n\ndata: [DONE]\n\n"


def test_interaction_the_schema_rejects_is_skipped_not_written(recording, caplog):
    recorder, out = recording
    recorder.response(tflow.tflow(req=tutils.treq(method=b"GET\x01"), resp=True))
    recorder.response(tflow.tflow(resp=True))
    recorder.done()

    (interaction,) = load_cassette(out).interactions  # the file still loads
    assert interaction.id == 1
    assert "not recorded" in caplog.text


def test_failed_upstream_is_logged_not_recorded(recording, caplog):
    recorder, out = recording
    recorder.error(tflow.tflow(req=tutils.treq(path=b"/v1/x?key=secret-in-query"), err=True))
    recorder.done()
    assert load_cassette(out).interactions == []
    assert "not recorded: GET request failed" in caplog.text
    assert "secret-in-query" not in caplog.text
    assert "/v1/x" not in caplog.text  # a path can hold a token too (webhooks, bot APIs)


def test_second_recorder_on_the_same_cassette_is_refused(recording):
    _, out = recording
    other = Recorder()
    with taddons.context(other) as tctx, pytest.raises(exceptions.OptionsError, match="another"):
        tctx.configure(other, retape_out=str(out))


def test_bad_redact_header_name_is_refused(tmp_path):
    recorder = Recorder()
    with taddons.context(recorder) as tctx, pytest.raises(exceptions.OptionsError, match="header"):
        tctx.configure(
            recorder, retape_out=str(tmp_path / "c.yaml"), retape_redact_headers=["X Bad"]
        )


def test_capture_keeps_up_to_the_cap_then_only_size_and_hash():
    data = [b"a" * 60, b"b" * 60]
    under, over, announced = BodyCapture(120), BodyCapture(100), BodyCapture(100, keep=False)
    for capture in (under, over, announced):
        assert [capture(chunk) for chunk in data] == data  # every chunk passes through
    assert (under.over_limit, under.content()) == (False, b"".join(data))
    digest = hashlib.sha256(b"".join(data)).hexdigest()
    for capture in (over, announced):
        assert (capture.over_limit, capture.content(), capture.size) == (True, b"", 120)
        assert capture.sha256() == digest


@pytest.mark.parametrize(
    ("headers", "streamed", "keeps"),
    [
        ({"content-type": "text/event-stream", "content-length": "10"}, True, True),
        ({"transfer-encoding": "chunked"}, True, True),
        ({}, True, True),  # read until the connection closes
        ({"content-length": "101"}, True, False),
        ({"content-length": "100"}, False, None),  # buffered: written before forwarding
    ],
)
def test_bodies_stream_when_unbounded_or_over_the_cap(headers, streamed, keeps):
    capture = stream_for(tutils.tresp(headers=http.Headers(**headers)), 100)
    assert (capture is not None) == streamed
    if capture is not None:
        capture(b"x")
        assert capture.over_limit is not keeps


def test_body_over_the_cap_once_decoded_is_noted_not_stored(tmp_path):
    recorder, out = Recorder(), tmp_path / "c.yaml"
    bomb = gzip.compress(bytes(1024 * 1024))
    with taddons.context(recorder) as tctx:
        tctx.configure(recorder, retape_out=str(out), retape_max_body=64 * 1024)
        response = tutils.tresp(headers=http.Headers(content_encoding="gzip"), content=bomb)
        recorder.response(tflow.tflow(resp=response))
        recorder.done()

    (interaction,) = load_cassette(out).interactions
    note = interaction.response.body
    assert note is not None and note.is_omitted
    assert (note.size, note.sha256) == (len(bomb), hashlib.sha256(bomb).hexdigest())
    assert note.content_encoding == "gzip"


def test_negative_max_body_is_refused(tmp_path):
    recorder = Recorder()
    with taddons.context(recorder) as tctx, pytest.raises(exceptions.OptionsError, match="0 or"):
        tctx.configure(recorder, retape_out=str(tmp_path / "c.yaml"), retape_max_body=-1)


def nested(depth: int) -> bytes:
    return b'{"a":' * depth + b"1" + b"}" * depth


@pytest.mark.parametrize(
    "flow",
    [
        tflow.tflow(req=tutils.treq(method=b"M SEARCH"), resp=True),
        tflow.tflow(req=tutils.treq(path=b"//elsewhere/x"), resp=True),
        tflow.tflow(req=tutils.treq(path=b"*"), resp=True),
        tflow.tflow(resp=tutils.tresp(status_code=600)),
        tflow.tflow(resp=tutils.tresp(content=b'{"loss": NaN}')),
        tflow.tflow(resp=tutils.tresp(headers=((b"Host ", b"x"),))),
    ],
    ids=["method", "scheme-relative-path", "asterisk-path", "status", "nan", "header-name"],
)
def test_what_the_schema_refuses_the_cheap_guard_refuses_too(flow):
    flow.response.headers["content-type"] = "application/json"
    data = http_interaction(flow, Redactor(), 0.0).to_data()
    assert interaction_problem(data) is not None
    with pytest.raises(CassetteError):
        validate_data({"retape": 1, "interactions": [{**data, "id": 1}]}, path="x", text="")


def test_json_nested_past_the_bound_is_kept_as_text_not_refused():
    flow = tflow.tflow(resp=tutils.tresp(content=nested(300)))
    flow.response.headers["content-type"] = "application/json"
    data = http_interaction(flow, Redactor(), 0.0).to_data()
    assert interaction_problem(data) is None
    assert data["response"]["body"]["text"] == nested(300).decode()
    validate_data({"retape": 1, "interactions": [{**data, "id": 1}]}, path="x", text="")


def test_guard_passes_what_the_schema_passes():
    flows = [
        tflow.tflow(resp=True),
        tflow.tflow(req=credential_request(content=b'{"a": [1, 2.5, null]}'), resp=True),
        tflow.twebsocketflow(),
    ]
    for flow in flows:
        if flow.websocket is not None:
            data = websocket_interaction(flow, Redactor(), 0.0).to_data()
        else:
            data = http_interaction(flow, Redactor(), 0.0).to_data()
        assert interaction_problem(data) is None
        validate_data({"retape": 1, "interactions": [{**data, "id": 1}]}, path="x", text="")
