"""From captured exchanges to a cassette on disk: the one path every import takes.

Readers (:mod:`.har_import`, :mod:`.flows_import`) yield :class:`Pending` exchanges:
when each started and how to build its interaction. This module orders them, builds
each through the cassette's single :class:`~retape.cassette.redact.Redactor` (the
redaction a live recording applies), numbers them, infers correlations
(:mod:`retape.cassette.correlate`, as for a recording) and writes the file with the
cassette writer, atomically: a failed import leaves no half file.
"""

from __future__ import annotations

import datetime
import logging
import os
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from retape import __version__
from retape.cassette.correlate import attach_correlations, infer_correlations
from retape.cassette.errors import CassetteError
from retape.cassette.load import load_cassette
from retape.cassette.model import Cassette, Interaction, Recording
from retape.cassette.redact import Redactor
from retape.cassette.rules import Rules
from retape.cassette.writer import CassetteWriter
from retape.common.errors import RetapeError

logger = logging.getLogger(__name__)

# (redactor, start of the recording in epoch seconds) -> the redacted interaction
Build = Callable[[Redactor, float], Interaction]


@dataclass(frozen=True)
class Pending:
    """One exchange read from a capture, not yet redacted."""

    started: float  # epoch seconds
    origin: str  # scheme://host[:port] it was sent to; information only
    build: Build
    where: str  # "file: entry N", for messages


@dataclass
class Imported:
    """What the readers found, before it becomes a cassette."""

    pending: list[Pending]
    mitmproxy: str = ""  # the mitmproxy version that wrote or read the capture, if any


def split_url(url: str) -> tuple[str, str]:
    """``(origin, path)`` of an absolute URL; the path keeps its query, starts with ``/``.

    ``ws``/``wss`` become ``http``/``https``: the cassette's upstream names the server,
    whatever the protocol of one request.
    """
    parts = urlsplit(url)
    if not parts.scheme or not parts.netloc:
        if url.startswith("/"):
            return "", url
        raise ValueError(f"not an absolute URL: {url[:80]!r}")
    scheme = {"ws": "http", "wss": "https"}.get(parts.scheme.lower(), parts.scheme.lower())
    origin = f"{scheme}://{parts.netloc.rpartition('@')[2]}"  # never keep user:password@
    path = parts.path or "/"
    if parts.query:
        path = f"{path}?{parts.query}"
    return origin, path


def with_correlations(interactions: list[Interaction]) -> list[Interaction]:
    """The correlation inference a live recording gets (``uses:``), on the imported traffic."""
    return attach_correlations(interactions, infer_correlations(interactions))


def build_cassette(imported: Imported, rules: Rules, *, origin: str | None = None) -> Cassette:
    """Order, filter to ``origin`` if given, redact and number the exchanges."""
    pending = sorted(imported.pending, key=lambda p: p.started)
    if origin is not None:
        wanted = origin.rstrip("/").lower()
        pending = [p for p in pending if p.origin.lower() == wanted]
        if not pending:
            raise RetapeError(f"no exchange was sent to --origin {origin}")
    origins = list(dict.fromkeys(p.origin for p in pending if p.origin))
    if len(origins) > 1:
        logger.warning(
            "the capture holds %d origins (%s); all are kept as paths, the first is named "
            "as upstream; --origin keeps one",
            len(origins),
            ", ".join(origins[:5]),
        )
    start = pending[0].started if pending else 0.0
    redactor = Redactor(rules)
    interactions = []
    for number, item in enumerate(pending, start=1):
        interaction = item.build(redactor, start)
        interaction.id = number
        interactions.append(interaction)
    at = datetime.datetime.fromtimestamp(start, datetime.UTC) if pending else None
    recording = Recording(
        at=at.isoformat(timespec="seconds") if at else "",
        retape=__version__,
        mitmproxy=imported.mitmproxy,
        upstream=redactor.path(origins[0]) if origins else "",
    )
    cassette = Cassette(recording=recording, interactions=with_correlations(interactions))
    return cassette


def write_cassette(cassette: Cassette, out: Path, *, force: bool = False) -> None:
    """Write through the cassette writer into a temporary file, then rename it into place."""
    if out.exists() and not force:
        raise RetapeError(f"{out}: exists already (--force replaces it)")
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=".tmp")
    os.close(fd)
    os.unlink(tmp)  # the writer creates it, locked
    try:
        writer = CassetteWriter(tmp, cassette.recording)
        try:
            for interaction in cassette.interactions:
                number = interaction.id
                writer.next_id = number
                writer.append(interaction)
        finally:
            writer.close()
        try:  # what an import writes must load as any cassette does: checked, not assumed
            load_cassette(tmp)
        except CassetteError as exc:
            raise RetapeError(f"{out}: the imported traffic makes no valid cassette: "
                              f"{exc.place or ''} {exc.message}") from None  # fmt: skip
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_all(paths: Iterable[str], *, readers: dict[str, Callable[[str], Imported]]) -> Imported:
    """Every capture in ``paths``, each read by the reader its content calls for."""
    from retape.convert.detect import kind_of

    pending: list[Pending] = []
    versions = []
    for path in paths:
        imported = readers[kind_of(path)](path)
        pending.extend(imported.pending)
        if imported.mitmproxy:
            versions.append(imported.mitmproxy)
    return Imported(pending, versions[0] if versions else "")
