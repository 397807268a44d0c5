"""The streaming reader yields exactly what ``load_cassette`` builds, one item at a time.

``cassette.stream`` splits a file on its top-level ``- `` lines and parses each item
alone. These tests pin that it gives the same interactions as the whole-file loader on
the shipped cassettes, on generated ones (strings full of YAML's special characters),
and on hand-edited shapes it must not split (then it reads the file whole); that its
errors read like the loader's, naming the item's line and index in the file; and that
its memory does not grow with the file.
"""

from __future__ import annotations

import base64
import os
import string
import tracemalloc
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from retape.cassette.dump import dump_cassette, dump_header, dump_interaction
from retape.cassette.errors import CassetteError
from retape.cassette.load import load_cassette
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
from retape.cassette.stream import IdSet, iter_interactions, open_cassette
from tests.support import REPO

SHIPPED = sorted((REPO / "sessions").glob("*.yaml"))


def small(ident: int, *, at: float = 0.0, status: int = 200) -> Interaction:
    request = Request("GET", f"/items/{ident}", [("Host", "recorded.example")])
    return Interaction(ident, "http", request, Response(status), at=at)


def write(folder: Path, text: str, name: str = "c.yaml") -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8", newline="")
    return path


def outcome(read) -> tuple[str, object]:
    try:
        return "ok", read()
    except CassetteError as exc:
        return "error", str(exc)


def assert_reads_like_the_loader(path: Path) -> None:
    """Both accept with the same interactions, or both refuse (the same way, when the
    reader fell back to the loader)."""
    whole = outcome(lambda: load_cassette(path).interactions)
    streamed = outcome(lambda: list(open_cassette(path)))
    assert streamed[0] == whole[0], (streamed, whole)
    if whole[0] == "ok":
        assert streamed == whole
        assert list(iter_interactions(path)) == whole[1]


# --- the same interactions ---------------------------------------------------------------


@pytest.mark.parametrize("path", SHIPPED, ids=[p.name for p in SHIPPED])
def test_shipped_cassettes_stream_as_they_load(path: Path) -> None:
    loaded = load_cassette(path)
    stream = open_cassette(path)
    assert not stream.whole  # read item by item, not by the fallback
    assert (stream.count, stream.recording) == (len(loaded.interactions), loaded.recording)
    assert list(stream) == loaded.interactions
    assert list(stream) == loaded.interactions  # each iteration reads the file again


# Strings that exercise the writer's quoting and block styles, and the reader's splitting.
TRICKY = ["\n", "- ", "-", "\n- ", "#", "'", '"', ":", " ", "\t", "\r", "\u2028", "\x85"]
TRICKY += ["interactions:", "---", "...", "- id: 9", "[", "{", "*a", "&a", "|", "\\", "é", "0"]
texts = st.lists(st.sampled_from(TRICKY) | st.text(max_size=3), max_size=8).map("".join)
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | texts,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(texts, inner, max_size=3),
    max_leaves=8,
)
bodies = st.one_of(
    st.none(),
    st.builds(lambda v: Body("json", v), json_values),
    st.builds(lambda v: Body("text", v), texts.filter(bool)),
    st.builds(lambda v: Body("base64", base64.b64encode(v).decode()), st.binary(min_size=1)),
)
# Header names are RFC 9110 tokens and values hold no CR, LF or NUL (the schema says so).
header_names = st.text(string.ascii_letters + string.digits + "!#$%&'*+.^_`|~-", min_size=1)
header_values = texts.map(lambda t: t.replace("\r", " ").replace("\n", " ").replace("\0", " "))
headers = st.lists(st.tuples(header_names, header_values), max_size=3)
messages = st.lists(
    st.builds(
        Message,
        st.sampled_from(["client", "server"]),
        st.floats(0, 100),
        st.just("text"),
        texts,
    ),
    max_size=3,
)


@st.composite
def interactions(draw: st.DrawFn, ident: int) -> Interaction:
    kind = draw(st.sampled_from(["http", "websocket"]))
    request = Request(
        draw(st.text(string.ascii_uppercase, min_size=1, max_size=6)),
        "/" + draw(texts).lstrip("/"),
        draw(headers),
        draw(bodies),
        draw(st.lists(st.sampled_from(["authorization", "cookie"]), max_size=1)),
    )
    response = Response(draw(st.integers(100, 599)), draw(headers), draw(bodies), draw(texts))
    interaction = Interaction(ident, kind, request, response, at=draw(st.floats(0, 1e5)))
    if kind == "websocket":
        interaction.messages = draw(messages)
        interaction.close = Close(1000, draw(texts), "client")
    return interaction


@st.composite
def cassettes(draw: st.DrawFn) -> Cassette:
    count = draw(st.integers(0, 5))
    items = [draw(interactions(ident)) for ident in range(1, count + 1)]
    return Cassette(Recording(draw(texts), "0.1.0", "", draw(texts)), items)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cassettes())
def test_generated_cassettes_stream_as_they_load(tmp_path_factory, cassette: Cassette) -> None:
    path = write(tmp_path_factory.mktemp("gen"), dump_cassette(cassette))
    loaded = load_cassette(path)
    stream = open_cassette(path)
    assert not stream.whole  # whatever the writer writes is read item by item
    assert list(stream) == loaded.interactions
    assert stream.recording == loaded.recording


# Hand edits the reader must not split on lines: each is either read whole (same
# interactions as the loader) or refused like the loader refuses it.
EDITS = {
    "key after the list": lambda t: t + "extra: 1\n",
    "document end": lambda t: t + "...\n",
    "second document": lambda t: t + "---\nretape: 1\n",
    "indented list": lambda t: t.replace("\n- ", "\n  - ").replace("\n  ", "\n    "),
    "flow list": lambda t: t.split("interactions:")[0] + "interactions: []\n",
    "comments and blanks": lambda t: t.replace("\n- ", "\n# note\n\n- ").replace(
        "interactions:\n", "interactions:   # the list\n# first\n\n"
    ),
    "crlf": lambda t: t.replace("\n", "\r\n"),
    "lone cr before an item": lambda t: t.replace("\n- id: 2", "\r- id: 2"),
    "quoted text running over an item start": lambda t: t.replace(
        "path: /items/1", 'path: "/items/1\n- id: 7\n  x"'
    ),
    "flow list running over an item start": lambda t: t.replace(
        "- [Host, recorded.example]\n", "- [Host,\n- x]\n", 1
    ),
    "plain text at column 0": lambda t: t.replace("path: /items/1", "path: /items/1\nx"),
    "dash without a space": lambda t: t.replace("\n- id: 2", "\n-\n  id: 2"),
    "tab after the dash": lambda t: t.replace("\n- id: 2", "\n-\tid: 2"),
    "bom": lambda t: "\ufeff" + t,
    "no newline at the end": lambda t: t.rstrip("\n"),
    "anchor and alias across items": lambda t: t.replace("/items/1", "&p /items/1").replace(
        "path: /items/2", "path: *p"
    ),
    "header after the items": lambda t: t.replace("retape: 1\n", "") + "retape: 1\n",
    "items before the header key": lambda t: (
        "retape: 1\ninteractions:\n- 1\ninteractions:\n" + t.split("interactions:\n", 1)[1]
    ),
}


STREAMED = {"comments and blanks", "crlf", "lone cr before an item", "bom", "no newline at the end"}


@pytest.mark.parametrize(("name", "edit"), EDITS.items(), ids=EDITS.keys())
def test_hand_edited_shapes_read_like_the_loader(tmp_path: Path, name: str, edit) -> None:
    text = dump_cassette(Cassette(Recording(), [small(1), small(2), small(3)]))
    path = write(tmp_path, edit(text))
    assert_reads_like_the_loader(path)
    if name in STREAMED:
        assert not open_cassette(path).whole


def test_what_cannot_be_split_is_read_whole(tmp_path: Path) -> None:
    text = dump_cassette(Cassette(Recording(), [small(1), small(2)]))
    path = write(tmp_path, text.replace("path: /items/1", 'path: "/items/1\n- id: 7\n  x"'))
    stream = open_cassette(path)
    assert stream.whole and stream.count == 2
    first, second = stream
    assert (first.request.path, second.id) == ("/items/1 - id: 7 x", 2)


def test_empty_cassette_streams_nothing(tmp_path: Path) -> None:
    path = write(tmp_path, dump_header(Recording(at="2026-01-01T00:00:00+00:00")))
    stream = open_cassette(path)
    assert (stream.count, list(stream), stream.whole) == (0, [], False)
    assert stream.recording.at == "2026-01-01T00:00:00+00:00"


# --- errors ------------------------------------------------------------------------------


def broken(tmp_path: Path, old: str, new: str, *, at: int = 3) -> Path:
    """A five-interaction cassette with one change in interaction ``at``."""
    text = dump_header(Recording())
    for ident in range(1, 6):
        block = dump_interaction(small(ident))
        text += block.replace(old, new) if ident == at else block
    return write(tmp_path, text)


BREAKAGES = {
    "schema": ("status: 200", "status: two hundred"),
    "unknown field": ("status: 200", "stauts: 200"),
    "not sendable": ("status: 200", "status: 200\n    body: {base64: '%%%'}"),
    "yaml syntax": ("status: 200", "status: [200"),
    "alias": ("path: /items/3", "path: *x"),
    "tag": ("path: /items/3", "path: !!python/name:os.system ''"),
    "absolute url": ("path: /items/3", "path: http://evil.example/x"),
}


@pytest.mark.parametrize(("old", "new"), BREAKAGES.values(), ids=BREAKAGES.keys())
def test_an_error_in_one_item_is_worded_as_the_loader_words_it(
    tmp_path: Path, old: str, new: str
) -> None:
    path = broken(tmp_path, old, new)
    with pytest.raises(CassetteError) as loaded:
        load_cassette(path)
    with pytest.raises(CassetteError) as streamed:
        open_cassette(path)
    assert str(streamed.value) == str(loaded.value)
    assert f"{path}:" in str(streamed.value)


def test_an_item_error_names_its_line_and_index_in_the_file(tmp_path: Path) -> None:
    path = broken(tmp_path, "status: 200", "status: two hundred", at=4)
    line = next(n for n, text in enumerate(path.read_text().splitlines(), 1) if "two" in text)
    with pytest.raises(CassetteError) as error:
        open_cassette(path)
    assert str(error.value).startswith(f"{path}:{line}: interactions[3].response.status: ")


def test_duplicate_ids_are_refused_across_items(tmp_path: Path) -> None:
    path = broken(tmp_path, "id: 3", "id: 1")
    with pytest.raises(CassetteError) as loaded:
        load_cassette(path)
    with pytest.raises(CassetteError) as streamed:
        open_cassette(path)
    assert str(streamed.value) == str(loaded.value)
    assert "interactions[2].id: duplicate interaction id 1" in str(streamed.value)


def test_unreadable_files_are_refused_in_the_loader_words(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    not_utf8 = tmp_path / "latin1.yaml"
    text = dump_cassette(Cassette(Recording(), [small(1), small(2)]))
    not_utf8.write_bytes(text.replace("/items/2", "/caf\xe9").encode("latin-1"))
    for path in (not_utf8, tmp_path / "missing.yaml", tmp_path):
        with pytest.raises(CassetteError) as loaded:
            load_cassette(path)
        with pytest.raises(CassetteError) as streamed:
            open_cassette(path)
        assert str(streamed.value) == str(loaded.value)
    monkeypatch.setenv("RETAPE_MAX_CASSETTE_MB", "0.0001")
    big = write(tmp_path, text, "big.yaml")
    with pytest.raises(CassetteError, match="over the 104-byte limit"):
        open_cassette(big)


def test_iterating_reports_a_problem_when_it_is_reached(tmp_path: Path) -> None:
    path = broken(tmp_path, "status: 200", "status: two hundred", at=3)
    read = iter_interactions(path)
    assert [next(read).id, next(read).id] == [1, 2]
    with pytest.raises(CassetteError, match=r"interactions\[2\]\.response\.status"):
        next(read)


def test_a_file_changed_after_validation_is_not_replayed_on(tmp_path: Path) -> None:
    path = write(tmp_path, dump_cassette(Cassette(Recording(), [small(1)])))
    stream = open_cassette(path)
    with path.open("a", encoding="utf-8") as more:
        more.write(dump_interaction(small(2)))
    os.utime(path, ns=(1, 1))
    with pytest.raises(CassetteError, match="changed after it was validated"):
        list(stream)


def test_an_item_rewritten_in_place_after_validation_is_refused(tmp_path: Path) -> None:
    """Same inode, same size, mtime put back: the item's digest from the validating
    pass still tells, so no request the validated file never held is sent."""
    path = write(tmp_path, dump_cassette(Cassette(Recording(), [small(1), small(2)])))
    stream = open_cassette(path)
    before = path.stat()
    path.write_text(path.read_text().replace("/items/2", "/items/9"), encoding="utf-8")
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert (path.stat().st_ino, path.stat().st_size) == (before.st_ino, before.st_size)
    read = iter(stream)
    assert next(read).request.path == "/items/1"
    with pytest.raises(CassetteError, match=r"c\.yaml:\d+: changed after it was validated"):
        next(read)


# --- memory ------------------------------------------------------------------------------


def test_memory_does_not_grow_with_the_file(tmp_path: Path) -> None:
    path = tmp_path / "long.yaml"
    with path.open("w", encoding="utf-8") as out:
        out.write(dump_header(Recording()))
        for ident in range(1, 3001):
            out.write(dump_interaction(small(ident, at=ident / 100)))
    size = path.stat().st_size
    tracemalloc.start()
    try:
        stream = open_cassette(path)
        validated = tracemalloc.get_traced_memory()[1]
        tracemalloc.reset_peak()
        count = sum(1 for _ in stream)
        replayed = tracemalloc.get_traced_memory()[1]
        tracemalloc.reset_peak()
        load_cassette(path)
        loaded = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert (stream.count, count) == (3000, 3000)
    assert loaded > size  # the whole document, as objects
    assert validated < size / 10 and replayed < size / 10, (validated, replayed, size, loaded)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(1, 40), max_size=60))
def test_id_set_is_a_set(ids: list[int]) -> None:
    seen = IdSet()
    plain: set[int] = set()
    for ident in ids:
        assert seen.add(ident) == (ident not in plain)
        plain.add(ident)
    runs = sum(1 for i in plain if i - 1 not in plain)
    assert len(seen) == runs


@pytest.mark.parametrize("text", ["Loading...", "a\n...", "\\...", "a\n\n"])
def test_text_ending_in_three_dots_survives_the_writer(tmp_path: Path, text: str) -> None:
    """The writer drops PyYAML's document end marker, and only that (found by the
    generated cassettes above: "Loading..." used to lose its dots and its line break)."""
    cassette = Cassette(Recording(), [small(1), small(2)])
    cassette.interactions[0].response.body = Body("text", text)
    path = write(tmp_path, dump_cassette(cassette))
    assert load_cassette(path).interactions[0].response.body == Body("text", text)
    assert list(open_cassette(path)) == load_cassette(path).interactions


@pytest.mark.parametrize("cut", [20, 25, 150], ids=["valid-yaml-invalid-item", "in-yaml", "late"])
def test_a_torn_last_item_is_dropped_once_with_one_warning(
    tmp_path: Path, cut: int, caplog: pytest.LogCaptureFixture
) -> None:
    """A killed recorder can leave its last block half written, without its newline: the
    loader drops that block with a warning, and so does the stream, warning only once."""
    text = dump_cassette(Cassette(Recording(), [small(1), small(2), small(3)]))
    last = text.rindex("\n- ") + 1
    path = write(tmp_path, text[: last + cut])
    with caplog.at_level("WARNING"):
        loaded = load_cassette(path).interactions
    assert [i.id for i in loaded] == [1, 2]
    caplog.clear()
    with caplog.at_level("WARNING"):
        stream = open_cassette(path)
        assert (stream.count, stream.whole) == (2, False)
        assert list(stream) == list(stream) == loaded
    assert [r.getMessage() for r in caplog.records].count(caplog.records[0].getMessage()) == 1
    assert len(caplog.records) == 1 and "ignoring the last interaction" in caplog.text


def test_a_broken_last_item_with_its_newline_is_an_error(tmp_path: Path) -> None:
    text = dump_cassette(Cassette(Recording(), [small(1), small(2)]))
    path = write(tmp_path, text.replace("status: 200\n    headers: []\n", "status: [\n", 2))
    assert path.read_text().endswith("\n")
    with pytest.raises(CassetteError) as loaded:
        load_cassette(path)
    with pytest.raises(CassetteError) as streamed:
        open_cassette(path)
    assert str(streamed.value) == str(loaded.value)
