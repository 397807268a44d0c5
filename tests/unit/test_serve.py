"""The mock server's matching (pure) and its answers, in process on loopback."""

from __future__ import annotations

import asyncio
import json

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from retape.cassette.model import Body, Close, Interaction, Message, Request, Response
from retape.serve.match import Incoming, Matcher, Miss, Recorded
from retape.serve.server import MockServer, stream_pieces


def _http(ident: int, method: str, path: str, status: int, *, body=None, reply=None,
          credentials=(), headers=()) -> Interaction:  # fmt: skip
    return Interaction(
        id=ident,
        type="http",
        request=Request(method, path, [], body, list(credentials)),
        response=Response(status, [("content-type", "application/json"), *headers], reply),
    )


def _incoming(method="GET", path="/v1/models", query=(), body=b"", credential=True) -> Incoming:
    return Incoming(method, path, tuple(query), body, credential, websocket=False)


def _matcher(*interactions: Interaction) -> Matcher:
    return Matcher([Recorded("c.yaml", i, n) for n, i in enumerate(interactions)])


def test_credential_presence_chooses_the_recorded_answer() -> None:
    matcher = _matcher(
        _http(1, "GET", "/v1/models", 200, credentials=["authorization"]),
        _http(2, "GET", "/v1/models", 401),
    )
    assert matcher.match(_incoming(credential=False)).interaction.id == 2
    assert matcher.match(_incoming(credential=True)).interaction.id == 1


def test_identical_requests_are_answered_in_recorded_order_then_the_last_again() -> None:
    matcher = _matcher(*(_http(n, "GET", "/poll", 200 + n) for n in (1, 2, 3)))
    seen = [matcher.match(_incoming(path="/poll", credential=False)) for _ in range(4)]
    assert [r.interaction.id for r in seen] == [1, 2, 3, 3]
    assert matcher.unused() == []


def test_query_in_any_order_and_placeholders_match_any_value() -> None:
    matcher = _matcher(
        _http(1, "GET", "/search?b=2&key=<redacted:1>&a=1", 200),
        _http(2, "POST", "/v1/chat", 200, body=Body("json", {"token": "<redacted:2>", "n": 1})),
    )
    query = [("a", "1"), ("b", "2"), ("key", "real-secret")]
    assert (
        matcher.match(_incoming(path="/search", query=query, credential=False)).interaction.id == 1
    )
    sent = json.dumps({"n": 1, "token": "sk-live-value"}).encode()
    assert (
        matcher.match(_incoming("POST", "/v1/chat", body=sent, credential=False)).interaction.id
        == 2
    )


def test_a_miss_names_the_closest_interaction_and_what_differs() -> None:
    matcher = _matcher(
        _http(1, "GET", "/v1/models", 200, credentials=["authorization"]),
        _http(2, "POST", "/v1/chat", 200, body=Body("json", {"model": "m", "n": 1})),
    )
    miss = matcher.match(_incoming("POST", "/v1/chat", body=b'{"model": "m", "n": 2}',
                                   credential=False))  # fmt: skip
    assert isinstance(miss, Miss)
    assert miss.closest.interaction.id == 2
    assert miss.why == ["body $.n: 2, recorded 1"]
    miss = matcher.match(_incoming("GET", "/v1/model", credential=False))
    assert miss.closest.interaction.id == 1
    assert miss.why == [
        "path /v1/model, recorded /v1/models",
        "no credential sent, the recording had one",
    ]
    assert [r.interaction.id for r in matcher.unused()] == [1, 2]


def test_stream_pieces_cut_at_event_boundaries_and_lose_nothing() -> None:
    data = b"data: 1\n\ndata: 2\n\ndata: [DONE]\n\n"
    assert stream_pieces(data, sse=True) == [b"data: 1\n\n", b"data: 2\n\n", b"data: [DONE]\n\n"]
    assert b"".join(stream_pieces(b"a\nb\nc", sse=False)) == b"a\nb\nc"


def _session(close: Close) -> Interaction:
    return Interaction(
        id=1,
        type="websocket",
        request=Request("GET", "/ws", [], None, ["authorization"]),
        response=Response(101, [("Sec-WebSocket-Protocol", "realtime")]),
        messages=[
            Message("server", 0.0, "json", {"type": "hello", "id": "sess_0123456789"}),
            Message("client", 0.01, "json", {"type": "use", "id": "sess_0123456789"}),
            Message("server", 0.02, "text", "token <redacted:3> stays"),
            Message("server", 0.03, "base64", "AAEC"),
        ],
        close=close,
    )


async def _serve_session(close: Close, send: dict) -> tuple[list, int | None, MockServer]:
    mock = MockServer([Recorded("c.yaml", _session(close), 0)], speed=0, log=lambda _: None)
    async with (
        TestServer(mock.app(), host="127.0.0.1") as server,
        aiohttp.ClientSession() as client,
    ):
        ws = await client.ws_connect(
                server.make_url("/ws"), protocols=["realtime"],
                headers={"Authorization": "Bearer live"},
            )  # fmt: skip
        got = [json.loads((await ws.receive(timeout=5)).data)]
        await ws.send_str(json.dumps(send))
        got.append((await ws.receive(timeout=5)).data)
        got.append((await ws.receive(timeout=5)).data)
        assert ws.protocol == "realtime"
        if close.by == "server":
            end = await ws.receive(timeout=5)
            assert end.type == aiohttp.WSMsgType.CLOSE
        else:
            await ws.close()
        return got, ws.close_code, mock


def test_websocket_session_plays_turn_by_turn_and_keeps_placeholders() -> None:
    hello = {"type": "use", "id": "sess_0123456789"}  # the id the mock handed out
    got, code, mock = asyncio.run(_serve_session(Close(4001, "policy", "server"), hello))
    assert got == [{"type": "hello", "id": "sess_0123456789"}, "token <redacted:3> stays",
                   b"\x00\x01\x02"]  # fmt: skip
    assert code == 4001
    assert mock.report.diverged == []


def test_a_client_turn_that_differs_is_reported_and_the_session_goes_on() -> None:
    got, _, mock = asyncio.run(_serve_session(Close(1000), {"type": "other"}))
    assert got[1] == "token <redacted:3> stays"
    assert mock.report.diverged == ["c.yaml#1 GET /ws: message 2: $.type: 'other', recorded 'use'"]


async def _get(mock: MockServer, path: str, **kwargs) -> tuple[int, dict, bytes]:
    server = TestServer(mock.app(), host="127.0.0.1")
    async with server, aiohttp.ClientSession(auto_decompress=False) as client:
        response = await client.get(server.make_url(path), **kwargs)
        return response.status, dict(response.headers), await response.read()


def test_http_answer_is_the_recorded_one_re_encoded_placeholders_kept() -> None:
    reply = Body("json", {"key": "<redacted:1>"}, content_encoding="gzip")
    interaction = _http(1, "GET", "/x", 418, reply=reply,
                        headers=[("Content-Encoding", "gzip"), ("X-Trace", "t1")])  # fmt: skip
    mock = MockServer([Recorded("c.yaml", interaction, 0)], speed=0, log=lambda _: None)
    status, headers, data = asyncio.run(_get(mock, "/x"))
    import gzip

    assert status == 418
    assert headers["X-Trace"] == "t1" and headers["Content-Encoding"] == "gzip"
    assert json.loads(gzip.decompress(data)) == {"key": "<redacted:1>"}


def test_unmatched_http_is_a_404_document() -> None:
    mock = MockServer([Recorded("c.yaml", _http(1, "GET", "/x", 200), 0)], speed=0,
                      log=lambda _: None)  # fmt: skip
    status, headers, data = asyncio.run(_get(mock, "/y"))
    assert status == 404 and headers["X-Retape-Unmatched"] == "1"
    assert json.loads(data) == {
        "error": "retape serve: no recorded interaction matches GET /y",
        "closest": "c.yaml#1 GET /x",
        "differs": ["path /y, recorded /x"],
    }
    assert mock.report.unmatched[0].request == "GET /y"


@pytest.mark.parametrize("listen", ["8080", "host:port", ":99999"])
def test_listen_must_be_host_and_port(listen: str, capsys) -> None:
    from retape.cli import main

    with pytest.raises(SystemExit) as exited:
        main(["serve", "x.yaml", "--listen", listen])
    assert exited.value.code == 2
    assert "expected HOST:PORT" in capsys.readouterr().err
