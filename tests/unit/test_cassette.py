"""The cassette contract: round trips, validation messages that point at the place."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from retape.cassette import CassetteError, load_cassette
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
from retape.cassette.redact import Redactor, is_placeholder
from retape.cassette.rules import Rules
from retape.cassette.writer import CassetteWriter


def sample_cassette() -> Cassette:
    chat = Interaction(
        id=1,
        type="http",
        request=Request(
            "POST",
            "/v1/chat/completions?trace=1",
            [("content-type", "application/json"), ("x-tag", "a"), ("x-tag", "b")],
            Body.from_bytes(b'{"messages":[{"role":"user","content":"yes"}]}', "application/json"),
            ["authorization"],
        ),
        response=Response(
            200,
            [("content-type", "text/event-stream")],
            Body.from_bytes(b"data: {}\n\ndata: [DONE]\n\n", "text/event-stream", "gzip"),
        ),
        at=0.5,
        duration=0.01,
    )
    realtime = Interaction(
        id=2,
        type="websocket",
        request=Request("GET", "/v1/realtime", [("sec-websocket-protocol", "realtime")]),
        response=Response(101, [("upgrade", "websocket")]),
        messages=[
            Message.from_frame("server", 0.001, '{"type": "session.created"}'),
            Message.from_frame("client", 0.002, b"\x00\xffaudio"),
            Message.from_frame("client", 0.003, "plain text, not json"),
        ],
        close=Close(1000, "done", "client"),
    )
    rejected = Interaction(
        id=3,
        type="websocket",
        request=Request("GET", "/v1/realtime"),
        response=Response(
            401, [], Body.from_bytes(b'{"error":"Unauthorized"}', "application/json")
        ),
    )
    return Cassette(
        Recording("2026-11-25T10:00:00+00:00", "0.1.0", "11.0.2", "http://staging"),
        [chat, realtime, rejected],
    )


def test_round_trip_keeps_every_field(tmp_path: Path) -> None:
    original = sample_cassette()
    path = tmp_path / "c.yaml"
    path.write_text(dump_cassette(original))
    loaded = load_cassette(path)
    assert loaded.interactions == original.interactions
    assert loaded.recording == original.recording


def test_bodies_are_stored_readably(tmp_path: Path) -> None:
    text = dump_cassette(sample_cassette())
    assert "role: user" in text  # JSON request body as YAML structure
    assert "text: |" in text  # SSE stream as a block string
    assert "content_encoding: gzip" in text
    assert "base64: AP9hdWRpbw==" in text  # binary websocket frame
    assert "- [x-tag, a]\n" in text and "- [x-tag, b]\n" in text  # repeats kept, in order


def test_binary_and_json_bodies_round_trip_to_the_same_bytes() -> None:
    raw = bytes(range(256))
    assert Body.from_bytes(raw).to_bytes() == raw  # type: ignore[union-attr]
    body = Body.from_bytes(b'{"a": [1, 2.5, null]}', "application/json; charset=utf-8")
    assert body is not None and body.kind == "json" and body.value == {"a": [1, 2.5, None]}


def test_appended_interactions_load_after_each_write(tmp_path: Path) -> None:
    path = tmp_path / "rec.yaml"
    writer = CassetteWriter(path, Recording(at="now"))
    assert load_cassette(path).interactions == []
    for expected, interaction in enumerate(sample_cassette().interactions, start=1):
        writer.append(interaction)
        assert [i.id for i in load_cassette(path).interactions] == list(range(1, expected + 1))
    writer.close()


def test_second_writer_on_the_same_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "rec.yaml"
    first = CassetteWriter(path, Recording())
    with pytest.raises(CassetteError, match="another recorder"):
        CassetteWriter(path, Recording())
    first.close()


def test_reopening_a_cassette_continues_its_ids(tmp_path: Path) -> None:
    path = tmp_path / "rec.yaml"
    writer = CassetteWriter(path, Recording())
    writer.append(sample_cassette().interactions[0])
    writer.close()
    writer = CassetteWriter(path, Recording())
    assert writer.append(sample_cassette().interactions[1]).id == 2
    writer.close()


def test_reopening_a_cassette_continues_its_placeholder_numbers(tmp_path: Path) -> None:
    path = tmp_path / "rec.yaml"
    writer = CassetteWriter(path, Recording())
    assert writer.next_placeholder == 1
    leaky = sample_cassette().interactions[0]
    leaky.request.path = "/v1/chat?api_key=one-secret-1234&token=another-secret-5678"
    writer.append(Redactor(first_number=writer.next_placeholder).interaction(leaky))
    writer.close()
    highest = max(int(n) for n in re.findall(r"<redacted:(\d+)>", path.read_text()))
    writer = CassetteWriter(path, Recording())
    assert writer.next_placeholder == highest + 1
    writer.close()


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (
            ("status: 101", "status: '101'"),
            r":\d+: interactions\[1\]\.response\.status: expected an integer",
        ),
        (("status: 101", "status: 42"), r"interactions\[1\]\.response\.status: 42 is out of range"),
        (("type: websocket", "type: carrier-pigeon"), r"interactions\[1\]\.type: expected one of"),
        (
            ("path: /v1/realtime", "path: http://evil.example/x"),
            r"expected a path starting with a single '/'",
        ),
        (("method: POST", "method: POST\n    verb: GET"), r"unknown field 'verb'"),
        (("retape: 1", "retape: 2"), r"c\.yaml:1: retape: unsupported cassette format version 2"),
        (("id: 2", "id: 1"), r"interactions\[1\]\.id: duplicate interaction id 1"),
        (("interactions:", "interactions: {"), r"c\.yaml:\d+: invalid YAML"),
        (
            ("base64: AP9hdWRpbw==", "base64: '%%% nope'"),
            r"messages\[1\]\.base64: not valid base64",
        ),
        (("role: user", "role: !!timestamp 2024-01-01"), r"request\.body\.json: a date value"),
        (("role: user", "role: .nan"), r"request\.body\.json: nan is not a JSON number"),
    ],
)
def test_invalid_cassettes_name_file_line_and_place(
    tmp_path: Path, edit: tuple[str, str], expected: str
) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(dump_cassette(sample_cassette()).replace(*edit, 1))
    with pytest.raises(CassetteError, match=expected) as info:
        load_cassette(path)
    assert str(info.value).startswith(str(path))
    assert "\n" not in str(info.value)


def test_unquoted_dates_in_hand_edited_json_stay_strings(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(dump_cassette(sample_cassette()).replace("role: user", "role: 2024-01-01", 1))
    body = load_cassette(path).interactions[0].request.body
    assert body is not None and b'"role":"2024-01-01"' in body.to_bytes()


def test_line_number_points_at_the_bad_value(tmp_path: Path) -> None:
    text = dump_cassette(sample_cassette()).replace("status: 101", "status: nope", 1)
    path = tmp_path / "c.yaml"
    path.write_text(text)
    bad_line = next(n for n, line in enumerate(text.splitlines(), 1) if "status: nope" in line)
    with pytest.raises(CassetteError) as info:
        load_cassette(path)
    assert info.value.line == bad_line


def test_python_tags_are_refused_not_executed(tmp_path: Path) -> None:
    path = tmp_path / "evil.yaml"
    marker = tmp_path / "pwned"
    path.write_text(
        f"retape: 1\ninteractions: !!python/object/apply:os.system ['touch {marker}']\n"
    )
    with pytest.raises(CassetteError, match="invalid YAML"):
        load_cassette(path)
    assert not marker.exists()


def test_non_utf8_file_is_one_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "bin.yaml"
    path.write_bytes(b"retape: 1\ninteractions:\n- id: \xff\n")
    with pytest.raises(CassetteError, match=r"bin\.yaml:3: not UTF-8"):
        load_cassette(path)


def test_redactor_numbers_secrets_consistently_and_keeps_the_scheme() -> None:
    redactor = Redactor(Rules().extended(headers=["X-Internal-Token"]))
    headers, carried = redactor.headers(
        [
            ("Authorization", "Bearer sk-live-1"),
            ("Cookie", "session=abc"),
            ("X-Internal-Token", "t0"),
            ("Accept", "*/*"),
        ]
    )
    again, _ = redactor.headers([("authorization", "Bearer sk-live-1")])
    assert headers[0] == ("Authorization", "Bearer <redacted:1>")
    assert again[0] == ("authorization", "Bearer <redacted:1>")
    assert headers[1] == ("Cookie", "<redacted:2>") and headers[2] == (
        "X-Internal-Token",
        "<redacted:3>",
    )
    assert headers[3] == ("Accept", "*/*")
    assert carried == ["authorization", "cookie", "x-internal-token"]
    assert all(is_placeholder(v) for _, v in headers[:3]) and not is_placeholder("*/*")


@pytest.mark.parametrize(
    "tail",
    ["interactions: []\n", "interactions:\nrecording: {}\n"],
    ids=["flow-list", "key-after-interactions"],
)
def test_appending_to_a_cassette_of_another_shape_is_refused_and_unlocks(
    tmp_path: Path, tail: str
) -> None:
    path = tmp_path / "rec.yaml"
    path.write_text("retape: 1\n" + tail)
    before = path.read_text()
    for _ in range(2):  # the second attempt must not report a stale lock
        with pytest.raises(CassetteError, match="cannot append"):
            CassetteWriter(path, Recording())
    assert path.read_text() == before


def test_appending_after_a_missing_final_newline_keeps_the_file_loadable(tmp_path: Path) -> None:
    path = tmp_path / "rec.yaml"
    writer = CassetteWriter(path, Recording())
    writer.append(sample_cassette().interactions[0])
    writer.close()
    path.write_text(path.read_text().rstrip("\n"))
    writer = CassetteWriter(path, Recording())
    writer.append(sample_cassette().interactions[1])
    writer.close()
    assert [i.id for i in load_cassette(path).interactions] == [1, 2]


def test_a_final_interaction_cut_short_by_a_kill_is_dropped_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "rec.yaml"
    writer = CassetteWriter(path, Recording())
    for interaction in sample_cassette().interactions[:2]:
        writer.append(interaction)
    writer.close()
    text = path.read_text()
    cut = text[: text.rindex("\n- ") + 40]  # the second block, torn mid-line
    path.write_text(cut)
    assert [i.id for i in load_cassette(path).interactions] == [1]
    assert "incomplete" in caplog.text and f"{path}:" in caplog.text
    writer = CassetteWriter(path, Recording())  # reopening trims the torn block first
    assert writer.append(sample_cassette().interactions[2]).id == 2
    writer.close()
    assert [i.type for i in load_cassette(path).interactions] == ["http", "websocket"]


def test_a_broken_last_item_that_ends_in_a_newline_is_still_an_error(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    text = dump_cassette(sample_cassette())
    path.write_text(text[: text.rindex("\n- ") + 1] + "- id: 3\n  type: http\n")
    with pytest.raises(CassetteError, match="missing required field"):
        load_cassette(path)


def test_a_named_pipe_is_refused_instead_of_blocking(tmp_path: Path) -> None:
    pipe = tmp_path / "pipe.yaml"
    os.mkfifo(pipe)
    with pytest.raises(CassetteError, match="not a regular file"):
        load_cassette(pipe)
