"""Issue 12's bar for recording: secrets planted in every place, by real clients through
the real recorder, leave nothing in the cassette; ``scan`` flags a hand-planted one of
each shape; ``redact`` and ``scan`` agree."""

from __future__ import annotations

import base64
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
from websockets.sync.client import connect

from demo.processes import free_port, recording, running
from retape.cassette import load_cassette
from retape.cassette.dump import dump_cassette
from retape.cassette.model import (
    Body,
    Cassette,
    Close,
    Interaction,
    Message,
    Recording,
    Request,
    Response,
)
from retape.cassette.redact import Redactor
from retape.cassette.rules import Rules
from retape.cassette.scan import scan_data
from tests.support import leak_forms, retape

JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJwbGFudGVkIn0.c2lnbmF0dXJlLXBsYW50ZWQtMTIz"
# Every value below is planted somewhere; none may reach the cassette in any form.
PLANTED = {
    # request headers, by name
    "bearer": "pl-bearer-3f9a8b7c6d5e4f30",
    "x_api_key": "pl-xapikey-0a1b2c3d4e5f6a7b",
    "csrf": "pl-csrf-9d8c7b6a5f4e3d2c",
    "amz": "pl-amz-FwoGZXIvYXdzEJr1b2c3d4",
    "private": "pl-private-glpat-abcdef123456",
    "goog": "pl-goog-AbCdEf0123456789xyz",
    "custom_auth": "pl-custom-auth-5c4b3a291807",
    "session_hdr": "pl-session-hdr-77aa88bb99cc",
    "cookie": "pl-cookie-value-44dd55ee66ff",
    # query, fragment and form
    "query_encoded": "pl-query-enc/+=value&tail",
    "query_signature": "pl-sig-0123456789abcdef",
    "form_password": "pl-form-pass word!",
    "form_client_secret": "pl-form-client-secret-0987",
    # bodies
    "json_list_1": "pl-json-list-one-aaaa1111",
    "json_list_2": "pl-json-list-two-bbbb2222",
    "json_nested": "pl-json-nested-cccc3333",
    "multipart_password": "pl-multipart-pw-dddd4444",
    "graphql_inline": "pl-graphql-inline-eeee5555",
    "graphql_variable": "pl-graphql-var-ffff6666",
    # learned once, reappearing elsewhere (and earlier)
    "late": "pl-late-learned-1a2b3c4d5e",
    # websocket, client side
    "subprotocol": "pl-subprotocol-token-7788",
    "k8s": "pl-k8s-bearer-token-99001122",
    "ws_text": "pl-ws-text-password-3344",
    "ws_binary": "pl-ws-binary-secret-5566",
    "ws_client_close": "pl-ws-close-secret-7788",
    # paths
    "telegram": "123456789:AAHplantedTelegramBotToken_abcdefghij",
    "slack_path": "T01PLANTED/B02PLANTED/plantedSlackWebhookSecret",
    # server side (tests/apps/planted.py hands these out)
    "minted_access": "pl-minted-access-a1a1a1a1",
    "minted_refresh": "pl-minted-refresh-b2b2b2b2",
    "minted_id": "pl-minted-id-c3c3c3c3",
    "minted_client_secret": "pl-minted-client-secret-d4d4",
    "oauth_code": "pl-oauth-code-e5e5e5e5",
    "fragment_token": "pl-fragment-token-f6f6f6f6",
    "resp_csrf": "pl-resp-csrf-1111aaaa",
    "resp_amz": "pl-resp-amz-2222bbbb",
    "resp_private": "pl-resp-private-3333cccc",
    "resp_goog": "pl-resp-goog-4444dddd",
    "resp_session": "pl-resp-session-5555eeee",
    "resp_signature": "sha256=pl-resp-signature-6666ffff",
    "resp_password": "pl-resp-password-7777aaaa",
    "resp_cookie": "pl-resp-cookie-8888bbbb",
    "gzip2_password": "pl-gzip2-password-9999cccc",
    "xgzip_secret": "pl-xgzip-secret-0000dddd",
    "sse_stripe": "sk_live_PLANTEDstripe0123456789ab",
    "sse_github": "ghp_PLANTEDgithub0123456789abcdefghijkl",
    "ws_slack": "T03PLANTED/B04PLANTED/plantedWsSlackHook0123",
    "ws_aws": "AKIAPLANTED012345678",
    "ws_close_jwt": JWT,
}
SERVER_SIDE = {k: v for k, v in PLANTED.items() if k.startswith(("minted", "oauth", "fragment"))}


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    port = free_port()
    env = {"PLANTED": json.dumps(PLANTED)}
    with running([sys.executable, "-m", "tests.apps.planted", str(port)], port=port, env=env):
        yield f"http://127.0.0.1:{port}"


def drive(base: str) -> None:
    """Real clients (httpx, websockets) putting each secret in its place."""
    s = PLANTED
    with httpx.Client(base_url=f"http://{base}", timeout=10) as client:
        # A value first seen in an innocent place, written to disk at once...
        client.get("/search", params={"q": s["late"]})
        client.get(
            "/profile",
            headers={
                "Authorization": f"Bearer {s['bearer']}",
                "X-Api-Key": s["x_api_key"],
                "X-CSRF-Token": s["csrf"],
                "X-Amz-Security-Token": s["amz"],
                "Private-Token": s["private"],
                "X-Goog-Api-Key": s["goog"],
                "X-Custom-Auth": s["custom_auth"],
                "X-Session-Token": s["session_hdr"],
                "Cookie": f"theme=dark; sid={s['cookie']}",
            },
        )
        # ...and only later known to be a credential.
        client.get("/me", headers={"X-Api-Key": s["late"]})
        enc = quote(s["query_encoded"], safe="")
        client.get(f"/q?access%5Ftoken={enc}&signature={s['query_signature']}&view=full")
        client.post(
            "/login",
            data={"user": "ann", "password": s["form_password"]},
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        client.post("/oauth/token", data={"client_secret": s["form_client_secret"]})
        client.post(
            "/data",
            json={
                "api_keys": [s["json_list_1"], s["json_list_2"]],
                "secret": {"inner": {"deeper": s["json_nested"]}},
                "max_tokens": 100,
            },
        )
        client.post(
            "/upload",
            files={"file": ("a.txt", b"hello")},
            data={"password": s["multipart_password"], "name": "ann"},
        )
        query = f'mutation {{ login(user: "ann", password: "{s["graphql_inline"]}") {{ ok }} }}'
        client.post(
            "/graphql", json={"query": query, "variables": {"apiKey": s["graphql_variable"]}}
        )
        client.get(f"/bot{s['telegram']}/sendMessage")
        client.post(f"/services/{s['slack_path']}", json={"text": "hi"})
        for kind in ("json", "form", "text"):
            client.get("/oauth/token", params={"as": kind})
        client.get("/authorize")
        client.get("/headers")
        client.get("/gzip2")
        client.get("/xgzip")
        client.get("/sse")
        # minted values reused: raw, percent-encoded, base64 in a harmless place
        minted = s["minted_access"]
        client.get("/use", params={"next": minted, "b": base64.b64encode(minted.encode()).decode()})
    with connect(f"ws://{base}/ws", subprotocols=["bearer", s["subprotocol"]]) as ws:  # type: ignore[list-item]
        ws.recv(timeout=10)
        ws.recv(timeout=10)
        ws.recv(timeout=10)
        ws.send(json.dumps({"type": "login", "password": s["ws_text"]}))
        ws.recv(timeout=10)
        ws.send(b"\x01bin:" + s["ws_binary"].encode() + b"\x02 late=" + s["late"].encode())
        ws.recv(timeout=10)
        ws.send(f"resume {s['minted_refresh']}")
        ws.recv(timeout=10)
        ws.close(code=4000, reason=f"done {s['minted_id']}")
    k8s = base64.urlsafe_b64encode(s["k8s"].encode()).decode().rstrip("=")
    protocol = f"base64url.bearer.authorization.k8s.io.{k8s}"
    with connect(f"ws://{base}/ws", subprotocols=[protocol, "base64.channel.k8s.io"]) as ws:  # type: ignore[list-item]
        for _ in range(3):
            ws.recv(timeout=10)
        ws.send("close-please")
        with pytest.raises(Exception):  # noqa: B017 - the server closes
            ws.recv(timeout=10)


@pytest.fixture(scope="module")
def cassette(server: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("corpus") / "planted.yaml"
    with recording(server, out) as base:
        drive(base)
    return out


def test_no_planted_secret_reaches_the_cassette_in_any_form(cassette: Path) -> None:
    text = cassette.read_text()
    leaked = {name: form for name, s in PLANTED.items() for form in leak_forms(s) if form in text}
    assert leaked == {}
    # the session is still there and readable
    loaded = load_cassette(cassette)
    assert len(loaded.interactions) == 22  # every request and both websocket sessions
    assert "view=full" in text and "max_tokens: 100" in text
    assert "x-ratelimit-remaining-tokens, '1499'" in text.lower()  # a count is no secret


def test_the_cassette_keeps_what_replay_needs(cassette: Path) -> None:
    loaded = load_cassette(cassette).interactions
    profile = next(i for i in loaded if i.request.path == "/profile")
    assert {"authorization", "x-api-key", "cookie"} <= set(profile.request.credentials)
    ws = next(i for i in loaded if i.type == "websocket")
    protocol = dict((k.lower(), v) for k, v in ws.request.headers)["sec-websocket-protocol"]
    assert protocol.startswith("bearer, <redacted:")
    assert "sec-websocket-protocol" in ws.request.credentials
    assert ws.close is not None and ws.close.reason.startswith("done <redacted:")


def test_scan_finds_nothing_left(cassette: Path) -> None:
    result = retape("scan", str(cassette))
    assert result.returncode == 0, result.stdout + result.stderr


def test_recorder_log_has_no_path_or_query(server: str, tmp_path: Path) -> None:
    """A request the upstream never answers is logged without its path or query."""
    out = tmp_path / "log.yaml"
    dead = f"http://127.0.0.1:{free_port()}"
    port = free_port()
    args = [sys.executable, "-m", "retape", "record", "--upstream", dead]
    args += ["--listen", f"127.0.0.1:{port}", "--out", str(out)]
    with running(args, port=port) as proc:
        secret = PLANTED["telegram"]
        httpx.get(f"http://127.0.0.1:{port}/bot{secret}/x?token=pl-q-secret-123", timeout=10)
    from demo.processes import output_of

    log = output_of(proc)
    assert "not recorded" in log
    assert secret not in log and "pl-q-secret-123" not in log and "/bot" not in log


# -- scan on hand-planted files: one shape each ------------------------------------------


def _http(**parts: object) -> Interaction:
    request = Request("GET", "/", [])
    response = Response(200, [])
    for key, value in parts.items():
        side, _, field = key.partition("_")
        setattr(request if side == "req" else response, field, value)
    return Interaction(1, "http", request, response)


def _ws(messages: list[Message] | None = None, close: Close | None = None, **parts: object):
    interaction = _http(**parts)
    interaction.type = "websocket"
    interaction.response.status = 101
    interaction.messages = messages or []
    interaction.close = close or Close(1000, "", "client")
    return interaction


FORM = [("Content-Type", "application/x-www-form-urlencoded")]
HAND_PLANTED = {
    "header-by-name": _http(req_headers=[("X-Amz-Security-Token", "hp-amz-0123456789")]),
    "response-header-by-name": _http(resp_headers=[("X-Csrf-Token", "hp-csrf-0123456789")]),
    "vendor-header": _http(req_headers=[("X-Goog-Api-Key", "hp-goog-0123456789")]),
    "subprotocol-bearer": _ws(req_headers=[("Sec-WebSocket-Protocol", "bearer, hp-sub-0123456")]),
    "subprotocol-k8s": _ws(
        req_headers=[("Sec-WebSocket-Protocol", "base64url.bearer.authorization.k8s.io.aHAtazhz")]
    ),
    "query-percent-name": _http(req_path="/x?access%5Ftoken=hp-query-0123456"),
    "query-code": _http(req_path="/cb?code=hp-code-0123456789&state=1"),
    "location-fragment": _http(resp_headers=[("Location", "/cb#access_token=hp-frag-01234567")]),
    "form-field": _http(req_headers=FORM, req_body=Body("text", "client_secret=hp-cs-0123456")),
    "list-under-secret-field": _http(req_body=Body("json", {"api_keys": ["hp-l1-0123", "x"]})),
    "object-under-secret-field": _http(req_body=Body("json", {"secret": {"a": {"b": "hp-o-01"}}})),
    "multipart": _http(
        req_headers=[("Content-Type", "multipart/form-data; boundary=XyZ")],
        req_body=Body(
            "text",
            '--XyZ\r\nContent-Disposition: form-data; name="password"\r\n\r\n'
            "hp-mp-0123\r\n--XyZ--\r\n",
        ),
    ),
    "graphql-inline": _http(
        req_body=Body("json", {"query": 'mutation { login(password: "hp-gql-0123") { ok } }'})
    ),
    "graphql-variables": _http(req_body=Body("json", {"variables": {"apiKey": "hp-gv-0123"}})),
    "token-response-text": _http(resp_body=Body("text", "access_token=hp-tr-0123456&x=1")),
    "slack-webhook-path": _http(req_path="/services/T0HANDPLNT/B0HANDPLNT/handPlantedSlack0123"),
    "telegram-path": _http(req_path="/bot987654321:AAHhandPlantedTelegramToken_0123456789/x"),
    "sse-text": _http(
        resp_headers=[("Content-Type", "text/event-stream")],
        resp_body=Body("text", "data: sk_live_HANDplanted0123456789abcd\n\n"),
    ),
    "ws-text": _ws([Message("server", 0.1, "text", "ghp_HANDplanted0123456789abcdefghijklmno")]),
    "ws-binary": _ws(
        [
            Message(
                "client", 0.1, "base64", base64.b64encode(b"\x00AKIAHANDPLANTED01234\xff").decode()
            )
        ]
    ),
    "ws-close-reason": _ws(close=Close(4000, f"bye {JWT}", "server")),
    "client-close-reason": _ws(close=Close(4000, "xoxb-1234567890-handplanted", "client")),
    "known-value-elsewhere": _http(
        req_headers=[("Authorization", "Bearer hp-known-0123456789")],
        resp_body=Body("text", "echo aHAta25vd24tMDEyMzQ1Njc4OQ"),  # base64 of the token
    ),
    "gzip-body-decoded": _http(
        resp_headers=[("Content-Type", "application/json")],
        resp_body=Body("json", {"password": "hp-gz-0123"}, content_encoding="gzip, gzip"),
    ),
}


@pytest.mark.parametrize("name", sorted(HAND_PLANTED))
def test_scan_flags_a_hand_planted_secret_and_redact_removes_it(name: str) -> None:
    cassette = Cassette(Recording(), [HAND_PLANTED[name]])
    text = dump_cassette(cassette)
    data = json.loads(json.dumps(cassette.interactions[0].to_data()))
    findings = scan_data({"retape": 1, "interactions": [data]}, path="x", text=text, rules=Rules())
    assert findings, name
    redacted = Redactor(Rules()).interaction(cassette.interactions[0])
    again = json.loads(json.dumps(redacted.to_data()))
    text = dump_cassette(Cassette(Recording(), [redacted]))  # numbering continues after it
    assert (
        scan_data({"retape": 1, "interactions": [again]}, path="x", text=text, rules=Rules()) == []
    )


def test_scan_exits_1_on_each_hand_planted_file_and_redact_makes_it_clean(tmp_path: Path) -> None:
    for name, interaction in HAND_PLANTED.items():
        (tmp_path / f"{name}.yaml").write_text(dump_cassette(Cassette(Recording(), [interaction])))
    result = retape("scan", str(tmp_path))
    assert result.returncode == 1
    flagged = {line.split(":")[0] for line in result.stdout.splitlines()}
    assert flagged == {str(tmp_path / f"{name}.yaml") for name in HAND_PLANTED}
    assert retape("redact", str(tmp_path)).returncode == 0
    result = retape("scan", str(tmp_path))
    assert result.returncode == 0, result.stdout
