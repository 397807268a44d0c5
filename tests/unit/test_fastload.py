"""The fast loading path reads every cassette exactly as the safe path does, or declines.

``cassette.fastload`` parses with yaml-rs (YAML 1.2) only when nothing in the text could
be read differently by PyYAML (YAML 1.1), and checks the schema by hand only to say
"valid"; every refusal still comes from PyYAML and jsonschema. These tests pin both
halves on the shipped cassettes, on generated ones, and on the known differences
between the two parsers.
"""

from __future__ import annotations

import base64
import math
import string
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from retape.cassette import CassetteError, fastload, load_cassette
from retape.cassette.dump import dump_cassette
from retape.cassette.load import parse_yaml
from retape.cassette.model import Cassette, Interaction, Recording
from retape.cassette.validate import validate_data
from tests.support import REPO

pytestmark = pytest.mark.skipif(not fastload.available(), reason="yaml-rs is not installed")

SHIPPED = sorted((REPO / "sessions").glob("*.yaml"))


def same(a: Any, b: Any) -> bool:
    """Equal, with equal types all the way down and keys in the same order."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return len(a) == len(b) and all(
            same(ka, kb) and same(a[ka], b[kb]) for ka, kb in zip(a, b, strict=True)
        )
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) and math.isnan(a):
        return math.isnan(b)
    return bool(a == b)


def assert_reads_alike(text: str) -> Any:
    """The fast parse, when it answers, equals PyYAML's; returns what it answered."""
    fast = fastload.parse(text)
    if fast is not None:
        assert same(fast, parse_yaml(text, path="t.yaml"))
    return fast


# --- generated cassettes, written by the real dumper -------------------------------------

texts = st.text(max_size=40)
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | texts,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(texts, inner, max_size=4),
    max_leaves=12,
)
bodies = st.one_of(
    st.none(),
    st.builds(lambda v: {"json": v}, json_values),
    st.builds(lambda v: {"text": v}, texts),
    st.builds(lambda v: {"base64": base64.b64encode(v).decode()}, st.binary(max_size=20)),
    st.builds(  # a body over the recorder's size cap
        lambda size, digest: {"omitted": True, "size": size, "sha256": digest},
        st.integers(0, 2**40),
        st.from_regex("[0-9a-f]{64}", fullmatch=True),
    ),
)
headers = st.lists(st.tuples(texts.filter(bool), texts).map(list), max_size=4)
requests = st.fixed_dictionaries(
    {
        "method": st.text(string.ascii_letters, min_size=1, max_size=7),
        "path": st.builds(lambda rest: "/" + rest.lstrip("/"), texts),
        "headers": headers,
        "credentials": st.lists(texts, max_size=2),
        "body": bodies,
    }
)
responses = st.fixed_dictionaries(
    {
        "status": st.integers(100, 599),
        "reason": texts,
        "headers": headers,
        "body": bodies,
    }
)
messages = st.lists(
    st.builds(
        lambda sender, at, payload: {"from": sender, "at": at, **payload},
        st.sampled_from(["client", "server"]),
        st.floats(0, 1e6),
        st.one_of(
            st.builds(lambda v: {"json": v}, json_values),
            st.builds(lambda v: {"text": v}, texts),
        ),
    ),
    max_size=3,
)


@st.composite
def cassettes(draw: st.DrawFn) -> Cassette:
    items = []
    for number in range(1, draw(st.integers(0, 4)) + 1):
        kind = draw(st.sampled_from(["http", "websocket"]))
        data = {
            "id": number,
            "type": kind,
            "at": draw(st.floats(0, 1e6)),
            "duration": draw(st.floats(0, 1e3)),
            "http_version": draw(st.sampled_from(["HTTP/1.1", "HTTP/2.0"])),
            "request": draw(requests),
            "response": draw(responses),
        }
        if kind == "websocket":
            data["messages"] = draw(messages)
            data["close"] = {"code": 1000, "reason": draw(texts), "by": "client"}
        items.append(Interaction.from_data(data))
    recording = Recording(draw(texts), draw(texts), draw(texts), draw(texts))
    return Cassette(recording, items)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cassettes())
def test_generated_cassettes_read_alike_and_validate_alike(cassette: Cassette) -> None:
    text = dump_cassette(cassette)
    assert_reads_alike(text)
    fast = fastload.load_valid(text)
    if fast is not None:
        slow = parse_yaml(text, path="t.yaml")
        validate_data(slow, path="t.yaml", text=text)  # the fast path said valid: so is it
        assert same(fast, slow)


@settings(max_examples=300, deadline=None)
@given(st.from_regex(r"[-+]?[0-9_.]{0,4}(?:[eE][-+]?[0-9_]{0,3})?|0[xXoObB][0-9a-fA-F_]{0,4}"))
def test_the_writer_quotes_what_yaml_1_2_would_read_as_a_number(value: str) -> None:
    from retape.cassette.dump import _yaml

    text = _yaml({value: [value]})
    data = fastload._yaml_rs().loads(text, parse_datetime=False)
    assert same(data, {value: [value]})
    assert same(data, yaml.load(text, Loader=yaml.CSafeLoader))


def test_the_fast_path_is_taken_for_an_ordinary_cassette(tmp_path: Path) -> None:
    """Not vacuous: a writer-made cassette of chat, SSE and websocket traffic goes fast."""
    from bench.gen import write_cassette

    path = tmp_path / "c.yaml"
    write_cassette(path, 60)
    text = path.read_text()
    data = fastload.load_valid(text)
    assert data is not None
    assert same(data, parse_yaml(text, path=str(path)))


@pytest.mark.parametrize("path", SHIPPED, ids=[p.name for p in SHIPPED])
def test_shipped_cassettes_read_alike(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert_reads_alike(path.read_text(encoding="utf-8"))
    fast = load_cassette(path)
    monkeypatch.setenv("RETAPE_FASTLOAD", "0")
    assert load_cassette(path) == fast


# --- the known differences between YAML 1.1 and yaml-rs: each one declined ---------------

DIFFERENCES = [
    "a: yes\n",
    "a: Off\n",
    "a: 1e3\n",
    "a: 1.0e3\n",
    "a: 0o17\n",
    "a: 012\n",
    "a: 08\n",
    "a: 0X1F\n",
    "a: _1\n",
    "a: -.5\n",
    "a: .iNf\n",
    "a: 1:20\n",
    "a: 10:30:00\n",
    "<<: {b: 1}\n",
    "a: =\n",
    ".nan: 1\n.nan: 2\n",
    "1e3: x\n",
    "- [a, yes]\n",
    '{"a":1e3}\n',
    "a: !foo bar\n",
    "a: !!binary aGk=\n",
    "a: !!python/object/apply:os.system ['true']\n",
    "a: &x [1]\nb: *x\n",
    "a: 1\n---\nb: 2\n",
    "\ufeffa: 1\n",
    "a: x\x85y\n",
    "a: \x07\n",
    "a:\t1\n",
    "a: 1\r\n",
    "a: |\n",
    "a: |\n  x",
    "? [a, b]\n: c\n",
    "[a, b]: c\n",
    "{a: b}: c\n",
    ": x\n",
    "a: [?x]\n",
    "a: {c:}\n",
    "a: [b, :c]\n",
    "a: [b, |c]\n",
    'a: "\\ud83d\\ude00"\n',
    '{"a"\n: 1}\n',
    "|\nx\n",
]


@pytest.mark.parametrize("text", DIFFERENCES)
def test_known_differences_never_take_the_fast_path(text: str) -> None:
    assert fastload.parse(text) is None


AGREEMENTS = [
    "a: 1\nb: -2\nc: 0.5\nd: 1.0e+20\ne: .inf\nf: -.inf\n",
    "a: true\nb: False\nc: null\nd: ~\ne:\n",
    "a: 0.1.0\nb: OpenAI/Python 1.51.0\nc: 'yes'\nd: '1e3'\n",
    "h:\n- [host, 'x:8000']\n- [user-agent, 'Mozilla/5.0 (X11; Linux)\n    Safari']\n",
    'a: {}\nb: []\nc: {"k": [1, {"j": null}], "l": "m"}\n',
    't: |+\n  data: {"choices":[{"delta":{"content":"x"}}]}\n\n  data: [DONE]\n\n',
    "t: |\n  **bold** and *italic* and `code`\n  ```py\n  x = 1\n  ```\n",
    'q: "tab\\there \\u00e9 \\\\ud83d"\n',
]


@pytest.mark.parametrize("text", AGREEMENTS)
def test_ordinary_yaml_takes_the_fast_path_and_reads_alike(text: str) -> None:
    assert assert_reads_alike(text) is not None


# --- the safety rules hold whichever path a file takes -----------------------------------


def test_an_alias_bomb_is_refused_with_its_line(tmp_path: Path) -> None:
    lines = ["retape: 1", "interactions:", "a0: &a0 [x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 12)]
    path = tmp_path / "bomb.yaml"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(CassetteError, match=r"bomb\.yaml:4: YAML aliases"):
        load_cassette(path)


@pytest.mark.parametrize(
    "value", ["!!python/object/apply:os.system ['true']", "!foo bar", "!!binary aGk="]
)
def test_tags_are_refused_on_every_path(tmp_path: Path, value: str) -> None:
    path = tmp_path / "tag.yaml"
    path.write_text(f"retape: 1\nrecording:\n  at: {value}\ninteractions:\n")
    with pytest.raises(CassetteError, match=r"tag\.yaml:3"):
        load_cassette(path)


def test_the_size_bound_applies_before_any_parser(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "big.yaml"
    path.write_text("retape: 1\ninteractions:\n" + "# padding\n" * 20_000)
    monkeypatch.setenv("RETAPE_MAX_CASSETTE_MB", "0.1")
    with pytest.raises(CassetteError, match="limit"):
        load_cassette(path)


INVALID = [
    "retape: 1\ninteractions:\n- id: 1\n  type: http\n  request: {method: GET, path: /}\n"
    "  response: {status: abc}\n",
    "retape: 1\ninteractions:\n- id: 1\n  type: http\n  request: {method: GET, path: //x}\n"
    "  response: {status: 200}\n",
    "retape: 1\ninteractions:\n- id: 1\n  type: http\n  stauts: 200\n"
    "  request: {method: GET, path: /}\n  response: {status: 200}\n",
    "retape: 2\ninteractions:\n",
    "retape: 1\ninteractions:\n- id: 1\n  type: http\n  request: {method: GET, path: /}\n"
    "  response: {status: 200, body: {base64: '!!!'}}\n",
]


@pytest.mark.parametrize("text", INVALID)
def test_errors_read_the_same_with_and_without_the_fast_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str
) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(CassetteError) as fast:
        load_cassette(path)
    monkeypatch.setenv("RETAPE_FASTLOAD", "0")
    with pytest.raises(CassetteError) as safe:
        load_cassette(path)
    assert str(fast.value) == str(safe.value)
    assert ":" in str(fast.value).removeprefix(str(path))  # file:line kept


# --- the hand-written schema check never accepts what jsonschema refuses -----------------

mutations = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 700),
    st.floats(),
    st.text(max_size=5),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
)


def _places(data: Any, here: tuple = ()) -> list[tuple]:
    found = [here]
    if isinstance(data, dict):
        for key, value in data.items():
            found += _places(value, (*here, key))
    elif isinstance(data, list):
        for index, value in enumerate(data):
            found += _places(value, (*here, index))
    return found


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cassettes(), st.data())
def test_the_schema_check_never_accepts_what_jsonschema_refuses(
    cassette: Cassette, draw: st.DataObject
) -> None:
    data = parse_yaml(dump_cassette(cassette), path="t.yaml")
    places = [p for p in _places(data) if p]
    if places:
        place = draw.draw(st.sampled_from(places))
        parent = data
        for part in place[:-1]:
            parent = parent[part]
        if draw.draw(st.booleans()) and isinstance(parent, dict):
            del parent[place[-1]]
        else:
            parent[place[-1]] = draw.draw(mutations)
    if fastload.conforms(data):
        validate_data(data, path="t.yaml", text="")
