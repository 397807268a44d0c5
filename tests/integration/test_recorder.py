"""``retape record`` end to end: a real upstream, the real CLI, real clients, real signals."""

from __future__ import annotations

import datetime
import ipaddress
import json
import signal
import socket
import ssl
import subprocess
import textwrap
from collections.abc import Iterable, Iterator
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from retape.cassette import load_cassette
from tests.recorder_support import TIMEOUT, private_ca, serve_upstream, start_recorder
from tests.support import DEMO_TOKEN, PYTHON, demo_target, free_port, retape, running

AUTH = {"Authorization": f"Bearer {DEMO_TOKEN}"}
CHAT = {"model": "demo-model", "messages": [{"role": "user", "content": "hello there"}]}


@pytest.fixture(scope="module")
def upstream() -> Iterator[str]:
    with demo_target("fixed") as url:
        yield url


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """mitmproxy keeps its CA in ~/.mitmproxy: give the recorders one of their own."""
    return tmp_path_factory.mktemp("home")


@pytest.fixture
def record(home: Path, tmp_path: Path):
    """Start ``retape record`` in front of an upstream; stopped (if still alive) at teardown."""

    def start(upstream: str, *extra: str, out: Path | None = None):
        return start_recorder(upstream, *extra, out=out or tmp_path / "cassette.yaml", home=home)

    return start


def ws_url(base: str) -> str:
    return base.replace("http://", "ws://", 1) + "/v1/realtime"


def realtime_session(base: str) -> list[str]:
    """An authenticated realtime session, closed normally by the client; event types seen."""
    seen = []
    with connect(ws_url(base), additional_headers=AUTH, open_timeout=TIMEOUT) as ws:
        seen.append(json.loads(ws.recv(timeout=TIMEOUT))["type"])
        ws.send(json.dumps({"type": "session.update", "session": {"modalities": ["text"]}}))
        seen.append(json.loads(ws.recv(timeout=TIMEOUT))["type"])
        ws.send(json.dumps({"type": "response.create"}))
        while seen[-1] != "response.done":
            seen.append(json.loads(ws.recv(timeout=TIMEOUT))["type"])
    return seen


def test_records_http_sse_and_websockets_in_order_without_the_token(upstream, record):
    with record(upstream) as rec:
        with httpx.Client(base_url=rec.url, timeout=TIMEOUT) as client:
            assert client.get("/health").status_code == 200
            assert client.get("/v1/models", headers=AUTH).status_code == 200
            reply = client.post("/v1/chat/completions", json=CHAT, headers=AUTH)
            assert reply.json()["choices"][0]["message"]["content"] == "You said: hello there"
            stream = {**CHAT, "stream": True}
            with client.stream("POST", "/v1/chat/completions", json=stream, headers=AUTH) as sse:
                events = [line for line in sse.iter_lines() if line.startswith("data:")]
            assert events[-1] == "data: [DONE]"
        server_events = realtime_session(rec.url)
        with pytest.raises(InvalidStatus) as rejected:
            connect(ws_url(rec.url), open_timeout=TIMEOUT)
        assert rejected.value.response.status_code == 401
        code, output = rec.stop()

    assert code == 0, output
    assert output.splitlines()[-1] == f"retape: wrote 6 interactions to {rec.out}"
    assert DEMO_TOKEN.encode() not in rec.out.read_bytes()

    cassette = load_cassette(rec.out)
    summary = [(i.type, i.request.path, i.response.status) for i in cassette.interactions]
    assert summary == [
        ("http", "/health", 200),
        ("http", "/v1/models", 200),
        ("http", "/v1/chat/completions", 200),
        ("http", "/v1/chat/completions", 200),
        ("websocket", "/v1/realtime", 101),
        ("websocket", "/v1/realtime", 401),
    ]
    assert [i.id for i in cassette.interactions] == [1, 2, 3, 4, 5, 6]
    health, models, chat, sse, session, refused = cassette.interactions
    assert health.request.credentials == []
    for authed in (models, chat, sse, session):
        assert authed.request.credentials == ["authorization"]
    assert chat.request.body is not None and chat.request.body.value == CHAT
    assert sse.response.body is not None and sse.response.body.value.endswith("data: [DONE]\n\n")

    sent = [(m.sender, m.value["type"]) for m in session.messages]
    assert sent[:4] == [
        ("server", "session.created"),
        ("client", "session.update"),
        ("server", "session.updated"),
        ("client", "response.create"),
    ]
    assert [t for s, t in sent if s == "server"] == server_events
    assert [m.at for m in session.messages] == sorted(m.at for m in session.messages)
    assert session.close is not None
    assert (session.close.code, session.close.by) == (1000, "client")

    assert refused.request.credentials == []
    assert refused.messages == [] and refused.close is None
    assert refused.response.body is not None
    assert refused.response.body.value == {"error": "Unauthorized"}


def test_sigkill_loses_no_completed_interaction(upstream, record):
    with record(upstream) as rec:
        with httpx.Client(base_url=rec.url, timeout=TIMEOUT) as client:
            for _ in range(3):
                assert client.get("/v1/models", headers=AUTH).status_code == 200
        realtime_session(rec.url)
        code, _ = rec.stop(signal.SIGKILL)

    assert code == -signal.SIGKILL
    cassette = load_cassette(rec.out)
    assert [i.type for i in cassette.interactions] == ["http", "http", "http", "websocket"]
    assert DEMO_TOKEN.encode() not in rec.out.read_bytes()


def test_session_open_at_sigterm_is_written_as_dropped(upstream, record):
    with (
        record(upstream) as rec,
        connect(ws_url(rec.url), additional_headers=AUTH, close_timeout=1) as ws,
    ):
        ws.recv(timeout=TIMEOUT)
        ws.send(json.dumps({"type": "session.update", "session": {}}))
        ws.recv(timeout=TIMEOUT)
        code, output = rec.stop()
    assert code == 0, output

    (session,) = load_cassette(rec.out).interactions
    assert [m.sender for m in session.messages] == ["server", "client", "server"]
    assert session.close is not None
    assert (session.close.code, session.close.by) == (1006, "none")


def test_restarting_on_the_same_cassette_appends(upstream, record):
    for _ in range(2):
        with record(upstream) as rec:
            httpx.get(rec.url + "/health", timeout=TIMEOUT)
            assert rec.stop(signal.SIGINT)[0] == 0
    assert [i.id for i in load_cassette(rec.out).interactions] == [1, 2]


def test_second_recorder_on_the_same_cassette_exits_2(upstream, record):
    with record(upstream) as first:
        result = retape(
            "record", "--upstream", upstream, "--listen", f"127.0.0.1:{free_port()}",
            "--out", str(first.out), timeout=30,
        )  # fmt: skip
        assert first.proc.poll() is None
    assert result.returncode == 2
    assert result.stderr == f"retape: {first.out}: another recorder is writing this cassette\n"


def test_busy_listen_port_exits_2_before_touching_the_cassette(upstream, tmp_path):
    out = tmp_path / "c.yaml"
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = retape(
            "record", "--upstream", upstream, "--listen", f"127.0.0.1:{port}", "--out", str(out),
            timeout=30,
        )  # fmt: skip
    assert result.returncode == 2
    assert result.stderr == f"retape: cannot listen on 127.0.0.1:{port}: address already in use\n"
    assert not out.exists()


@pytest.mark.parametrize(
    ("flag", "value", "message"),
    [
        ("--out", "{tmp}/a-file/c.yaml", "cannot write"),
        ("--upstream", "ftp://127.0.0.1:21", "expected an http:// or https:// URL"),
        ("--upstream", "http://user:hunter2@127.0.0.1:1", "credentials do not belong"),
        ("--upstream", "http://127.0.0.1:1/v1", "no path"),
        ("--listen", "127.0.0.1", "expected HOST:PORT"),
        ("--listen", "127.0.0.1:70000", "expected HOST:PORT"),
        ("--upstream-ca-file", "{tmp}/missing.pem", "no such file"),
        ("--upstream-ca-file", "{tmp}/a-file", "not a PEM file of CA certificates"),
    ],
)
def test_bad_arguments_exit_2_with_one_line_at_start(tmp_path, flag, value, message):
    (tmp_path / "a-file").write_text("not a directory")
    args = {
        "--upstream": "http://127.0.0.1:1",
        "--listen": f"127.0.0.1:{free_port()}",
        "--out": str(tmp_path / "c.yaml"),
    }
    args[flag] = value.format(tmp=tmp_path)
    result = retape("record", *(part for pair in args.items() for part in pair), timeout=30)
    assert result.returncode == 2
    assert result.stderr.startswith("retape: ") and result.stderr.count("\n") == 1
    assert message in result.stderr
    assert "hunter2" not in result.stderr


# A tiny HTTPS upstream with a self-signed certificate: gzip'd JSON and a session cookie.
TLS_APP = textwrap.dedent(
    """
    import sys, uvicorn
    from starlette.applications import Starlette
    from starlette.middleware import Middleware
    from starlette.middleware.gzip import GZipMiddleware
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    async def hello(request):
        response = JSONResponse({"hello": "tls", "words": ["padding"] * 100})
        response.set_cookie("sid", "tls-session-secret-0123456789")
        return response

    app = Starlette(
        routes=[Route("/hello", hello)], middleware=[Middleware(GZipMiddleware, minimum_size=0)]
    )
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning",
                ssl_certfile=sys.argv[2], ssl_keyfile=sys.argv[3])
    """
)


def self_signed(directory: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = directory / "cert.pem", directory / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file


@pytest.fixture(scope="module")
def tls_upstream(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    directory = tmp_path_factory.mktemp("tls")
    cert, key = self_signed(directory)
    port = free_port()
    with running([PYTHON, "-c", TLS_APP, str(port), str(cert), str(key)], port=port):
        yield f"https://127.0.0.1:{port}"


def test_https_upstream_with_self_signed_cert_needs_upstream_insecure(tls_upstream, record):
    with record(tls_upstream, "--upstream-insecure") as rec:
        reply = httpx.get(rec.url + "/hello", timeout=TIMEOUT)
        assert reply.json()["hello"] == "tls"
        assert rec.stop()[0] == 0

    (interaction,) = load_cassette(rec.out).interactions
    body = interaction.response.body
    assert body is not None
    assert (body.kind, body.value["hello"], body.content_encoding) == ("json", "tls", "gzip")
    assert dict(interaction.response.headers)["set-cookie"].startswith("<redacted:")
    assert b"tls-session-secret" not in rec.out.read_bytes()
    assert load_cassette(rec.out).recording.upstream == tls_upstream


def test_https_upstream_with_self_signed_cert_is_refused_by_default(tls_upstream, record):
    with record(tls_upstream) as rec:
        assert httpx.get(rec.url + "/hello", timeout=TIMEOUT).status_code == 502
        code, output = rec.stop()
    assert code == 0
    assert "not recorded: GET request failed" in output
    assert "/hello" not in output  # no path in the log: it may carry a token
    assert load_cassette(rec.out).interactions == []


class PreferH2(ssl.SSLContext):
    """A client TLS context offering h2 first, as browsers and curl do.

    httpx offers ``http/1.1, h2`` and mitmproxy honours the client's order, so without
    this an httpx client would be answered in HTTP/1.1.
    """

    def set_alpn_protocols(self, alpn_protocols: Iterable[str]) -> None:
        super().set_alpn_protocols(sorted(alpn_protocols, key=lambda p: p != "h2"))


def test_http2_client_over_tls_is_recorded_as_http2(upstream, record):
    context = PreferH2(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # the recorder's certificate comes from its own CA
    with record(upstream) as rec:
        tls_url = rec.url.replace("http://", "https://", 1)
        with httpx.Client(http2=True, verify=context, timeout=TIMEOUT) as client:
            reply = client.get(tls_url + "/v1/models", headers=AUTH)
        assert (reply.status_code, reply.http_version) == (200, "HTTP/2")
        assert rec.stop()[0] == 0

    (interaction,) = load_cassette(rec.out).interactions
    assert interaction.http_version == "HTTP/2.0"
    assert interaction.request.credentials == ["authorization"]
    assert DEMO_TOKEN.encode() not in rec.out.read_bytes()


def test_cli_import_does_not_import_mitmproxy():
    code = "import sys, retape.cli; sys.exit('mitmproxy' in sys.modules)"
    assert subprocess.run([PYTHON, "-c", code], timeout=60).returncode == 0


@pytest.fixture(scope="module")
def ca_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """(ca.pem, cert.pem, key.pem): a private CA and a 127.0.0.1 certificate it signed."""
    return private_ca(tmp_path_factory.mktemp("ca"))


@pytest.fixture(scope="module")
def ca_upstream(ca_files: tuple[Path, Path, Path]) -> Iterator[str]:
    _, cert, key = ca_files
    port = free_port()
    with running([PYTHON, "-c", TLS_APP, str(port), str(cert), str(key)], port=port):
        yield f"https://127.0.0.1:{port}"


def test_https_upstream_signed_by_a_private_ca_is_trusted_with_upstream_ca_file(
    ca_upstream, ca_files, record, tmp_path
):
    with record(ca_upstream, "--upstream-ca-file", str(ca_files[0])) as rec:
        assert httpx.get(rec.url + "/hello", timeout=TIMEOUT).json()["hello"] == "tls"
        assert rec.stop()[0] == 0
    (interaction,) = load_cassette(rec.out).interactions
    assert interaction.response.status == 200

    with record(ca_upstream, out=tmp_path / "unverified.yaml") as rec:  # the system CAs only
        assert httpx.get(rec.url + "/hello", timeout=TIMEOUT).status_code == 502
        assert rec.stop()[0] == 0
    assert load_cassette(rec.out).interactions == []


def test_http2_upstream_is_recorded_when_the_client_speaks_http2(ca_files, record):
    """mitmproxy offers the upstream the client's ALPN, so h2 needs an h2 client over TLS."""
    ca, cert, key = ca_files
    context = PreferH2(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # the recorder's certificate comes from its own CA
    h2 = serve_upstream("h2", cert, key)
    with h2 as h2_url, record(h2_url, "--upstream-ca-file", str(ca)) as rec:
        tls_url = rec.url.replace("http://", "https://", 1)
        with httpx.Client(http2=True, verify=context, timeout=TIMEOUT) as client:
            reply = client.get(tls_url + "/v1/h2?x=1")
        assert (reply.status_code, reply.http_version) == (200, "HTTP/2")
        assert reply.json() == {"protocol": "h2", "path": "/v1/h2?x=1"}
        assert rec.stop()[0] == 0

    (interaction,) = load_cassette(rec.out).interactions
    assert (interaction.http_version, interaction.request.path) == ("HTTP/2.0", "/v1/h2?x=1")
    assert interaction.response.body is not None
    assert interaction.response.body.value == {"protocol": "h2", "path": "/v1/h2?x=1"}
