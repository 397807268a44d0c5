"""Secrets never reach a cassette, and `retape scan` / `retape redact` guard shared ones."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from retape.cassette import load_cassette
from retape.cassette.dump import dump_cassette
from retape.cassette.model import Body, Cassette, Interaction, Message, Recording, Request, Response
from retape.cassette.redact import Redactor
from retape.cassette.rules import Rules, load_rules
from tests.support import cli

# Shapes of real credentials (all fake). Each must be gone after redaction.
PLANTED = {
    "openai": "sk-proj-Abc123Def456Ghi789Jkl012",
    "github": "ghp_0123456789abcdefghijABCDEFGHIJ012345",
    "github_pat": "github_pat_11ABCDEFG0123456789_abcdefghijklmnop",
    "aws": "AKIAIOSFODNN7EXAMPLE",
    "slack": "xoxb-1234567890-abcdefghijkl",
    "jwt": "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9P",
    "pem": "-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA7\n-----END RSA PRIVATE KEY-----",
}


def leaky_interaction() -> Interaction:
    """One interaction with a secret in every place a secret can hide."""
    return Interaction(
        id=1,
        type="http",
        request=Request(
            "POST",
            "/v1/login?user=ann&API_KEY=q-secret-123&page=2&sig=abcdef0123",
            [
                ("Authorization", "Bearer live-bearer-token-999"),
                ("Cookie", "sid=cookie-secret-777; theme=dark"),
                ("X-Trace", f"note {PLANTED['aws']}"),
                ("content-type", "application/x-www-form-urlencoded"),
            ],
            Body("text", "user=ann&password=form-secret-555&remember=1"),
        ),
        response=Response(
            200,
            [
                ("Set-Cookie", "sid=fresh-cookie-888; HttpOnly"),
                ("Location", "/home?token=loc-secret-444"),
                ("content-type", "application/json"),
            ],
            Body(
                "json",
                {
                    "data": {
                        "accessToken": "json-secret-333",
                        "items": [{"client_secret": "cs-1"}],
                    },
                    "echo": "you sent live-bearer-token-999",
                    "keys": [PLANTED["openai"], PLANTED["github"], PLANTED["github_pat"]],
                    "jwt": PLANTED["jwt"],
                    "pem": PLANTED["pem"],
                    "harmless": "the password policy changed",
                },
            ),
        ),
    )


def leaky_websocket() -> Interaction:
    return Interaction(
        id=2,
        type="websocket",
        request=Request("GET", "/v1/realtime", [("Api-Key", "ws-api-key-111")]),
        response=Response(101),
        messages=[
            Message("client", 0.1, "json", {"type": "auth", "refresh_token": "rt-secret-222"}),
            Message(
                "server", 0.2, "text", f'data: {{"token": "sse-secret-666"}} {PLANTED["slack"]}'
            ),
            Message("server", 0.3, "base64", "d3MtYXBpLWtleS0xMTE="),  # b"ws-api-key-111"
        ],
    )


SECRETS = [
    "q-secret-123", "abcdef0123", "live-bearer-token-999", "cookie-secret-777", "form-secret-555",
    "fresh-cookie-888", "loc-secret-444", "json-secret-333", "cs-1", "ws-api-key-111",
    "rt-secret-222", "sse-secret-666", "d3MtYXBpLWtleS0xMTE=", *PLANTED.values(),
]  # fmt: skip


def test_every_planted_secret_is_gone_and_the_rest_survives() -> None:
    redactor = Redactor()
    text = dump_cassette(
        Cassette(
            Recording(),
            [redactor.interaction(leaky_interaction()), redactor.interaction(leaky_websocket())],
        )
    )
    for secret in SECRETS:
        assert secret not in text, secret
    for kept in (
        "user=ann",
        "page=2",
        "theme" if False else "remember=1",
        "the password policy changed",
    ):
        assert kept in text
    assert "Bearer <redacted:1>" in text


def test_same_secret_gets_the_same_placeholder_across_places() -> None:
    redactor = Redactor()
    redacted = redactor.interaction(leaky_interaction())
    auth = dict(redacted.request.headers)["Authorization"]
    echo = redacted.response.body.value["echo"]  # type: ignore[union-attr]
    number = auth.split()[1]
    assert echo == f"you sent {number}"


def test_credentials_marker_names_every_credential_header() -> None:
    redacted = Redactor().interaction(leaky_interaction())
    assert redacted.request.credentials == ["authorization", "cookie"]


def test_configured_rules_and_allow_list(tmp_path: Path) -> None:
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text(
        '[tool.retape.redact]\nfields = ["ssn"]\npatterns = ["acme_[0-9a-f]{8}"]\n'
        'allow = ["sk-test-this-is-documentation-only"]\n'
    )
    rules = load_rules(pyproject)
    redactor = Redactor(rules)
    value = redactor.json(
        {
            "ssn": "123-45-6789",
            "doc": "use sk-test-this-is-documentation-only",
            "k": "acme_deadbeef",
        }
    )
    assert value["ssn"].startswith("<redacted:")
    assert value["doc"] == "use sk-test-this-is-documentation-only"
    assert value["k"].startswith("<redacted:")


def test_bad_config_is_one_clear_error(tmp_path: Path) -> None:
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text('[tool.retape.redact]\nfeilds = ["ssn"]\n')
    result = cli("scan", "sessions", "--config", str(pyproject))
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "unknown key 'feilds'" in result.stderr


def _write(tmp_path: Path, *interactions: Interaction) -> Path:
    path = tmp_path / "c.yaml"
    path.write_text(
        dump_cassette(Cassette(Recording(upstream="http://staging"), list(interactions)))
    )
    return path


def test_scan_finds_pasted_tokens_with_file_line_and_rule(tmp_path: Path) -> None:
    path = _write(tmp_path, leaky_interaction(), leaky_websocket())
    result = cli("scan", str(path))
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert any(
        "interaction 1: request.headers[0]" in line and "header:authorization" in line
        for line in lines
    )
    assert any("github-token" in line for line in lines)
    assert any("interaction 2: messages[0].json.refresh_token" in line for line in lines)
    assert all(line.startswith(f"{path}:") for line in lines)
    for secret in SECRETS:  # the report says where, never what
        assert secret not in result.stdout + result.stderr


def test_redact_in_place_then_scan_is_clean_and_it_still_loads(tmp_path: Path) -> None:
    path = _write(tmp_path, leaky_interaction(), leaky_websocket())
    result = cli("redact", str(path))
    assert result.returncode == 0, result.stderr
    assert "redacted" in result.stdout
    text = path.read_text()
    for secret in SECRETS:
        assert secret not in text, secret
    assert cli("scan", str(path)).returncode == 0
    assert len(load_cassette(path).interactions) == 2
    assert not list(tmp_path.glob(".c.yaml.*"))  # no temporary file left behind
    again = cli("redact", str(path))
    assert again.returncode == 0 and "clean" in again.stdout and path.read_text() == text


def test_shipped_sessions_scan_clean() -> None:
    result = cli("scan", "sessions")
    assert result.returncode == 0, result.stdout + result.stderr


def test_redacting_keeps_existing_placeholder_numbers(tmp_path: Path) -> None:
    path = _write(tmp_path, Redactor().interaction(leaky_interaction()))
    before = path.read_text()
    path.write_text(before.replace("remember=1", f"remember=1 {PLANTED['aws']}"))
    assert cli("redact", str(path)).returncode == 0
    after = path.read_text()
    assert "Bearer <redacted:1>" in after
    highest = max(int(n) for n in re.findall(r"<redacted:(\d+)>", before))
    assert f"<redacted:{highest + 1}>" in after


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (
            "retape: 1\ninteractions: !!python/object/apply:os.system ['echo pwned']\n",
            "invalid YAML",
        ),
        ("retape: 1\ninteractions:\n- !!python/name:os.system\n", "invalid YAML"),
        (
            "retape: 1\na: &a [x,x,x,x,x,x,x,x,x]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\n"
            "c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\ninteractions: [*c,*c,*c,*c,*c,*c,*c,*c,*c]\n",
            "aliases",
        ),
        ("retape: 1\ninteractions: " + "[" * 20000 + "]" * 20000 + "\n", "nested deeper than"),
        (b"retape: 1\ninteractions:\n- id: 1\n  type: \xfe\xff\n", "not UTF-8"),
        (
            "retape: 1\ninteractions:\n- id: 1\n  type: http\n"
            "  request: {method: GET, path: 'http://evil.example/'}\n  response: {status: 200}\n",
            "path starting with a single '/'",
        ),
        (
            "retape: 1\ninteractions:\n- id: 1\n  type: http\n"
            "  request: {method: GET, path: '//evil.example/'}\n  response: {status: 200}\n",
            "path starting with a single '/'",
        ),
    ],
    ids=[
        "python-tag",
        "python-name",
        "alias-bomb",
        "deep-nesting",
        "non-utf8",
        "absolute-url",
        "scheme-relative",
    ],
)
def test_hostile_files_are_refused_in_one_line(
    tmp_path: Path, content: str | bytes, message: str
) -> None:
    path = tmp_path / "hostile.yaml"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    for command in (
        ["validate", str(path)],
        ["scan", str(path)],
        ["replay", str(path), "--target", "http://127.0.0.1:9"],
    ):
        result = cli(*command)
        assert result.returncode == 2, (command, result.stdout, result.stderr)
        assert result.stderr.startswith(f"retape: {path}"), result.stderr
        assert message in result.stderr
        assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr


def test_oversized_cassette_is_refused_before_parsing(tmp_path: Path) -> None:
    path = tmp_path / "big.yaml"
    path.write_text("retape: 1\ninteractions:\n" + "# padding\n" * 200_000)
    result = cli("validate", str(path), env={"RETAPE_MAX_CASSETTE_MB": "1"})
    assert result.returncode == 2 and "limit" in result.stderr


def test_rules_default_shapes_do_not_flag_placeholders() -> None:
    assert Rules().spans("Bearer <redacted:3> and token=<redacted:4>", params=True) == []
    assert json.dumps(Rules().spans("plain text without secrets")) == "[]"


def test_a_secret_keeps_its_number_in_every_encoding() -> None:
    """A cookie's value and the same value percent-encoded in a form are one placeholder."""
    from retape.cassette.redact import Redactor
    from retape.cassette.rules import Rules

    redactor = Redactor(Rules())
    raw = "2|9a1d1f6e|0b7c2aa51f4e8d3c6b9a|1733100000"
    first = redactor.placeholder(raw, "header:set-cookie")
    encoded = redactor.text(f"_xsrf={raw.replace('|', '%7C')}&password=x", params=True)
    assert encoded.startswith(f"_xsrf={first}&")
    other = redactor.placeholder("an-unrelated-secret-value-1234")
    assert other != first
