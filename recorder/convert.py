"""Finished flows -> cassette interactions, with every credential removed.

These are plain functions (no options, no I/O) so the rules that decide what reaches
disk can be pinned with mitmproxy's test flows. They work on a
:class:`~retape.recorder.snapshot.FlowSnapshot`, the plain copy of a flow the proxy's
event loop takes, so they run in the writer process (:mod:`retape.recorder.sink`)
without mitmproxy. Redaction happens here, on the only path from a flow to an
:class:`Interaction`, so no write path can skip it: every part (path, headers, bodies,
messages) goes through the cassette's one :class:`~cassette.redact.Redactor`, which
also scrubs credential values wherever they reappear, in this interaction or a later
one.
"""

from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import replace
from typing import TYPE_CHECKING

from retape.recorder.capture import DEFAULT_MAX_BODY
from retape.recorder.decode import TooLarge, codings, decode_all
from retape.recorder.snapshot import (
    BodySnapshot,
    Fields,
    FlowSnapshot,
    RequestSnapshot,
    ResponseSnapshot,
    http_snapshot,
    websocket_snapshot,
)

from retape.cassette.correlate import Correlator
from retape.cassette.model import Body, Header, Interaction, Message, Request, Response
from retape.cassette.redact import Redactor
from retape.cassette.validate import MAX_SECONDS

if TYPE_CHECKING:
    from mitmproxy import http

logger = logging.getLogger(__name__)


def http_interaction(
    flow: http.HTTPFlow, redactor: Redactor, started: float, *, max_body: int = DEFAULT_MAX_BODY
) -> Interaction:
    """An HTTP exchange, or a rejected websocket handshake (``messages: []``, no close).

    A body that streamed through a :class:`~recorder.capture.BodyCapture` is taken from
    it; one over ``max_body`` bytes (as sent, or once decoded) is recorded as omitted.
    """
    return interaction_from(http_snapshot(flow, time.time()), redactor, started, max_body)


def websocket_interaction(
    flow: http.HTTPFlow, redactor: Redactor, started: float, *, max_body: int = DEFAULT_MAX_BODY
) -> Interaction:
    """An accepted websocket session: handshake, every message in order, and how it ended.

    Called at ``websocket_end``, or at shutdown for a session still open (then it has no
    close frame and is recorded as dropped).
    """
    return interaction_from(websocket_snapshot(flow, time.time()), redactor, started, max_body)


def _seconds(value: float) -> float:
    """A time offset as the format bounds it: a clock that jumped costs no interaction."""
    return min(float(MAX_SECONDS), max(0.0, value))


def interaction_from(
    snap: FlowSnapshot,
    redactor: Redactor,
    started: float,
    max_body: int = DEFAULT_MAX_BODY,
    *,
    correlator: Correlator | None = None,
    ident: int = 0,
) -> Interaction:
    """The redacted interaction a snapshot describes; ``started`` is the recording's start.

    With a ``correlator`` (one per cassette) it also carries its correlations (``uses:``),
    numbered as ``ident``, the id the writer is about to give it.
    """
    frames = snap.frames or ()  # none for plain HTTP and for a rejected handshake
    messages = [Message.from_frame(sender, _seconds(at), c) for sender, at, c in frames]
    raw = Interaction(
        id=0,
        type=snap.kind,
        request=_request(snap.request, max_body),
        response=_response(snap.response, max_body),
        at=_seconds(snap.started - started),
        duration=_seconds(snap.ended - snap.started),
        http_version=snap.http_version,
        messages=messages,
        close=snap.close,
    )
    return finish(raw, redactor, correlator, ident)


def finish(
    raw: Interaction, redactor: Redactor, correlator: Correlator | None, ident: int
) -> Interaction:
    """The interaction as it is written: redacted, numbered, with its correlations.

    Correlations are inferred from the raw traffic (a cookie the server set is still
    readable there), then their recorded values are redacted like the request that
    carries them, so a minted secret is the same ``<redacted:N>`` in both places.
    """
    raw.id = ident
    uses = correlator.observe(raw) if correlator is not None else []
    redacted = redactor.interaction(raw)
    return replace(redacted, uses=[redactor.correlation(c) for c in uses])


def _request(request: RequestSnapshot, max_body: int) -> Request:
    return Request(
        method=request.method,
        path=_text(request.path),
        headers=_headers(request.headers),
        body=_body(request.body, max_body),
    )


def _response(response: ResponseSnapshot, max_body: int) -> Response:
    return Response(
        status=response.status,
        headers=_headers(response.headers),
        body=_body(response.body, max_body),
        reason=response.reason,
    )


def _headers(fields: Fields) -> list[Header]:
    """Every field in received order, repeats kept, names in their original case."""
    return [(_text(name), _text(value)) for name, value in fields]


def _text(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")  # RFC 9110 obs-text: never fails, never loses a byte


def _body(body: BodySnapshot | None, max_body: int) -> Body | None:
    """The decoded body; ``content_encoding`` says what it was decoded from.

    If the declared encoding is unknown or the bytes do not decode, the raw bytes are
    kept and ``content_encoding`` stays empty: the stored body is then exactly what went
    over the wire, and the Content-Encoding header still says how to read it. A body
    over ``max_body`` (as sent or decoded) becomes a note of its size and sha256, taken
    over the bytes as sent.
    """
    if body is None:
        return None
    declared, content_type = body.declared_encoding, body.content_type
    if body.omitted_size is not None:
        return _note(body.omitted_size, body.omitted_sha256, content_type, declared)
    raw = body.raw
    try:
        if len(raw) > max_body:
            raise TooLarge
        content, decoded_from = _decoded(raw, declared, max_body)
    except TooLarge:
        return _note(len(raw), hashlib.sha256(raw).hexdigest(), content_type, declared)
    return Body.from_bytes(content, content_type, decoded_from)


def _note(size: int, sha256: str, content_type: str, declared: str) -> Body:
    """An omitted body: what was sent, described instead of kept."""
    return Body.omitted(
        size=size, sha256=sha256, content_type=content_type, content_encoding=declared or None
    )


def _decoded(raw: bytes, declared: str, max_body: int) -> tuple[bytes, str | None]:
    """(content, the encoding it was decoded from); raises TooLarge past ``max_body``.

    Every coding the recorder knows is undone, stacked ones too (``gzip, gzip``,
    ``x-gzip``), so what reaches redaction is the plain body: a secret inside compressed
    bytes could not be found.
    """
    if not declared or codings(declared) is None:
        return raw, None
    try:
        return decode_all(raw, declared, max_body), declared
    except ValueError:
        logger.warning("kept a %s body undecoded: it is not valid %s", declared, declared)
        return raw, None
