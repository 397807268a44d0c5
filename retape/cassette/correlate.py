"""Inferring correlations: values the server minted that the client then sent back.

Real sessions are stateful: ``POST /api/kernels`` answers with a kernel id, and the
client then calls ``GET /api/kernels/<id>``, opens ``/api/kernels/<id>/channels`` and
finally ``DELETE``\\s it. Replayed against a fresh server the recorded id means nothing,
so the cassette says where each such value came from and where it went
(:class:`~retape.cassette.model.Correlation`, written as ``uses:``), and replay carries
the live value over (``replayer/session_state.py``).

What counts as a value the server minted (a *candidate*), in what the server sent:

* JSON response bodies, at any depth; SSE events' JSON ``data``; websocket server
  messages (JSON);
* the ``Location`` / ``Content-Location`` headers (whole, and each path segment), an
  ``ETag``, and headers whose name says id, token, session, key, csrf or xsrf;
* cookies the server set (``Set-Cookie``), by name;
* HTML form fields (``<input name=... value=...>``) and ``<meta name=... content=...>``.

A candidate becomes a correlation when it reappears, whole or embedded
(``/api/kernels/<id>/channels``, ``Bearer <id>``), in something the client sent *later*:
the path and query (the websocket URL), a header (subprotocols included), a JSON, form
or text body, a websocket client message. The ``Cookie`` header is left out: cookies go
back through replay's per-cassette cookie jar, as a browser would send them.

False links are avoided by what a candidate must look like: a string (never a number,
boolean or null) of at least :data:`MIN_LENGTH` characters, without spaces, not a date,
a number or a version, holding a digit (or long and mixed-case, as random tokens are),
or a ``<redacted:N>`` placeholder; not under a key that names a kind rather than an
instance (``model``, ``type``, ``object``, ``status``, ``role``...), on either end; and
never a value the client sent first (that value is the client's, such as a model name
or a file name it chose). Where the server sent the same value several times, the
first place it sent it is the source.

Everything here is pure. :func:`infer_correlations` is the one entry point for a list
of interactions (``retape correlate``, importers); :class:`Correlator` is the same,
fed one interaction at a time, for the recorder, in memory bounded by
:data:`MAX_CANDIDATES` values whatever the session's length.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from html.parser import HTMLParser
from typing import Any
from urllib.parse import unquote_plus

from retape.cassette.model import Correlation, Header, Interaction, header_value
from retape.cassette.refs import Part, Source, Target
from retape.cassette.rules import PLACEHOLDER_RE

__all__ = [
    "MIN_LENGTH",
    "Correlator",
    "attach_correlations",
    "infer_correlations",
    "looks_minted",
]

MIN_LENGTH = 8
MAX_VALUE = 4096  # longer strings are documents, not ids
MAX_CANDIDATES = 100_000  # server values remembered; the oldest are forgotten first
MAX_CLIENT_TOKENS = 200_000  # client values remembered for "the client sent it first"
MAX_LEAVES = 20_000  # JSON leaves read per body or message
MAX_SCAN = 256 * 1024  # characters of one client string searched for candidates
_PREFIX = MIN_LENGTH  # candidates are indexed by their first characters

# Keys whose values name a kind, a state or a choice, never one minted instance.
KIND_KEYS = frozenset(
    {
        "object", "type", "model", "role", "status", "state", "finish_reason", "owned_by",
        "created", "created_at", "updated_at", "expires_at", "last_activity", "timestamp",
        "date", "mimetype", "format", "content_type", "execution_state", "msg_type",
        "version", "protocol_version", "language", "modalities", "voice", "event",
        "method", "kind", "encoding", "media_type", "purpose",
    }
)  # fmt: skip
# Server headers that can carry a minted value, besides those matched by _ID_HEADER.
_VALUE_HEADERS = frozenset({"location", "content-location", "etag"})
_ID_HEADER = re.compile(r"(?:^|-)(?:id|token|session|key|csrf|xsrf)(?:$|-)|csrf|xsrf", re.I)
_URL_HEADERS = frozenset({"location", "content-location"})
# Client headers never searched: the transport's own, and the cookie jar's.
_SKIP_CLIENT_HEADERS = frozenset(
    {
        "host", "cookie", "content-length", "content-type", "transfer-encoding", "connection",
        "upgrade", "sec-websocket-key", "sec-websocket-version", "sec-websocket-extensions",
        "accept", "accept-encoding", "accept-language", "user-agent",
    }
)  # fmt: skip
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}|\d{1,2}:\d{2}")
_NUMBERISH = re.compile(r"[-+]?[\d.,:eE_]+")
_VERSION = re.compile(r"v?\d+(?:\.\d+)+[-+.\w]*", re.I)
_ALNUM = re.compile(r"[A-Za-z0-9]")
_SEGMENT = re.compile(r"[^/?#&;,\s]+")
_ORIGIN = re.compile(r"(?:[A-Za-z][A-Za-z0-9+.-]*://[^/?#]*)")
# Where a candidate may start in a client string: not inside a run of letters and digits.
_START = re.compile(r"(?<![A-Za-z0-9])|(?=[^A-Za-z0-9])")


def looks_minted(value: Any) -> bool:
    """Whether ``value`` looks like an id or token the server made up, not a word or
    a number that would match by chance."""
    if not isinstance(value, str):
        return False
    if PLACEHOLDER_RE.fullmatch(value):
        return True
    if not MIN_LENGTH <= len(value) <= MAX_VALUE or any(ch.isspace() for ch in value):
        return False
    if "://" in value or _DATE.match(value) or _NUMBERISH.fullmatch(value):
        return False
    if _VERSION.fullmatch(value) or not _ALNUM.search(value):
        return False
    if any(ch.isdigit() for ch in value):
        return True
    # No digit: only a long, mixed-case token (random base64 has both cases).
    return len(value) >= 16 and value.lower() != value and value.upper() != value


@dataclass(frozen=True)
class _Candidate:
    value: str
    source: Source
    name: str
    match: str | None = None


@dataclass
class _Use:
    candidate: _Candidate
    targets: list[Target]


# --- reading what the server sent -----------------------------------------------------------


def _leaves(value: Any, parts: tuple[Part, ...] = ()) -> Iterator[tuple[tuple[Part, ...], Any]]:
    """Every scalar of a JSON document with its path, depth first, in document order."""
    stack: list[tuple[tuple[Part, ...], Any]] = [(parts, value)]
    count = 0
    while stack and count < MAX_LEAVES:
        here, item = stack.pop()
        if isinstance(item, dict):
            stack.extend(((*here, key), child) for key, child in reversed(item.items()))
        elif isinstance(item, list):
            stack.extend(((*here, i), child) for i, child in reversed(list(enumerate(item))))
        else:
            count += 1
            yield here, item


def _kind_key(parts: tuple[Part, ...]) -> bool:
    keys = [p for p in parts if isinstance(p, str)]
    return bool(keys) and keys[-1].lower() in KIND_KEYS


def _singular(word: str) -> str:
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith("s") and not word.endswith("ss") and len(word) > 3:
        return word[:-1]
    return word


def _resource(path: str) -> str:
    """``/api/kernels`` -> ``kernel``: the last path segment that is not an id."""
    segments = [s for s in path.split("?", 1)[0].split("/") if s]
    for segment in reversed(segments):
        if not looks_minted(segment) and re.fullmatch(r"[A-Za-z][A-Za-z0-9_.-]*", segment):
            return _singular(segment.lower())
    return ""


def _json_name(parts: tuple[Part, ...], resource: str) -> str:
    """``$.id`` of ``POST /api/kernels`` -> ``kernel id``; ``$.item.id`` -> ``item id``."""
    keys = [p for p in parts if isinstance(p, str)]
    if not keys:
        return f"{resource} id".strip() if resource else "value"
    last = keys[-1]
    if last.lower() == "id":
        owner = _singular(keys[-2]) if len(keys) > 1 else resource
        return f"{owner} id" if owner else "id"
    return ".".join(keys[-2:]) if last.lower() in ("value", "token", "secret") else last


class _FormFields(HTMLParser):
    """``<input name=... value=...>`` and ``<meta name=... content=...>`` of an HTML page."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.fields: list[tuple[str, str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        name = found.get("name")
        value = found.get("value") if tag == "input" else found.get("content")
        if tag in ("input", "meta") and name and value:
            self.fields.append((name, value))

    handle_startendtag = handle_starttag


def html_fields(text: str) -> list[tuple[str, str]]:
    """Form fields of an HTML page, in document order (shared with replay)."""
    parser = _FormFields()
    try:
        parser.feed(text[:MAX_SCAN])
        parser.close()
    except (AssertionError, ValueError):  # pragma: no cover - HTMLParser is lenient
        pass
    return parser.fields


def sse_events(text: str) -> list[Any]:
    """The JSON ``data`` of each event of an SSE body, in order (None when not JSON)."""
    import json

    events: list[Any] = []
    for block in re.split(r"\r?\n\r?\n", text):
        data = [line[5:].lstrip() for line in block.splitlines() if line.startswith("data:")]
        if not data:
            continue
        try:
            events.append(json.loads("\n".join(data)))
        except ValueError:
            events.append(None)
    return events


def set_cookies(headers: Iterable[Header]) -> list[tuple[str, str]]:
    """``(name, value)`` of every cookie a response sets (shared with replay)."""
    found = []
    for name, value in headers:
        if name.lower() == "set-cookie":
            pair = value.split(";", 1)[0]
            cookie, eq, content = pair.partition("=")
            if eq and cookie.strip():
                found.append((cookie.strip(), content.strip().strip('"')))
    return found


def _decoded(text: str) -> str:
    """A path, query or form as text with its percent-encoding undone too, so a value is
    found however it was encoded (``2|ab`` sent as ``2%7Cab``)."""
    if "%" not in text and "+" not in text:
        return text
    plain = unquote_plus(text)
    return text if plain == text else f"{text} {plain}"


def _media(headers: list[Header]) -> str:
    return (header_value(headers, "content-type") or "").split(";", 1)[0].strip().lower()


# --- the correlator ---------------------------------------------------------------------------


class Correlator:
    """Feed interactions in recorded order; each :meth:`observe` returns that
    interaction's correlations (the ``uses:`` to write on it)."""

    def __init__(self) -> None:
        self._candidates: dict[str, _Candidate] = {}
        self._by_prefix: dict[str, list[str]] = {}
        self._client: dict[str, None] = {}  # values the client sent, oldest first

    # -- candidates ---------------------------------------------------------------------------

    def _offer(self, candidate: _Candidate) -> None:
        value = candidate.value
        if value in self._candidates or value in self._client or not looks_minted(value):
            return
        self._candidates[value] = candidate
        self._by_prefix.setdefault(value[:_PREFIX], []).append(value)
        if len(self._candidates) > MAX_CANDIDATES:
            oldest = next(iter(self._candidates))
            del self._candidates[oldest]
            bucket = self._by_prefix.get(oldest[:_PREFIX], [])
            if oldest in bucket:
                bucket.remove(oldest)
            if not bucket:
                self._by_prefix.pop(oldest[:_PREFIX], None)

    def _offer_json(self, document: Any, make: Any, *, resource: str) -> None:
        for parts, leaf in _leaves(document):
            if isinstance(leaf, str) and not _kind_key(parts):
                self._offer(_Candidate(leaf, make(parts), _json_name(parts, resource)))

    def _offer_response(self, interaction: Interaction) -> None:
        ident = interaction.id
        response = interaction.response
        resource = _resource(interaction.request.path)
        body = response.body
        if body is not None and not body.is_omitted:
            self._offer_body(ident, body, _media(response.headers), resource)
        for name, value in response.headers:
            lower = name.lower()
            if lower == "set-cookie":
                continue
            if lower in _VALUE_HEADERS or _ID_HEADER.search(lower):
                source = Source(ident, "header", name=lower)
                if lower in _URL_HEADERS:
                    self._offer_url(value, source, resource)
                else:
                    self._offer(_Candidate(value, source, lower))
        for cookie, value in set_cookies(response.headers):
            self._offer(_Candidate(value, Source(ident, "cookie", name=cookie), cookie))

    def _offer_body(self, ident: int, body: Any, media: str, resource: str) -> None:
        if body.kind == "json":
            self._offer_json(body.value, lambda p: Source(ident, "body", p), resource=resource)
        elif body.kind == "text" and media == "text/event-stream":
            for number, event in enumerate(sse_events(str(body.value))):
                if event is not None:
                    self._offer_json(
                        event,
                        lambda p, n=number: Source(ident, "event", p, index=n),
                        resource=resource,
                    )
        elif body.kind == "text" and media in ("text/html", "application/xhtml+xml"):
            for field_name, value in html_fields(str(body.value)):
                source = Source(ident, "html", name=field_name)
                self._offer(_Candidate(value, source, field_name))

    def _offer_url(self, url: str, source: Source, resource: str) -> None:
        """Each path segment of a Location URL, picked out by a ``match`` expression."""
        origin = _ORIGIN.match(url)
        base = origin.end() if origin else 0
        path = url[base:].split("?", 1)[0].split("#", 1)[0]
        for match in _SEGMENT.finditer(path):
            pattern = ("^" + _ORIGIN.pattern if base else "^") + re.escape(path[: match.start()])
            name = f"{resource} id" if resource else source.name
            self._offer(_Candidate(match.group(0), source, name, pattern + r"([^/?#&;,\s]+)"))

    # -- client parts -------------------------------------------------------------------------

    def _remember_client(self, text: str) -> None:
        """Values the client sent: whole strings and their delimited pieces."""
        pieces = {text, *re.split(r"[/?&=;,\s\"'#]+", text[:MAX_SCAN])}
        for piece in pieces:
            if len(piece) >= MIN_LENGTH and piece not in self._client:
                self._client[piece] = None
        while len(self._client) > MAX_CLIENT_TOKENS:
            del self._client[next(iter(self._client))]

    def _found_in(self, text: str) -> list[_Candidate]:
        """Candidates inside ``text``, whole or embedded between non-alphanumerics."""
        if not self._candidates or len(text) < MIN_LENGTH:
            return []
        found: dict[str, _Candidate] = {}
        scan = text[:MAX_SCAN]
        last = len(scan) - MIN_LENGTH
        for position in _START.finditer(scan):
            start = position.start()
            if start > last:
                break
            for value in self._by_prefix.get(scan[start : start + _PREFIX], ()):
                end = start + len(value)
                if scan.startswith(value, start) and not (
                    end < len(scan) and scan[end].isalnum() and value[-1].isalnum()
                ):
                    found[value] = self._candidates[value]
        # One value inside another (an id inside a whole URL): the inner one is the value.
        return [c for v, c in found.items() if not any(o != v and o in v for o in found)]

    def _client_strings(self, interaction: Interaction) -> Iterator[tuple[Target, str]]:
        request = interaction.request
        yield Target("path"), _decoded(request.path)
        for name, value in request.headers:
            if name.lower() not in _SKIP_CLIENT_HEADERS:
                yield Target("header", name=name.lower()), value
        body = request.body
        if body is not None and not body.is_omitted:
            if body.kind == "json":
                for parts, leaf in _leaves(body.value):
                    if isinstance(leaf, str) and not _kind_key(parts):
                        yield Target("body", path=parts), leaf
            elif body.kind == "text":
                yield Target("body"), _decoded(str(body.value))

    def _message_strings(self, index: int, value: Any, kind: str) -> Iterator[tuple[Target, str]]:
        if kind == "json":
            for parts, leaf in _leaves(value):
                if isinstance(leaf, str) and not _kind_key(parts):
                    yield Target("message", path=parts, index=index), leaf
        elif kind == "text":
            yield Target("message", index=index), str(value)

    def _collect(self, strings: Iterable[tuple[Target, str]], uses: dict[str, _Use]) -> None:
        seen: list[str] = []
        for target, text in strings:
            for candidate in self._found_in(text):
                use = uses.setdefault(candidate.value, _Use(candidate, []))
                if target not in use.targets:
                    use.targets.append(target)
            seen.append(text)
        for text in seen:  # after the search: a value sent twice in one request still counts
            self._remember_client(text)

    def forget(self, ident: int) -> None:
        """Drop what interaction ``ident`` offered (it was never written)."""
        for value in [v for v, c in self._candidates.items() if c.source.id == ident]:
            del self._candidates[value]
            bucket = self._by_prefix.get(value[:_PREFIX], [])
            if value in bucket:
                bucket.remove(value)

    # -- one interaction ----------------------------------------------------------------------

    def observe(self, interaction: Interaction) -> list[Correlation]:
        """The correlations of ``interaction``, then remember what its server sent."""
        uses: dict[str, _Use] = {}
        self._collect(self._client_strings(interaction), uses)
        if interaction.type == "websocket":
            # The handshake response first, then the session in order: a client message
            # can use what a server message said before it.
            self._offer_response(interaction)
            for index, message in enumerate(interaction.messages):
                if message.sender == "client":
                    self._collect(self._message_strings(index, message.value, message.kind), uses)
                elif message.kind == "json":
                    self._offer_json(
                        message.value,
                        lambda p, i=index: Source(interaction.id, "message", p, index=i),
                        resource="",
                    )
        else:
            self._offer_response(interaction)
        return [
            Correlation(
                value=use.candidate.value,
                source=use.candidate.source,
                targets=tuple(use.targets),
                name=use.candidate.name,
                match=use.candidate.match,
                used_by=interaction.id,
            )
            for use in uses.values()
        ]


def infer_correlations(interactions: Iterable[Interaction]) -> list[Correlation]:
    """Every correlation of a session, given its interactions in recorded order.

    Each :class:`Correlation` says which interaction it belongs on (``used_by``); see
    :func:`attach_correlations` to put them there. Interactions' existing ``uses:`` are
    not read: this infers from the traffic alone.
    """
    correlator = Correlator()
    found: list[Correlation] = []
    for interaction in interactions:
        found.extend(correlator.observe(interaction))
    return found


def attach_correlations(
    interactions: list[Interaction], correlations: Iterable[Correlation]
) -> list[Interaction]:
    """``interactions`` with ``correlations`` written on the ones that use them.

    A correlation already on an interaction (the same value from the same source) is
    kept as it is, so a reviewed one (``enabled: false``, a renamed or narrowed one)
    survives being inferred again; correlations added by hand are kept too.
    """
    by_id: dict[int, list[Correlation]] = {}
    for correlation in correlations:
        by_id.setdefault(correlation.used_by, []).append(correlation)
    out = []
    for interaction in interactions:
        existing = list(interaction.uses)
        known = {(c.value, c.source) for c in existing}
        for correlation in by_id.get(interaction.id, []):
            if (correlation.value, correlation.source) not in known:
                existing.append(replace(correlation, used_by=interaction.id))
        changed = existing != interaction.uses
        out.append(replace(interaction, uses=existing) if changed else interaction)
    return out


def describe(correlation: Correlation) -> str:
    """``#6 path, header authorization <- #5 $.id (kernel id)``: one line for humans."""
    targets = ", ".join(str(t) for t in correlation.targets)
    state = "" if correlation.enabled else "  [disabled]"
    return f"#{correlation.used_by} {targets} <- {correlation.source} ({correlation.label}){state}"
