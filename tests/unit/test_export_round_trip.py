"""Exports open where those formats are read, and import back to the same cassette.

The HAR is read with mitmproxy's own HAR reader (``mitmproxy.io.har.request_to_flow``,
and ``FlowReader``, which is what ``mitmproxy -r x.har`` uses); the flow file with
mitmproxy's ``FlowReader``. Both import back to a cassette equal to the original in
every interaction, placeholders included.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from mitmproxy import http
from mitmproxy.io import FlowReader
from mitmproxy.io.har import request_to_flow

from retape.cassette import load_cassette
from retape.cli import main
from tests.support import REPO

SESSIONS = [REPO / "sessions" / "chat.yaml", REPO / "sessions" / "realtime.yaml"]


@pytest.fixture(params=SESSIONS, ids=lambda p: p.name)
def cassette(request: pytest.FixtureRequest) -> Path:
    return request.param


def _equivalent(original: Path, again: Path) -> None:
    before, after = load_cassette(original), load_cassette(again)
    assert after.recording.upstream == before.recording.upstream
    assert len(after.interactions) == len(before.interactions)
    for old, new in zip(before.interactions, after.interactions, strict=True):
        old_data, new_data = old.to_data(), new.to_data()
        assert new_data["at"] == pytest.approx(old_data.pop("at") - before.interactions[0].at)
        new_data.pop("at")
        assert new_data == old_data


def test_exported_har_opens_with_mitmproxys_har_reader(cassette: Path, tmp_path: Path) -> None:
    har = tmp_path / "out.har"
    assert main(["export", str(cassette), "--har", str(har)]) == 0
    document = json.loads(har.read_text())
    interactions = load_cassette(cassette).interactions
    entries = document["log"]["entries"]
    assert len(entries) == len(interactions)
    for entry, interaction in zip(entries, interactions, strict=True):
        flow = request_to_flow(entry)
        assert flow.request.method == interaction.request.method
        assert flow.request.path == interaction.request.path
        assert flow.response.status_code == interaction.response.status
        if interaction.response.body is not None:
            assert flow.response.content == interaction.response.body.to_bytes()
        if interaction.accepted:
            frames = entry["_webSocketMessages"]
            assert len(frames) == len(interaction.messages)
            assert {f["type"] for f in frames} == {"send", "receive"}
            assert {f["opcode"] for f in frames} == {1}
    with har.open("rb") as handle:  # what `mitmproxy -r out.har` does
        assert len(list(FlowReader(handle).stream())) == len(interactions)
    assert "<redacted:1>" in har.read_text()


def test_exported_har_imports_back_to_an_equivalent_cassette(cassette: Path, tmp_path) -> None:
    har, again = tmp_path / "out.har", tmp_path / "again.yaml"
    assert main(["export", str(cassette), "--har", str(har)]) == 0
    assert main(["import", str(har), "--out", str(again)]) == 0
    _equivalent(cassette, again)


def test_exported_flows_open_with_mitmproxy_and_import_back(cassette: Path, tmp_path) -> None:
    flows, again = tmp_path / "out.flows", tmp_path / "again.yaml"
    assert main(["export", str(cassette), "--flows", str(flows)]) == 0
    with flows.open("rb") as handle:
        read = list(FlowReader(handle).stream())
    interactions = load_cassette(cassette).interactions
    assert all(isinstance(f, http.HTTPFlow) for f in read)
    assert [f.response.status_code for f in read] == [i.response.status for i in interactions]
    sessions = [f for f in read if f.websocket is not None]
    assert len(sessions) == sum(1 for i in interactions if i.accepted)
    assert main(["import", str(flows), "--out", str(again)]) == 0
    _equivalent(cassette, again)


def test_export_says_where_to(tmp_path: Path, capsys) -> None:
    assert main(["export", str(SESSIONS[0])]) == 2
    assert "--har OUT and/or --flows OUT" in capsys.readouterr().err
