"""Messy real HTTP through ``retape record``: streams, encodings, binary and huge bodies.

Every test runs the real CLI in front of a real upstream (``tests/recorder_upstreams.py``)
on loopback, with real clients.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from retape.cassette import load_cassette
from retape.cassette.model import Body, Interaction
from tests.recorder_support import TIMEOUT, peak_rss, serve_upstream
from tests.recorder_upstreams import ENCODED_JSON, GAP, MIB, big_body

HUGE = 50 * MIB


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    with serve_upstream("http") as url:
        yield url


def only(out: Path) -> Interaction:
    (interaction,) = load_cassette(out).interactions
    return interaction


def body_of(interaction: Interaction, side: str = "response") -> Body:
    body = getattr(interaction, side).body
    assert body is not None
    return body


def sent_at(line: str) -> float:
    """The upstream's send time, written into each part of a slow stream."""
    if line.startswith("data: {"):
        return json.loads(line.removeprefix("data: "))["sent"]
    return float(line.rsplit("sent=", 1)[1])


@pytest.mark.parametrize(("path", "first"), [("/sse", "data: {"), ("/chunked", "part 1")])
def test_stream_reaches_the_client_as_it_streams_and_is_recorded_whole(record, path, first):
    """The upstream waits GAP seconds between parts; the first must not wait for the second."""
    with record() as rec:
        received: list[tuple[float, str]] = []
        with httpx.Client(timeout=TIMEOUT) as client, client.stream("GET", rec.url + path) as r:
            for line in r.iter_lines():
                received.append((time.time(), line))
        assert rec.stop()[0] == 0

    first_at, first_line = next((at, line) for at, line in received if line.startswith(first))
    second_sent = max(sent_at(line) for _, line in received if "sent" in line)
    # Loopback and one clock: only buffering in the recorder could make this gap small.
    assert second_sent - first_at > GAP / 2, "the first part waited for the second"
    assert first_at - sent_at(first_line) < GAP / 2

    recorded = body_of(only(rec.out))
    assert recorded.kind == "text"
    text = "".join(line + "\n" for _, line in received)
    if path == "/sse":  # event boundaries (blank lines) and multi-line events survive
        assert recorded.value.split("\n\n")[1].startswith("event: note\nid: 7\ndata: {")
        assert recorded.value.endswith("data: [DONE]\n\n")
    assert recorded.value == text


@pytest.mark.parametrize("encoding", ["gzip", "deflate", "br", "zstd"])
def test_compressed_body_is_stored_decoded_with_its_encoding(record, encoding):
    with record() as rec:
        headers = {"accept-encoding": encoding}
        reply = httpx.get(f"{rec.url}/encoded/{encoding}", headers=headers, timeout=TIMEOUT)
        assert reply.headers["content-encoding"] == encoding
        assert rec.stop()[0] == 0

    interaction = only(rec.out)
    body = body_of(interaction)
    assert (body.kind, body.value, body.content_encoding) == ("json", ENCODED_JSON, encoding)
    assert dict(interaction.response.headers)["content-encoding"] == encoding


def test_binary_request_and_response_bodies_are_base64(record):
    sent = os.urandom(4096)
    with record() as rec:
        reply = httpx.post(
            rec.url + "/binary",
            content=sent,
            headers={"content-type": "application/octet-stream"},
            timeout=TIMEOUT,
        )
        assert reply.content == b"\x89PNG\r\n\x1a\n" + sent
        assert rec.stop()[0] == 0

    interaction = only(rec.out)
    request, response = body_of(interaction, "request"), body_of(interaction)
    assert (request.kind, request.to_bytes()) == ("base64", sent)
    assert (response.kind, response.to_bytes()) == ("base64", reply.content)


def chunks(size: int) -> Iterator[bytes]:
    """A request body of unknown size: httpx sends it chunked."""
    for start in range(0, size, MIB):
        yield big_body(min(MIB, size - start))


def test_50_mb_bodies_stream_through_in_flat_memory_and_are_noted_not_stored(record):
    expected = hashlib.sha256(big_body(HUGE)).hexdigest()
    with record() as rec, httpx.Client(base_url=rec.url, timeout=30) as client:
        client.get("/big", params={"size": MIB})  # warm up every code path first
        client.post("/upload", content=big_body(MIB))
        baseline = peak_rss(rec.proc.pid)

        for chunked in ("0", "1"):
            digest, size = hashlib.sha256(), 0
            with client.stream("GET", "/big", params={"size": HUGE, "chunked": chunked}) as r:
                for piece in r.iter_bytes():
                    digest.update(piece)
                    size += len(piece)
            assert (size, digest.hexdigest()) == (HUGE, expected)
        for content in (big_body(HUGE), chunks(HUGE)):
            reply = client.post("/upload", content=content)
            assert reply.json() == {"size": HUGE, "sha256": expected}

        growth = peak_rss(rec.proc.pid) - baseline
        assert rec.stop()[0] == 0

    # Two 50 MB responses and two 50 MB uploads passed; buffering any one would show.
    assert growth < 50 * MIB, f"recorder peak RSS grew by {growth / MIB:.0f} MiB"
    warm_get, warm_post, *huge = load_cassette(rec.out).interactions
    assert body_of(warm_get).to_bytes() == big_body(MIB)  # under the cap: stored
    assert body_of(warm_post, "request").to_bytes() == big_body(MIB)
    notes = [body_of(huge[0]), body_of(huge[1])]
    notes += [body_of(huge[2], "request"), body_of(huge[3], "request")]
    for note in notes:
        assert note.is_omitted
        assert (note.size, note.sha256) == (HUGE, expected)
    assert notes[0].content_type == "application/octet-stream"
    assert rec.out.stat().st_size < 3 * MIB  # the two 1 MiB warm-up bodies, as base64


def test_max_body_size_sets_the_cap_for_stored_and_decoded_bodies(record):
    with record("--max-body-size", "2k") as rec, httpx.Client(timeout=TIMEOUT) as client:
        client.get(rec.url + "/big", params={"size": 2048})
        client.get(rec.url + "/big", params={"size": 2049, "chunked": "1"})
        client.post(rec.url + "/upload", content=b"x" * 2049)
        # A few dozen bytes of gzip that decode to 2.4 kB: over the cap once decoded.
        client.get(rec.url + "/encoded/gzip")
        assert rec.stop()[0] == 0

    at_cap, over, upload, encoded = load_cassette(rec.out).interactions
    assert body_of(at_cap).to_bytes() == big_body(2048)
    assert body_of(over).is_omitted and body_of(over).size == 2049
    assert body_of(upload, "request").is_omitted
    note = body_of(encoded)
    assert (note.is_omitted, note.content_encoding) == (True, "gzip")
    assert note.size is not None and note.size < 2048  # the size as sent, still encoded


def test_bad_max_body_size_exits_2_at_start(tmp_path):
    from tests.support import free_port, retape

    result = retape(
        "record", "--upstream", "http://127.0.0.1:1", "--listen", f"127.0.0.1:{free_port()}",
        "--out", str(tmp_path / "c.yaml"), "--max-body-size", "ten megs", timeout=30,
    )  # fmt: skip
    assert result.returncode == 2
    assert "--max-body-size" in result.stderr and "10MiB" in result.stderr
