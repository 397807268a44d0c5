"""Property-based tests: random and mutated cassettes never crash retape or hang it.

A user mistake (or a hostile file) must end in exit code 2 with one line on stderr, never
a traceback. The mutation tests start from the shipped cassettes, so they explore the
neighbourhood of real files; the generation tests build valid cassettes from scratch
and check they survive a dump/load round trip unchanged.
"""

from __future__ import annotations

import contextlib
import io
import os
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from retape.cassette import load_cassette
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
from retape.cli import main
from tests.support import DEMO_TOKEN, REPO, demo_target

SHIPPED = sorted((REPO / "sessions").glob("*.yaml"))
SEEDS = [path.read_bytes() for path in SHIPPED]
# Examples per property; FUZZ_EXAMPLES scales it (the bar is 2,000 per run).
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "2000"))


@contextlib.contextmanager
def captured() -> Iterator[io.StringIO]:
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        yield err


def run_cli(*args: str) -> tuple[int, str]:
    """The real CLI in-process: any exception escaping main() is a bug and fails the test."""
    with captured() as err:
        code = main(list(args))
    return code, err.getvalue()


def assert_user_error_or_ok(code: int, stderr: str, ok_codes: tuple[int, ...]) -> None:
    assert code in (*ok_codes, 2), (code, stderr)
    if code == 2:
        assert stderr.count("\n") == 1, stderr
        assert "Traceback" not in stderr


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    """A shipped cassette with a few random edits: byte flips, cuts, splices, junk lines."""
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["flip", "cut", "dup", "insert", "truncate"]))
        at = draw(st.integers(0, len(data)))
        if kind == "flip" and data:
            at = min(at, len(data) - 1)
            data[at] = draw(st.integers(0, 255))
        elif kind == "cut":
            del data[at : at + draw(st.integers(1, 80))]
        elif kind == "dup":
            data[at:at] = data[at : at + draw(st.integers(1, 200))]
        elif kind == "insert":
            junk = draw(
                st.sampled_from(
                    [b"\n- id: 1\n", b": ", b"&a ", b"*a", b"!!python/none ", b"[", b"{", b"'",
                     b"\t", b"\x00", b"\xff", b"status: -1", b"retape: 2", b"path: //x\n",
                     b"json: .nan", b"base64: '%%'", b"messages: 7"]
                )
            )  # fmt: skip
            data[at:at] = junk
        else:
            del data[at:]
    return bytes(data)


needs_seeds = pytest.mark.skipif(not SEEDS, reason="no shipped cassettes in sessions/")


@needs_seeds
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(content=mutated())
def test_mutated_cassettes_validate_or_fail_in_one_line(tmp_path_factory, content: bytes) -> None:
    path = tmp_path_factory.mktemp("m") / "mutated.yaml"
    path.write_bytes(content)
    code, stderr = run_cli("validate", str(path))
    assert_user_error_or_ok(code, stderr, ok_codes=(0,))
    code, stderr = run_cli("scan", str(path))
    assert_user_error_or_ok(code, stderr, ok_codes=(0, 1))


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(max_size=20)
    | st.floats(allow_nan=False, allow_infinity=False),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)  # fmt: skip
texts = st.text(st.characters(blacklist_categories=("Cs",)), max_size=60)
bodies = st.one_of(
    st.none(),
    json_values.filter(lambda v: isinstance(v, dict | list)).map(lambda v: Body("json", v)),
    st.binary(min_size=1, max_size=40).map(
        lambda b: Body.from_bytes(b, "application/octet-stream")
    ),
    texts.filter(bool).map(lambda t: Body.from_bytes(t.encode(), "text/plain")),
)
header_names = st.from_regex(r"[A-Za-z][A-Za-z0-9-]{0,15}", fullmatch=True)
header_values = texts.map(lambda t: t.replace("\n", " ").replace("\r", " ").replace("\0", " "))
headers = st.lists(st.tuples(header_names, header_values), max_size=4)
paths = st.from_regex(r"/[A-Za-z0-9._~%/-]{0,20}(\?[A-Za-z0-9=&]{0,12})?", fullmatch=True).filter(
    lambda p: not p.startswith("//")
)
messages = st.lists(
    st.builds(
        lambda sender, at, payload: Message.from_frame(sender, at, payload),
        st.sampled_from(["client", "server"]),
        st.floats(0, 100),
        st.one_of(texts, st.binary(max_size=20)),
    ),
    max_size=5,
)


reasons = texts.map(lambda t: t.replace("\n", " "))
closes = [Close(1000, "", "client"), Close(1006, "", "none"), Close(4001, "x", "server")]


@st.composite
def interactions(draw: st.DrawFn) -> Interaction:
    websocket = draw(st.booleans())
    status = 101 if websocket and draw(st.booleans()) else draw(st.integers(100, 599))
    accepted = websocket and status == 101
    return Interaction(
        id=1,
        type="websocket" if websocket else "http",
        request=Request(
            draw(st.sampled_from(["GET", "POST", "PUT", "DELETE"])), draw(paths),
            draw(headers), draw(bodies),
        ),
        response=Response(status, draw(headers), draw(bodies), draw(reasons)),
        at=draw(st.floats(0, 1e6)),
        duration=draw(st.floats(0, 1e3)),
        messages=draw(messages) if accepted else [],
        close=draw(st.sampled_from(closes)) if accepted else None,
    )  # fmt: skip


@settings(max_examples=max(200, EXAMPLES // 4), deadline=None)
@given(items=st.lists(interactions(), max_size=4))
def test_generated_cassettes_round_trip_exactly(tmp_path_factory, items: list[Interaction]) -> None:
    for number, item in enumerate(items, start=1):
        item.id = number
    cassette = Cassette(Recording(at="2026-11-25T00:00:00+00:00"), items)
    path = tmp_path_factory.mktemp("g") / "generated.yaml"
    path.write_text(dump_cassette(cassette))
    loaded = load_cassette(path)
    assert [i.to_data() for i in loaded.interactions] == [i.to_data() for i in items]


@pytest.fixture(scope="module")
def live_target() -> Iterator[str]:
    with demo_target("fixed") as url:
        yield url


@needs_seeds
@settings(
    max_examples=max(100, EXAMPLES // 10), deadline=None, suppress_health_check=list(HealthCheck)
)
@given(content=mutated())
def test_mutated_cassettes_replay_without_traceback_or_hang(
    tmp_path_factory, live_target: str, content: bytes
) -> None:
    path = tmp_path_factory.mktemp("r") / "mutated.yaml"
    path.write_bytes(content)
    os.environ["RETAPE_FUZZ_KEY"] = DEMO_TOKEN
    code, stderr = run_cli(
        "replay", str(path), "--target", live_target, "--bearer-env", "RETAPE_FUZZ_KEY",
        "--timeout", "1",
    )  # fmt: skip
    assert_user_error_or_ok(code, stderr, ok_codes=(0, 1))
