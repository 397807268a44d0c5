"""A real stateful server end to end: Jupyter Server, recorded once, replayed on fresh ones.

Everything the client sends after logging in carries something the server minted: the
``_xsrf`` cookie and form field, the login cookie (whose *name* holds the server's
port), kernel and session ids in paths and in the kernel's websocket URL. The cassette
records where each came from (``uses:``); replayed against a fresh server (another
token, other ids) every row must pass and nothing may be left running; against a build
whose kernel start fails, the rows that need the kernel id say so and the run exits 1.
"""

from __future__ import annotations

import json
import secrets
from pathlib import Path

import pytest

from retape.cassette.load import load_cassette
from tests.jupyter_support import (
    TOKEN_ENV,
    jupyter_server,
    password_placeholder,
    record_session,
    running_kernels,
    session_id_placeholders,
)
from tests.support import retape

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]


@pytest.fixture(scope="module")
def cassette(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One recorded Jupyter session, shared by the tests of this module."""
    base = tmp_path_factory.mktemp("jupyter-record")
    token = "rec-" + secrets.token_hex(16)
    return record_session(base / "jupyter.yaml", token=token, root=base / "root", home=base)


def _session_secrets(cassette: Path) -> list[str]:
    """``--secret N=VAR`` for each redacted session_id: any fresh id will do for Jupyter."""
    return [f"--secret={n}=JUPYTER_SESSION_ID" for n in session_id_placeholders(cassette)]


def _replay(cassette: Path, base: str, token: str, report: Path):
    return retape(
        "replay", str(cassette), "--target", base, "--timeout", "20",
        "--secret", f"{password_placeholder(cassette)}={TOKEN_ENV}",
        *_session_secrets(cassette),
        "--header", f"Authorization: token ${{{TOKEN_ENV}}}",
        "--json", str(report),
        env={TOKEN_ENV: token, "JUPYTER_SESSION_ID": secrets.token_hex(16)},
        timeout=240,
    )  # fmt: skip


def test_the_recording_says_where_each_minted_value_went(cassette: Path) -> None:
    recorded = load_cassette(cassette)
    by_id = {i.id: i for i in recorded.interactions}
    kernel = next(i for i in recorded.interactions if i.request.path == "/api/kernels"
                  and i.request.method == "POST")  # fmt: skip
    kernel_id = kernel.response.body.value["id"]
    users = {c.used_by for i in recorded.interactions for c in i.uses if c.value == kernel_id}
    paths = {by_id[n].request.path.split("?")[0] for n in users}
    assert f"/api/kernels/{kernel_id}/channels" in paths  # the websocket URL
    assert any(by_id[n].request.method == "DELETE" for n in users)
    assert all(str(c.source) == f"#{kernel.id} $.id" for i in recorded.interactions
               for c in i.uses if c.value == kernel_id)  # fmt: skip
    xsrf = [c for i in recorded.interactions for c in i.uses if c.name == "_xsrf"]
    assert xsrf and all(c.value.startswith("<redacted:") for c in xsrf)  # a secret stays one
    assert "header x-xsrftoken" in {str(t) for c in xsrf for t in c.targets}
    assert "body" in {str(t) for c in xsrf for t in c.targets}  # the login form


def test_replays_against_a_fresh_server_and_leaves_nothing_behind(
    cassette: Path, tmp_path: Path
) -> None:
    token = "fresh-" + secrets.token_hex(16)  # another server, another token, other ids
    with jupyter_server(token, tmp_path / "root") as base:
        result = _replay(cassette, base, token, tmp_path / "report.json")
        assert result.returncode == 0, result.stdout + result.stderr
        assert running_kernels(base, token) == []
    report = json.loads((tmp_path / "report.json").read_text())
    lines = [s for row in report["results"] for s in row["substitutions"]]
    assert any(" path: " in s and "(from #4 $.id, kernel id)" in s for s in lines), lines
    assert token not in result.stdout + result.stderr
    assert "(recorded) ->" in result.stdout


def test_a_regressed_server_fails_the_chain(cassette: Path, tmp_path: Path) -> None:
    token = "broken-" + secrets.token_hex(16)
    with jupyter_server(token, tmp_path / "root", regressed=True) as base:
        result = _replay(cassette, base, token, tmp_path / "report.json")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "needs kernel id from #4 $.id, which this run did not return" in result.stdout


def test_its_kernel_messages_compare_green_on_a_fresh_server(
    cassette: Path, tmp_path: Path
) -> None:
    """Issue 13 on issue 11's replay: the kernel id carried over, not patched in by hand;
    replies matched by their parent's msg_id, status counts free (the .noise.toml)."""
    from tests.integration.test_jupyter_messages import NOISE

    copy = tmp_path / "jupyter.yaml"
    copy.write_text(cassette.read_text())
    (tmp_path / "jupyter.noise.toml").write_text(NOISE)
    token = "compare-" + secrets.token_hex(16)
    with jupyter_server(token, tmp_path / "root") as base:
        result = retape(
            "replay", str(copy), "--target", base, "--timeout", "20",
            "--secret", f"{password_placeholder(copy)}={TOKEN_ENV}",
            "--header", f"Authorization: token ${{{TOKEN_ENV}}}", *_session_secrets(copy),
            "--compare", "status,messages", "--json", str(tmp_path / "report.json"),
            env={TOKEN_ENV: token, "JUPYTER_SESSION_ID": secrets.token_hex(16)}, timeout=240,
        )  # fmt: skip
        assert running_kernels(base, token) == []
    assert result.returncode == 0, result.stdout + result.stderr
    rows = json.loads((tmp_path / "report.json").read_text())["results"]
    (channel,) = [r for r in rows if r["type"] == "websocket"]
    assert channel["ws_session_ok"] and channel["differences"] == []
    assert channel["ws_server_messages"] >= 3  # busy, the reply, idle at the least
