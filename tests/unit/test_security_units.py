"""The pieces behind issue 12, one behaviour each: the replay mask, subprotocol tokens,
name rules, nesting and duplicate keys, redaction that is idempotent and learns."""

from __future__ import annotations

import base64
from urllib.parse import quote

import pytest
from retape.replayer.auth.credentials import Credentials
from retape.replayer.auth.mask import MASK, Masker
from retape.replayer.compare.diff_json import Difference
from retape.replayer.results import Result

from retape.cassette.depth import MAX_NESTING, check_nesting, may_be_deep
from retape.cassette.errors import CassetteError
from retape.cassette.load import load_text
from retape.cassette.model import Body, Interaction, Message, Request, Response, loads_json
from retape.cassette.redact import Redactor
from retape.cassette.rules import Rules, secret_name

LIVE = "live-secret-0123456789"


@pytest.mark.parametrize(
    "form",
    [
        LIVE,
        quote(LIVE, safe=""),
        base64.b64encode(LIVE.encode()).decode(),
        base64.urlsafe_b64encode(LIVE.encode()).decode().rstrip("="),
    ],
)
def test_masker_masks_every_form_of_a_value(form: str) -> None:
    masker = Masker([LIVE])
    assert masker.text(f"echo {form}!") == f"echo {MASK}!"


def test_masker_masks_a_result_inside_differences_and_keys() -> None:
    masker = Masker()
    masker.add("minted-during-the-run-42")  # the registration API other code calls
    row = Result(
        "c.yaml", 1, "http", "GET", "/", 200, 200, False,
        details={"minted-during-the-run-42": "x"},
        differences=[Difference("body", "", "$.seen", "<redacted:1>", "minted-during-the-run-42")],
    )  # fmt: skip
    masked = masker.value(row)
    assert "minted-during-the-run-42" not in repr(masked.to_json())
    assert masked.differences[0].actual == MASK


def test_masker_masks_binary_frames_decoded() -> None:
    frame = base64.b64encode(b"\x00\x01" + LIVE.encode() + b"\xff").decode()
    masked = Masker([LIVE]).value(Message("server", 0.0, "base64", frame))
    assert LIVE.encode() not in masked.payload()
    assert MASK.encode() in masked.payload()


def test_short_values_are_not_masked() -> None:
    assert Masker(["abc"]).text("abcabc") == "abcabc"


def test_subprotocol_tokens_are_filled_from_the_bearer_or_a_secret_or_not_offered() -> None:
    live = Credentials((("Authorization", "Bearer tok-live-1234"),))
    assert live.subprotocols(["bearer", "<redacted:3>", "chat"]) == [
        "bearer",
        "tok-live-1234",
        "chat",
    ]
    k8s = live.subprotocols(["base64url.bearer.authorization.k8s.io.<redacted:4>"])
    encoded = base64.urlsafe_b64encode(b"tok-live-1234").decode().rstrip("=")
    assert k8s == [f"base64url.bearer.authorization.k8s.io.{encoded}"]
    secret = Credentials((), {"<redacted:3>": "from-secret-flag"})
    assert secret.subprotocols(["bearer", "<redacted:3>"]) == ["bearer", "from-secret-flag"]
    assert Credentials(()).subprotocols(["bearer", "<redacted:3>", "chat"]) == ["chat"]


@pytest.mark.parametrize(
    "name",
    ["X-Amz-Security-Token", "Private-Token", "X-Goog-Api-Key", "X-CSRF-Token", "X-XSRF-TOKEN",
     "X-Hub-Signature-256", "X-Session-Id", "JSESSIONID", "X-Auth-User", "OAuth-Token",
     "X-Password"],
)  # fmt: skip
def test_credential_names(name: str) -> None:
    assert secret_name(name)
    assert Rules().is_secret_header(name, "some-value-123")


@pytest.mark.parametrize("name", ["Author", "X-Authority", "Content-Type", "X-Request-Id"])
def test_names_that_are_not_credentials(name: str) -> None:
    assert not Rules().is_secret_header(name, "value")


def test_counts_and_flags_under_credential_words_are_kept() -> None:
    rules = Rules()
    assert not rules.is_secret_field("max_tokens", 100)
    assert not rules.is_secret_header("X-Ratelimit-Remaining-Tokens", "1499")
    assert rules.is_secret_field("pin", 1234)  # an explicit name always is


def test_redaction_is_idempotent_and_learns_every_redacted_value() -> None:
    redactor = Redactor()
    interaction = Interaction(
        1, "http",
        Request("POST", "/x", [("Content-Type", "application/json")],
                Body("json", {"client_secret": "cs-learned-0123", "echo": "x"})),
        Response(200, [], Body("text", "you sent cs-learned-0123 and " + quote("cs-learned-0123"))),
    )  # fmt: skip
    once = redactor.interaction(interaction)
    assert "cs-learned-0123" not in repr(once)
    assert redactor.interaction(once) == once


def test_nesting_bound_is_checked_before_parsing() -> None:
    assert not may_be_deep("retape: 1\ninteractions:\n- id: 1\n")
    with pytest.raises(CassetteError, match=f"deeper than {MAX_NESTING}"):
        check_nesting("a:\n" + "- " * (MAX_NESTING + 1) + "x\n", path="x.yaml")
    check_nesting("a:\n" + "- " * (MAX_NESTING - 2) + "x\n", path="x.yaml")  # under: fine


@pytest.mark.parametrize("fast", ["1", "0"])
def test_duplicate_keys_are_refused_on_both_paths(fast: str, monkeypatch) -> None:
    monkeypatch.setenv("RETAPE_FASTLOAD", fast)
    text = "retape: 1\ninteractions:\n- id: 1\n  type: http\n  type: websocket\n"
    with pytest.raises(CassetteError, match="duplicate key 'type'"):
        load_text(text, path="x.yaml")


def test_deep_json_is_too_deep_not_a_recursion_error() -> None:
    with pytest.raises(ValueError, match="nested deeper"):
        loads_json("[" * 100_000 + "]" * 100_000)
    with pytest.raises(ValueError, match="nested deeper"):
        loads_json("[" * 300 + "]" * 300)
    assert Message.from_frame("server", 0.0, "[" * 300 + "]" * 300).kind == "text"
