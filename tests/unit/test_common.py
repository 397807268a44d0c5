"""retape.common: what the recorder and the replayer share, checked once for both."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from retape.recorder.endpoints import check_ca_file, parse_upstream
from retape.replayer.net.target import parse_target

from retape.common.errors import RetapeError
from retape.common.files import write_atomically
from retape.common.tls import ca_context

SECRET = "hunter2-do-not-echo"


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://127.0.0.1:21", "expected an http:// or https:// URL"),
        ("http://", "no host in"),
        ("http://127.0.0.1:0", "invalid URL"),
        ("http://127.0.0.1:99999", "invalid URL"),
        ("http://127.0.0.1:1 x", "invalid URL"),
        ("http://127.0.0.1:1/?q=1", "expected no"),
    ],
)
def test_upstream_and_target_refuse_the_same_urls_alike(url: str, message: str) -> None:
    for flag, parse in (("--upstream", parse_upstream), ("--target", parse_target)):
        with pytest.raises(RetapeError, match=message) as info:
            parse(url)
        assert str(info.value).startswith(flag)


@pytest.mark.parametrize("url", [f"http://me:{SECRET}@127.0.0.1:1", f"http://me:{SECRET}@h:99999"])
def test_a_password_in_a_url_is_refused_and_never_echoed(url: str) -> None:
    for parse in (parse_upstream, parse_target):
        with pytest.raises(RetapeError, match="credentials do not belong") as info:
            parse(url)
        assert SECRET not in str(info.value)


def test_only_the_target_may_have_a_path_prefix() -> None:
    assert parse_target("http://127.0.0.1:1/api/").prefix == "/api"
    with pytest.raises(RetapeError, match="expected no path, query or fragment"):
        parse_upstream("http://127.0.0.1:1/api")
    assert parse_upstream("HTTP://127.0.0.1:1/") == "http://127.0.0.1:1"


def test_ca_files_fail_the_same_way_for_both_sides(tmp_path: Path) -> None:
    missing, junk = tmp_path / "missing.pem", tmp_path / "junk.pem"
    junk.write_text("not a certificate\n")
    for path, message in ((missing, "no such file"), (junk, "not a PEM file of CA")):
        with pytest.raises(RetapeError, match=f"--ca-file {path}: {message}"):
            ca_context(str(path), flag="--ca-file")
        with pytest.raises(RetapeError, match=f"--upstream-ca-file {path}: {message}"):
            check_ca_file(str(path))


def test_atomic_writes_keep_the_mode_and_leave_no_temporary_file(tmp_path: Path) -> None:
    path = tmp_path / "notes.toml"
    write_atomically(path, "a = 1\n")
    assert path.read_text() == "a = 1\n" and (path.stat().st_mode & 0o777) == 0o644
    os.chmod(path, 0o600)
    write_atomically(path, "a = 2\n")
    assert path.read_text() == "a = 2\n" and (path.stat().st_mode & 0o777) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["notes.toml"]
