"""The omitted body: a body over the recorder's size cap, kept as size and sha256 only."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from retape.cassette import CassetteError, load_cassette
from retape.cassette.dump import dump_cassette
from retape.cassette.model import (
    Body,
    Cassette,
    Interaction,
    OmittedBodyError,
    Recording,
    Request,
    Response,
)
from retape.cassette.redact import Redactor
from retape.common.errors import RetapeError

DIGEST = hashlib.sha256(b"x" * 100).hexdigest()
NOTE = Body.omitted(size=100, sha256=DIGEST, content_type="video/mp4", content_encoding="gzip")


def cassette_with(body: Body) -> Cassette:
    interaction = Interaction(
        id=1,
        type="http",
        request=Request("POST", "/upload", [("content-type", "video/mp4")], body),
        response=Response(200, [("content-type", "video/mp4")], body),
    )
    return Cassette(Recording(upstream="http://staging"), [interaction])


def test_omitted_body_round_trips_as_a_note(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(dump_cassette(cassette_with(NOTE)))
    assert "omitted: true\n" in path.read_text()
    (interaction,) = load_cassette(path).interactions
    assert interaction.request.body == NOTE == interaction.response.body
    assert NOTE.to_data() == {
        "omitted": True,
        "size": 100,
        "sha256": DIGEST,
        "content_type": "video/mp4",
        "content_encoding": "gzip",
    }
    assert NOTE.is_omitted and not Body("text", "x").is_omitted


def test_omitted_body_has_no_bytes_and_says_why() -> None:
    with pytest.raises(OmittedBodyError, match="100 bytes was not recorded") as raised:
        NOTE.to_bytes()
    assert isinstance(raised.value, RetapeError)  # one line and exit 2 in any command


def test_redaction_leaves_an_omitted_body_alone() -> None:
    (interaction,) = cassette_with(NOTE).interactions
    assert Redactor().interaction(interaction).response.body == NOTE


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("{omitted: true, size: 5}", "an omitted body needs 'sha256'"),
        ("{json: {a: 1}, size: 5}", "'size' belongs only to an omitted body"),
        (f"{{omitted: true, size: 5, sha256: {DIGEST}, text: x}}", "'base64' or 'omitted'"),
        (f"{{omitted: false, size: 5, sha256: {DIGEST}}}", "expected one of true, got false"),
        ("{omitted: true, size: 5, sha256: ABC}", "expected 64 lowercase hex digits"),
        (f"{{omitted: true, size: -1, sha256: {DIGEST}}}", "out of range"),
    ],
)
def test_malformed_omitted_bodies_are_refused_with_a_clear_message(
    tmp_path: Path, body: str, message: str
) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(
        "retape: 1\ninteractions:\n- id: 1\n  type: http\n"
        "  request: {method: GET, path: /}\n"
        f"  response:\n    status: 200\n    body: {body}\n"
    )
    with pytest.raises(CassetteError, match=message) as raised:
        load_cassette(path)
    assert str(raised.value).startswith(f"{path}:8: interactions[0].response.body")
