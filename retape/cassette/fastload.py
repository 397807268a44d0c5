"""A fast path for loading cassettes that provably reads what the safe path reads.

The safe path (:mod:`cassette.load`: PyYAML's CSafeLoader, then the JSON Schema) takes
minutes on a 100,000-interaction cassette; parsing is about three quarters of that and
jsonschema most of the rest. This module offers the same result in a fraction of the
time, or declines:

* :func:`parse` reads the text with ``yaml-rs`` (a Rust YAML 1.2 parser) only when
  nothing in the text could be read differently by PyYAML's YAML 1.1 rules: no tag,
  anchor or alias, no document marker or directive, no complex key, no character
  PyYAML refuses or treats as a line break, and no plain (unquoted) scalar whose type
  differs between the two (``yes``/``on``, ``1e3``, ``0o17``, ``012``, ``1:20``, ``<<``,
  ...). Only the plain numbers both read alike pass: ``12``, ``-3``, ``0.5``,
  ``1.0e+20``, ``.inf``, which is how the cassette writer prints numbers; any other
  number-like scalar is resolved by both parsers and compared. Anything else, any
  yaml-rs error, or yaml-rs not being installed: ``None``.
* :func:`conforms` is a hand-written check of the cassette schema plus the semantic
  rules. ``True`` means :func:`cassette.validate.validate_data` would not raise; when
  anything is unusual it answers ``False`` and the caller runs the real validation,
  which gives the one-line ``file:line`` message.

So the fast path only ever says "this is valid, and here is the same data PyYAML would
have built"; every refusal and every error message still comes from the safe path.
``RETAPE_FASTLOAD=0`` turns it off. ``tests/unit/test_fastload.py`` pins the agreement on
shipped and generated cassettes; docs/performance.md has the measurements.
"""

from __future__ import annotations

import gc
import math
import os
import re
from dataclasses import dataclass
from functools import cache, lru_cache
from itertools import chain
from typing import Any

import yaml

from retape.cassette.depth import may_be_deep
from retape.cassette.safe_yaml import SafeLoader
from retape.cassette.validate import semantic_problem

# Where a node may start: a line start, a flow indicator, an indicator followed by a
# blank ("- ", "? ", ": "), or a ':' right after a quoted key (JSON style, '{"a":1}').
# Every branch opens with a literal, which lets the regex engine skip ahead quickly.
_NODE_START = r"""(?:\n|\[|\{|,|-[ \t]|\?[ \t]|:[ \t]|":|':)[ \t]*"""
# Where a plain scalar ends: a line end, a flow indicator, a '#' or a ': '. A real scalar
# that runs on past such a '#', ',' or bracket holds a character no number has, so both
# parsers read it as a string.
_END = r"[ \t]*(?:$|[,\]}#]|:(?:\s|$))"
# Plain numbers that PyYAML and yaml-rs read as the same value of the same type; the
# cassette writer prints every number in one of these forms (NaN is left out: PyYAML
# reuses one NaN object, so two NaN keys collapse into one there and not here).
_SAFE_NUMBER = r"(?:-?(?:0|[1-9][0-9]*)(?:\.[0-9]+(?:e[-+][0-9]+)?)?|-?\.inf)"
# Every other whole plain scalar that either parser could read as something but a string:
# number-like ones (group 1, checked one by one) and YAML 1.1's yes/no/on/off, '<<' and
# '=' (always refused: yaml-rs reads them as strings, PyYAML does not).
_SCALAR = (  # the first lookahead turns most node starts away before anything costlier
    rf"(?=[-+._0-9YyNnOo<=])(?:(?!{_SAFE_NUMBER}{_END})([-+._0-9][^\s,\[\]{{}}]*)"
    rf"|[Yy]es|YES|[Nn]o|NO|[Oo]n|ON|[Oo]ff|OFF|<<|=)(?={_END})"
)

# Flow collections both parsers read alike: items that are quoted scalars, plain scalars
# without ':' or '#', or nested collections (to a bounded depth), optionally after a
# double-quoted JSON-style key. That covers the writer's ``[name, value]`` header pairs
# (quoted values may run over several lines), ``[]``, ``{}``, and JSON such as SSE
# ``data: {...}`` lines inside text bodies. yaml-rs refuses mismatched brackets itself,
# as PyYAML does. One difference is left to :func:`conforms`: a key-less collection in a
# flow mapping (``{"a": 1, [b]}``) is a key PyYAML refuses and yaml-rs builds as a tuple;
# no mapping in a valid cassette has such a key.
_QUOTED = r"""(?:'(?:[^']|'')*+'|"(?:[^"\\]|\\[\s\S])*+")"""
_FLOW_PLAIN = r"""(?:[^\s,\[\]{}:#'"!&*?|>@`%-]|-(?=[^\s,\[\]{}]))[^\n,\[\]{}:#]*+"""
_FLOW_KEY = r"""(?:"(?:[^"\\\n]|\\.)*+"[ \t]*:\s*)"""
_FLOW_DEPTH = 12


def _flow_rest(depth: int) -> str:
    """A flow collection after its opening bracket, nested at most ``depth`` deep."""
    nested = rf"|[\[{{]{_flow_rest(depth - 1)}" if depth > 1 else ""
    value = f"(?:{_QUOTED}|{_FLOW_PLAIN}{nested})"
    return rf"\s*(?:{_FLOW_KEY}?{value}\s*(?:,\s*|(?=[\]}}])))*[\]}}]"


# A flow collection opening where a node may start (or after any blank: a superset)
# that is not one of those.
_OTHER_FLOW = rf"[\[{{](?<=[\s\[{{,:?-][\[{{])(?!{_flow_rest(_FLOW_DEPTH)})"
# Anything else that could be read differently sends the whole file to PyYAML.
_NEEDS_PYYAML = (
    # Tags (yaml-rs ignores unknown ones), anchors (so yaml-rs never resolves an
    # alias: it refuses an unknown one), aliases, explicit keys, empty keys.
    _NODE_START + r"(?:[!&?]|\*[0-9A-Za-z_-]|:(?:[\s,\[\]{}]|$))",
    r"\n(?:---|\.\.\.|%)",  # document markers and directives: one document only
    r"[\]}]\s*:",  # a flow collection used as a key
    r"[\[{,][ \t]*[|>]",  # a block scalar indicator inside a flow collection
    _OTHER_FLOW,
    # Tabs (YAML 1.1 refuses them where 1.2 takes them as blanks), carriage returns
    # (the writer never leaves one unescaped), characters PyYAML refuses (controls)
    # or reads as line breaks (NEL, LS, PS) or strips (BOM). Surrogates cannot occur
    # in text decoded from UTF-8.
    "[^\n\x20-\x7e\xa0-\u2027\u202a-\ufefe\uff00-\ufffd\U00010000-\U0010ffff]",
)
# A UTF-16 surrogate escape such as "\ud83d" (an odd run of backslashes): yaml-rs pairs
# them up, PyYAML refuses them.
_SURROGATE_ESCAPE = r"\\(?:\\\\)*u[dD][89abAB]"
# The first node: the same indicators, a flow collection, or a block scalar at the top
# (yaml-rs lets its lines start at column 0). A cassette starts with "retape: 1".
_NEEDS_PYYAML_AT_START = r"(?:\s|#[^\n]*)*(?:[!&*?:|>\[{]|---|\.\.\.)"
# yaml-rs reads a block scalar with no content at the very end of the text as "\n" (and
# adds a line break to one whose last line has none: the text must end with one).
_EMPTY_BLOCK_AT_END = r"[|>][-+0-9]*[ \t]*(?:#[^\n]*)?\s*\Z"
_TAIL = 4096
_STR = "tag:yaml.org,2002:str"


@dataclass(frozen=True)
class _Guards:
    needs_pyyaml: tuple[re.Pattern[str], ...]
    at_start: re.Pattern[str]
    surrogate_escape: re.Pattern[str]
    empty_block_at_end: re.Pattern[str]
    candidate: re.Pattern[str]
    first_candidate: re.Pattern[str]


@cache
def _guards() -> _Guards:
    """Compiled on first use (about 10 ms), so commands that load no cassette never pay."""
    return _Guards(
        needs_pyyaml=tuple(re.compile(p, re.MULTILINE) for p in _NEEDS_PYYAML),
        at_start=re.compile(_NEEDS_PYYAML_AT_START),
        surrogate_escape=re.compile(_SURROGATE_ESCAPE),
        empty_block_at_end=re.compile(_EMPTY_BLOCK_AT_END),
        candidate=re.compile(_NODE_START + _SCALAR, re.MULTILINE),
        first_candidate=re.compile(r"[ \t]*" + _SCALAR, re.MULTILINE),  # at the very start
    )


@cache
def _yaml_rs() -> Any | None:
    try:  # a compiled wheel; platforms without one fall back to PyYAML alone
        import yaml_rs
    except ImportError:  # pragma: no cover - only where no wheel exists
        return None
    return yaml_rs


def available() -> bool:
    """Whether the yaml-rs fast parser is installed on this platform."""
    return _yaml_rs() is not None


def _same(a: Any, b: Any) -> bool:
    if type(a) is not type(b):
        return False
    if type(a) is float and (math.isnan(a) or math.isnan(b)):
        return False  # see _SAFE_NUMBER
    return bool(a == b)


@cache
def _pyyaml() -> Any:
    return SafeLoader("")


@lru_cache(maxsize=4096)
def _read_alike(scalar: str) -> bool:
    """Whether PyYAML and yaml-rs build the same value from this plain scalar."""
    loader = _pyyaml()
    tag = loader.resolve(yaml.ScalarNode, scalar, (True, False))
    if tag == _STR:
        theirs: Any = scalar
    else:
        construct = loader.yaml_constructors.get(tag)
        if construct is None:  # no safe constructor: PyYAML refuses it
            return False
        try:
            theirs = construct(loader, yaml.ScalarNode(tag, scalar))
        except (yaml.YAMLError, ValueError, TypeError, OverflowError):
            return False
    parser = _yaml_rs()
    if parser is None:  # never asked: without yaml-rs nothing is loaded the fast way
        return False
    try:
        ours = parser.loads(f"k: {scalar}\n", parse_datetime=False)
    except (ValueError, TypeError, OverflowError):
        return False
    return type(ours) is dict and list(ours) == ["k"] and _same(ours["k"], theirs)


def needs_pyyaml(text: str) -> bool:
    """Whether ``text`` holds anything the fast parser might read differently."""
    guards = _guards()
    if guards.at_start.match(text) or any(p.search(text) for p in guards.needs_pyyaml):
        return True
    if text and not text.endswith("\n"):
        return True
    for match in guards.surrogate_escape.finditer(text):
        if match.start() == 0 or text[match.start() - 1] != "\\":
            return True
    tail = text[-_TAIL:]
    if guards.empty_block_at_end.search(tail) or (len(text) > _TAIL and not tail.strip()):
        return True
    first = guards.first_candidate.match(text)
    for match in chain((first,) if first else (), guards.candidate.finditer(text)):
        scalar = match.group(1)
        if scalar is None or not _read_alike(scalar):
            return True
    return False


def parse(text: str) -> Any | None:
    """The data PyYAML's safe loader would build from ``text``, or None to say "ask it".

    Also None for any text yaml-rs refuses (invalid YAML, duplicate keys, deep nesting):
    the safe path then reports the problem in its usual words.
    """
    parser = _yaml_rs()
    if parser is None or may_be_deep(text) or needs_pyyaml(text):
        return None  # deep nesting: yaml-rs overflows its stack; the safe path refuses it
    collecting = gc.isenabled()
    gc.disable()  # millions of new containers, none of them garbage: skip the scans
    try:
        return parser.loads(text, parse_datetime=False)
    except (ValueError, TypeError, OverflowError, RecursionError):
        return None
    finally:
        if collecting:
            gc.enable()


_TOP = frozenset({"retape", "recording", "interactions"})
_INTERACTION = frozenset(
    {"id", "type", "at", "duration", "http_version", "request", "response", "messages", "close"}
    | {"uses"}
)
_CORRELATION = frozenset({"name", "value", "from", "match", "to", "enabled"})
_REQUEST = frozenset({"method", "path", "headers", "credentials", "body"})
_RESPONSE = frozenset({"status", "reason", "headers", "body"})
_BODY = frozenset(
    {"json", "text", "base64", "omitted", "size", "sha256", "content_type", "content_encoding"}
)
_OMITTED_ONLY = frozenset({"size", "sha256", "content_type"})
_SHA256 = re.compile(r"[0-9a-f]{64}")
_MESSAGE = frozenset({"from", "at", "json", "text", "base64"})
_CLOSE = frozenset({"code", "reason", "by"})
_PAYLOADS = ("json", "text", "base64")
_METHOD = re.compile(r"[A-Za-z]+")  # tiny: compiled at import
_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")  # an RFC 9110 token
_BAD_VALUE = re.compile("[\r\n\x00]")
_MAX_SECONDS = 1_000_000  # cassette.validate.MAX_SECONDS


def _seconds(value: Any) -> bool:
    kind = type(value)
    if kind is int:
        return 0 <= value <= _MAX_SECONDS
    return kind is float and math.isfinite(value) and 0 <= value <= _MAX_SECONDS


def _one_payload(item: dict) -> bool:
    present = [k for k in _PAYLOADS if k in item]
    if len(present) != 1:
        return False
    kind = present[0]
    return kind == "json" or type(item[kind]) is str


def _headers(value: Any) -> bool:
    if value is None:
        return True
    if type(value) is not list:
        return False
    for pair in value:
        if type(pair) is not list or len(pair) != 2:
            return False
        name, text = pair
        if type(name) is not str or not name or type(text) is not str:
            return False
        if not _HEADER_NAME.fullmatch(name) or _BAD_VALUE.search(text):
            return False
    return True


def _body(value: Any) -> bool:
    # ``body: null`` passes every branch of the schema's oneOf, so the schema refuses it.
    if type(value) is not dict or not value.keys() <= _BODY:
        return False
    encoding = value.get("content_encoding")
    if encoding is not None and type(encoding) is not str:
        return False
    if "omitted" not in value:
        return _one_payload(value) and not value.keys() & _OMITTED_ONLY
    # A body over the recorder's cap: only its size, digest and type are kept.
    size, digest = value.get("size"), value.get("sha256")
    if value["omitted"] is not True or any(k in value for k in _PAYLOADS):
        return False
    if type(size) is not int or size < 0 or type(digest) is not str:
        return False
    if not _SHA256.fullmatch(digest):
        return False
    return "content_type" not in value or type(value["content_type"]) is str


def _request(value: Any) -> bool:
    if type(value) is not dict or not value.keys() <= _REQUEST:
        return False
    method, path = value.get("method"), value.get("path")
    if type(method) is not str or not _METHOD.fullmatch(method):
        return False
    if type(path) is not str or not path.startswith("/") or path.startswith("//"):
        return False
    credentials = value.get("credentials")
    if credentials is not None and (
        type(credentials) is not list or any(type(c) is not str for c in credentials)
    ):
        return False
    return _headers(value.get("headers")) and ("body" not in value or _body(value["body"]))


def _response(value: Any) -> bool:
    if type(value) is not dict or not value.keys() <= _RESPONSE:
        return False
    status = value.get("status")
    if type(status) is not int or not 100 <= status <= 599:
        return False
    if "reason" in value and type(value["reason"]) is not str:
        return False
    return _headers(value.get("headers")) and ("body" not in value or _body(value["body"]))


def _message(value: Any) -> bool:
    if type(value) is not dict or not value.keys() <= _MESSAGE:
        return False
    if value.get("from") not in ("client", "server") or type(value["from"]) is not str:
        return False
    if "at" in value and not _seconds(value["at"]):
        return False
    return _one_payload(value)


def _close(value: Any) -> bool:
    if value is None:
        return True
    if type(value) is not dict or not value.keys() <= _CLOSE:
        return False
    code = value.get("code")
    if code is not None and (type(code) is not int or not 1000 <= code <= 4999):
        return False
    reason = value.get("reason")
    if reason is not None and type(reason) is not str:
        return False
    return "by" not in value or value["by"] in ("client", "server", "none")


def _uses(value: Any) -> bool:
    """The schema's shape of ``uses:``; the references themselves are semantic checks."""
    if value is None:
        return True
    if type(value) is not list:
        return False
    for use in value:
        if type(use) is not dict or not use.keys() <= _CORRELATION:
            return False
        if type(use.get("value")) is not str or not use["value"]:
            return False
        source, targets = use.get("from"), use.get("to")
        if type(source) is not str or not source.startswith("#"):
            return False
        if type(targets) is not list or not targets or any(type(t) is not str for t in targets):
            return False
        if "name" in use and type(use["name"]) is not str:
            return False
        match = use.get("match", "")
        if type(match) is not str or ("match" in use and not 0 < len(match) <= 1000):
            return False
        if "enabled" in use and type(use["enabled"]) is not bool:
            return False
    return True


def _interaction(value: Any) -> bool:
    if type(value) is not dict or not value.keys() <= _INTERACTION:
        return False
    ident, kind = value.get("id"), value.get("type")
    if type(ident) is not int or ident < 1 or kind not in ("http", "websocket"):
        return False
    if type(kind) is not str or "request" not in value or "response" not in value:
        return False
    for key in ("at", "duration"):
        if key in value and not _seconds(value[key]):
            return False
    if "http_version" in value and type(value["http_version"]) is not str:
        return False
    messages = value.get("messages")
    if messages is not None and (
        type(messages) is not list or not all(_message(m) for m in messages)
    ):
        return False
    return (
        _request(value["request"])
        and _response(value["response"])
        and _close(value.get("close"))
        and _uses(value.get("uses"))
    )


def conforms(data: Any) -> bool:
    """True only if :func:`cassette.validate.validate_data` would accept ``data``.

    Stricter than the schema on purpose (a ``1.0`` id, a NaN time, a non-string key in
    ``recording``): such files take the full validation, which decides and explains.
    """
    if type(data) is not dict or not data.keys() <= _TOP or "interactions" not in data:
        return False
    marker = data.get("retape")
    if type(marker) is not int or marker != 1:
        return False
    recording = data.get("recording", {})
    if type(recording) is not dict or any(
        type(key) is not str or type(value) is not str for key, value in recording.items()
    ):
        return False
    interactions = data["interactions"]
    if interactions is None:
        return True
    if type(interactions) is not list or not all(_interaction(i) for i in interactions):
        return False
    return semantic_problem(data) is None


def enabled() -> bool:
    """yaml-rs is installed and ``RETAPE_FASTLOAD`` is not ``0`` (the escape hatch)."""
    return os.environ.get("RETAPE_FASTLOAD", "1") != "0" and available()


def load_valid(text: str) -> dict[str, Any] | None:
    """Parsed and validated cassette data by the fast path, or None to use the safe path."""
    if not enabled():
        return None
    data = parse(text)
    if data is None or not conforms(data):
        return None
    return data


def _parse_unchecked(text: str) -> Any | None:
    parser = _yaml_rs()
    if parser is None:
        return None
    try:
        return parser.loads(text, parse_datetime=False)
    except (ValueError, TypeError, OverflowError, RecursionError):
        return None


def reparse(text: str) -> Any | None:
    """The data of a text this run already read by the fast path and validated (the same
    bytes of the same file, see :mod:`cassette.stream`): neither the gate's scans (half
    the cost of a small item) nor the schema check is run again."""
    return _parse_unchecked(text) if enabled() else None
