"""The mitmproxy addon that appends each finished interaction to a cassette.

Usable on its own: ``mitmdump -s recorder/addon.py --mode reverse:URL --set retape_out=x.yaml``.
The hooks only take a plain snapshot of each finished flow (:mod:`recorder.snapshot`);
redaction, YAML and the single append run in a writer process (:mod:`recorder.sink`),
off mitmproxy's event loop. A response is forwarded only once its interaction is
written, so a recorder killed at any point (even SIGKILL) leaves every interaction a
client saw complete on disk. Bodies stream through in bounded memory (see
:mod:`recorder.capture`).
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

from mitmproxy import ctx, exceptions, http, version
from mitmproxy.addonmanager import Loader
from mitmproxy.proxy.mode_specs import ProxyMode, ReverseMode
from retape.recorder.capture import DEFAULT_MAX_BODY, stream_for
from retape.recorder.sink import Sink, SinkConfig
from retape.recorder.snapshot import FlowSnapshot, http_snapshot, websocket_snapshot

from retape import __version__
from retape.cassette.model import Recording
from retape.cassette.redact import Redactor
from retape.cassette.rules import Rules, load_rules
from retape.common.errors import RetapeError

logger = logging.getLogger(__name__)

_RULE_OPTIONS = {
    "retape_redact_headers": "Extra header names whose values are credentials.",
    "retape_redact_fields": "Extra JSON/form field names to redact at any depth.",
    "retape_redact_query": "Extra query parameter names to redact.",
    "retape_redact_patterns": "Extra regular expressions whose matches are redacted.",
    "retape_redact_allow": "Regular expressions for values never redacted (false positives).",
}
_OPTIONS = frozenset(
    {
        "retape_out",
        "retape_upstream",
        "retape_durable",
        "retape_max_body",
        "retape_redact_config",
        *_RULE_OPTIONS,
    }
)
_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")  # RFC 9110 token


class Recorder:
    """Writes HTTP exchanges at ``response`` and websocket sessions at ``websocket_end``."""

    def __init__(self) -> None:
        self._rules = Rules()
        self.writer: Sink | None = None
        self.written = 0
        self._started = time.time()
        self._open_sessions: dict[str, http.HTTPFlow] = {}
        self._max_body = DEFAULT_MAX_BODY

    def load(self, loader: Loader) -> None:
        loader.add_option("retape_out", str, "", "Cassette file to append interactions to.")
        loader.add_option(
            "retape_upstream",
            str,
            "",
            "Label for the recorded server, written into the cassette's recording metadata.",
        )
        for name, what in _RULE_OPTIONS.items():
            loader.add_option(name, Sequence[str], [], what)
        loader.add_option(
            "retape_redact_config",
            str,
            "",
            "pyproject.toml to read [tool.retape.redact] from (default: the nearest one).",
        )
        loader.add_option(
            "retape_durable", bool, False, "fsync the cassette after every interaction."
        )
        loader.add_option(
            "retape_max_body",
            int,
            DEFAULT_MAX_BODY,
            "Bodies larger than this many bytes (as sent, or decoded) are recorded as a "
            "note of their size and sha256 instead of their content.",
        )

    def configure(self, updated: set[str]) -> None:
        if not updated & _OPTIONS:
            return
        bad = sorted(h for h in ctx.options.retape_redact_headers if not _HEADER_NAME.match(h))
        if bad:
            raise exceptions.OptionsError(f"not a valid header name: {bad[0]!r}")
        if ctx.options.retape_max_body < 0:
            raise exceptions.OptionsError("retape_max_body must be 0 or more bytes")
        self._max_body = ctx.options.retape_max_body
        self._close()
        rules = self._rules = _rules()  # one Redactor per cassette (in the writer)
        if not ctx.options.retape_out:
            return
        recording = Recording(
            at=datetime.now(UTC).isoformat(timespec="seconds"),
            retape=__version__,
            mitmproxy=version.VERSION,
            upstream=ctx.options.retape_upstream or _reverse_target(),
        )
        self._started = time.time()
        config = SinkConfig(
            path=ctx.options.retape_out,
            recording=recording,
            rules=rules,
            durable=ctx.options.retape_durable,
            started=self._started,
            max_body=self._max_body,
        )
        try:
            self.writer = Sink(config, self._written)
        except RetapeError as exc:  # cannot write or lock the cassette
            raise exceptions.OptionsError(str(exc)) from None

    def running(self) -> None:
        if self.writer is None:
            logger.warning("retape_out is not set: nothing will be recorded")

    def requestheaders(self, flow: http.HTTPFlow) -> None:
        self._stream(flow.request)

    def responseheaders(self, flow: http.HTTPFlow) -> None:
        if flow.response is not None:
            self._stream(flow.response)

    def _stream(self, message: http.Message) -> None:
        """Stream the body through a capture when buffering would hold an unbounded body
        or hold back a stream the client should see as it arrives.

        ``stream = True`` (mitmproxy's ``stream_large_bodies``) is replaced: it passes
        chunks through just the same but would leave nothing to record. Another
        addon's stream callable is left alone.
        """
        if self.writer is None or callable(message.stream):
            return
        capture = stream_for(message, self._max_body)
        if capture is not None:
            message.stream = capture

    def response(self, flow: http.HTTPFlow) -> asyncio.Future[None] | None:
        """mitmproxy awaits the returned future: the response waits until it is written."""
        if flow.websocket is not None or flow.response is None:
            return None  # an accepted handshake is written with its session at websocket_end
        return self._write(http_snapshot, flow)

    def websocket_start(self, flow: http.HTTPFlow) -> None:
        self._open_sessions[flow.id] = flow

    def websocket_end(self, flow: http.HTTPFlow) -> asyncio.Future[None] | None:
        self._open_sessions.pop(flow.id, None)
        return self._write(websocket_snapshot, flow)

    def error(self, flow: http.HTTPFlow) -> None:
        if flow.websocket is not None or self.writer is None:
            return
        message = flow.error.msg if flow.error else "unknown error"
        # Neither path nor query: either may carry a credential (a webhook, a bot token).
        message = Redactor(self._rules).text(message.replace(flow.request.path, "<path>"))
        logger.warning("not recorded: %s request failed: %s", flow.request.method, message)

    def done(self) -> None:
        # Sessions still open at shutdown are kept, recorded as dropped (close by none).
        for flow in list(self._open_sessions.values()):
            self.websocket_end(flow)
        self._close()

    def _write(
        self, snapshot: Callable[[http.HTTPFlow, float], FlowSnapshot], flow: http.HTTPFlow
    ) -> asyncio.Future[None] | None:
        """Hand one finished flow to the writer; a failure costs that interaction only."""
        if self.writer is None:
            return None
        try:
            taken = snapshot(flow, time.time())
        except (UnicodeError, ValueError) as exc:
            logger.warning("not recorded: %s", exc)
            return None
        return self.writer.submit(taken)

    def _written(self, problem: str | None) -> None:
        """The writer's answer for one interaction, in the order they were handed over."""
        if problem is None:
            self.written += 1
        else:
            logger.warning("not recorded: %s", problem)

    def _close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None


def _rules() -> Rules:
    """Default rules, the project's [tool.retape.redact], then the retape_redact_* options."""
    config = ctx.options.retape_redact_config
    try:
        return load_rules(Path(config) if config else None).extended(
            headers=ctx.options.retape_redact_headers,
            fields=ctx.options.retape_redact_fields,
            query=ctx.options.retape_redact_query,
            patterns=ctx.options.retape_redact_patterns,
            allow=ctx.options.retape_redact_allow,
        )
    except RetapeError as exc:
        raise exceptions.OptionsError(str(exc)) from None


def _reverse_target() -> str:
    """The upstream of a single reverse-proxy mode, when no label was given."""
    modes = [ProxyMode.parse(spec) for spec in ctx.options.mode]
    if len(modes) == 1 and isinstance(modes[0], ReverseMode):
        return modes[0].data
    return ""


addons = [Recorder()]
