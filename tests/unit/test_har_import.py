"""HAR import: Chrome's shape at its edges, and every refusal as one line with exit 2."""

from __future__ import annotations

import json
import sys
import zlib
from pathlib import Path

import pytest

from retape.cassette import load_cassette
from retape.cli import main
from tests.chrome_har import SECRET, static_chrome_har


def _import(tmp_path: Path, document: object, *extra: str, name: str = "in.har") -> Path:
    source = tmp_path / name
    source.write_text(json.dumps(document) if not isinstance(document, str) else document)
    out = tmp_path / "out.yaml"
    assert main(["import", str(source), "--out", str(out), *extra]) == 0
    return out


def _refused(tmp_path: Path, capsys: pytest.CaptureFixture[str], content: bytes | str) -> str:
    source = tmp_path / "in.har"
    source.write_bytes(content if isinstance(content, bytes) else content.encode())
    assert main(["import", str(source), "--out", str(tmp_path / "out.yaml")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert not (tmp_path / "out.yaml").exists()
    return err


def test_chrome_har_imports_with_websocket_frames_and_no_secret(tmp_path: Path) -> None:
    out = _import(tmp_path, static_chrome_har())
    text = out.read_text()
    assert SECRET not in text
    cassette = load_cassette(out)
    assert cassette.recording.upstream == "https://api.example.test"
    chat, session = cassette.interactions  # the failed (status 0) entry is skipped
    assert chat.request.path == "/v1/chat/completions?trace=1"
    assert chat.http_version == "HTTP/2.0"
    assert not any(name.startswith(":") for name, _ in chat.request.headers)
    assert ("authorization", "Bearer <redacted:1>") in chat.request.headers
    assert chat.request.credentials == ["authorization"]
    assert chat.request.body.value == {"model": "demo-model", "messages": [], "stream": False}
    assert chat.response.body.value == {"id": "chatcmpl-abc123def"}
    assert chat.response.body.content_encoding == "gzip"  # decoded, as a recording stores it
    assert chat.duration == pytest.approx(0.0634)
    assert session.type == "websocket" and session.response.status == 101
    assert session.request.path == "/v1/realtime"
    assert session.request.credentials == ["cookie"]
    assert session.at == pytest.approx(0.997)
    assert [(m.sender, m.kind) for m in session.messages] == [
        ("server", "json"), ("client", "json"), ("client", "base64"), ("server", "base64"),
    ]  # fmt: skip
    assert [round(m.at, 3) for m in session.messages] == [0.0, 0.25, 0.3, 0.5]
    assert session.messages[2].payload() == bytes([0, 1, 2, 3, 4])
    assert session.close.by == "client"


def test_failed_request_is_skipped_with_a_warning(tmp_path: Path, capsys) -> None:
    _import(tmp_path, static_chrome_har())
    err = capsys.readouterr().err
    assert "entry 3: skipped GET https://ads.example.test/pixel: no response (status 0)" in err


def test_several_origins_are_kept_as_paths_or_narrowed_to_one(tmp_path: Path, capsys) -> None:
    har = static_chrome_har()
    har["log"]["entries"][2]["response"]["status"] = 204
    out = _import(tmp_path, har)
    assert len(load_cassette(out).interactions) == 3
    assert "the capture holds 2 origins" in capsys.readouterr().err
    out.unlink()
    out = _import(tmp_path, har, "--origin", "https://api.example.test")
    assert len(load_cassette(out).interactions) == 2


def test_zlib_compressed_har_and_a_bom_are_read(tmp_path: Path) -> None:
    raw = json.dumps(static_chrome_har()).encode()
    (tmp_path / "a.zhar").write_bytes(zlib.compress(raw, 9))
    (tmp_path / "b.har").write_bytes(b"\xef\xbb\xbf" + raw)
    for name in ("a.zhar", "b.har"):
        out = tmp_path / f"{name}.yaml"
        assert main(["import", str(tmp_path / name), "--out", str(out)]) == 0
        assert len(load_cassette(out).interactions) == 2


def test_existing_output_is_kept_unless_forced(tmp_path: Path, capsys) -> None:
    out = _import(tmp_path, static_chrome_har())
    assert main(["import", str(tmp_path / "in.har"), "--out", str(out)]) == 2
    assert "exists already (--force replaces it)" in capsys.readouterr().err
    assert main(["import", str(tmp_path / "in.har"), "--out", str(out), "--force"]) == 0


def _with(change) -> str:
    har = static_chrome_har()
    change(har["log"]["entries"])
    return json.dumps(har)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "not a capture: an empty file"),
        ("hello, world", "neither a HAR (JSON) nor a mitmproxy flow file"),
        ("{not json", "not a HAR: invalid JSON at line 1"),
        ('{"log": ' * 100_000, "not a HAR: JSON nested too deeply"),
        ('{"log": {}}', "not a HAR: no log.entries list"),
        (
            _with(lambda e: e[1]["request"]["headers"].pop(1)),
            "entry 2: websocket messages, but the request has no 'Upgrade: websocket' header",
        ),
        (
            _with(lambda e: e[1]["_webSocketMessages"][0].update(opcode=7)),
            "entry 2: _webSocketMessages[1].opcode is 7, not 1 (text) or 2 (binary)",
        ),
        (
            _with(lambda e: e[1]["_webSocketMessages"][2].update(data="%%%")),
            "entry 2: _webSocketMessages[3].data of a binary frame is not base64",
        ),
        (
            _with(lambda e: e[1]["response"].update(status=403)),
            "entry 2: websocket messages on a handshake the server refused (403)",
        ),
        (
            _with(lambda e: e[0].update(startedDateTime="yesterday")),
            "entry 1: startedDateTime is not ISO 8601",
        ),
        (_with(lambda e: e[0]["request"].pop("url")), "entry 1: no request.url"),
    ],
)
def test_refusals_are_one_line_naming_file_and_entry(
    tmp_path: Path, capsys, content: str, message: str
) -> None:
    err = _refused(tmp_path, capsys, content)
    assert err.startswith(f"retape: {tmp_path / 'in.har'}: ")
    assert message in err


def test_a_missing_file_is_refused(tmp_path: Path, capsys) -> None:
    assert main(["import", str(tmp_path / "nope.har"), "--out", str(tmp_path / "o.yaml")]) == 2
    assert "nope.har: cannot read: No such file or directory" in capsys.readouterr().err


def test_flow_files_without_mitmproxy_name_the_extra(
    tmp_path: Path, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    flows = tmp_path / "capture.flows"
    flows.write_bytes(b"12:abcdefghijkl,")
    monkeypatch.setitem(sys.modules, "mitmproxy", None)  # import mitmproxy now fails
    assert main(["import", str(flows), "--out", str(tmp_path / "o.yaml")]) == 2
    err = capsys.readouterr().err
    assert err == (
        "retape: mitmproxy flow files need mitmproxy, which is not installed: "
        "pip install 'retape[record]'\n"
    )


def test_a_broken_flow_file_is_refused(tmp_path: Path, capsys) -> None:
    flows = tmp_path / "capture.flows"
    flows.write_bytes(b"5:hello,")
    assert main(["import", str(flows), "--out", str(tmp_path / "o.yaml")]) == 2
    assert "capture.flows: not a readable mitmproxy flow file" in capsys.readouterr().err


def test_a_har_imports_without_mitmproxy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The base install (no [record] extra) imports HAR files."""
    for name in [m for m in sys.modules if m == "mitmproxy" or m.startswith("mitmproxy.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "mitmproxy", None)
    out = _import(tmp_path, static_chrome_har())
    assert len(load_cassette(out).interactions) == 2


def test_hostile_shapes_are_refused_not_crashed(tmp_path: Path, capsys) -> None:
    for entry in (
        {"request": {"url": "http://x/", "method": "GET", "headers": "no"},
         "response": {"status": 200}, "startedDateTime": "2026-01-01T00:00:00Z"},
        {"request": {"url": "http://x/", "method": "GET"}, "startedDateTime": 5,
         "response": {"status": 200}},
        {"request": {"url": "http://x/", "method": "GET"}, "response": {"status": 200,
         "content": {"text": 5}}, "startedDateTime": "2026-01-01T00:00:00Z"},
        {"request": {"url": "http://x/", "method": "GET"}, "time": "slow",
         "response": {"status": 200}, "startedDateTime": "2026-01-01T00:00:00Z"},
        "an entry",
    ):  # fmt: skip
        _refused(tmp_path, capsys, json.dumps({"log": {"entries": [entry]}}))
