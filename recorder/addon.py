"""The mitmproxy addon that appends each finished interaction to a cassette.

Usable on its own: ``mitmdump -s recorder/addon.py --mode reverse:URL --set retape_out=x.yaml``.
Each interaction is written the moment it completes, with a single append, so a recorder
killed at any point (even SIGKILL) leaves every completed interaction on disk. Bodies
stream through in bounded memory (see :mod:`recorder.capture`).
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

import yaml
from mitmproxy import ctx, exceptions, http, version
from mitmproxy.addonmanager import Loader
from mitmproxy.proxy.mode_specs import ProxyMode, ReverseMode
from retape.recorder.capture import DEFAULT_MAX_BODY, stream_for
from retape.recorder.convert import http_interaction, request_headers, websocket_interaction
from retape.recorder.guard import interaction_problem

from retape import __version__
from retape.cassette.errors import CassetteError
from retape.cassette.model import Interaction, Recording
from retape.cassette.redact import Redactor
from retape.cassette.rules import Rules, load_rules
from retape.cassette.writer import CassetteWriter, rewrite_interactions
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
        self.writer: CassetteWriter | None = None
        self.written = 0
        self._redactor = Redactor()
        self._started = time.time()
        self._open_sessions: dict[str, http.HTTPFlow] = {}
        self._max_body = DEFAULT_MAX_BODY
        self._learned_at_first_write: int | None = None

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
        self._redactor = Redactor(_rules())  # one per cassette: placeholders numbered per file
        if not ctx.options.retape_out:
            return
        recording = Recording(
            at=datetime.now(UTC).isoformat(timespec="seconds"),
            retape=__version__,
            mitmproxy=version.VERSION,
            upstream=ctx.options.retape_upstream or _reverse_target(),
        )
        try:
            self.writer = CassetteWriter(
                ctx.options.retape_out, recording, durable=ctx.options.retape_durable
            )
        except CassetteError as exc:
            raise exceptions.OptionsError(str(exc)) from None
        self._started = time.time()

    def running(self) -> None:
        if self.writer is None:
            logger.warning("retape_out is not set: nothing will be recorded")

    def requestheaders(self, flow: http.HTTPFlow) -> None:
        # Learn the request's credentials now, before any interaction that overlaps this
        # one (a websocket session, a slow stream) is written with them in it.
        self._redactor.headers(request_headers(flow.request))
        self._redactor.path(flow.request.path)
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

    def response(self, flow: http.HTTPFlow) -> None:
        if flow.websocket is not None or flow.response is None:
            return  # an accepted handshake is written with its session at websocket_end
        limit = self._max_body
        self._write(lambda: http_interaction(flow, self._redactor, self._started, max_body=limit))

    def websocket_start(self, flow: http.HTTPFlow) -> None:
        self._open_sessions[flow.id] = flow

    def websocket_end(self, flow: http.HTTPFlow) -> None:
        self._open_sessions.pop(flow.id, None)
        limit = self._max_body
        self._write(
            lambda: websocket_interaction(flow, self._redactor, self._started, max_body=limit)
        )

    def error(self, flow: http.HTTPFlow) -> None:
        if flow.websocket is not None or self.writer is None:
            return
        message = flow.error.msg if flow.error else "unknown error"
        # Neither path nor query: either may carry a credential (a webhook, a bot token).
        message = self._redactor.text(message.replace(flow.request.path, "<path>"))
        logger.warning("not recorded: %s request failed: %s", flow.request.method, message)

    def done(self) -> None:
        # Sessions still open at shutdown are kept, recorded as dropped (close by none).
        for flow in list(self._open_sessions.values()):
            self.websocket_end(flow)
        self._close()

    def _write(self, build: Callable[[], Interaction]) -> None:
        """Convert and append one interaction; a failure costs that interaction only."""
        if self.writer is None:
            return
        try:
            interaction = build()
            # A block that would not validate must not reach the file: it would make the
            # whole cassette unreadable, including everything recorded before it.
            problem = interaction_problem(interaction.to_data())
            if problem:
                raise ValueError(problem)
            self.writer.append(interaction)
        except (CassetteError, OSError, ValueError, yaml.YAMLError) as exc:
            logger.warning("not recorded: %s", self._redactor.text(str(exc)))
            return
        self.written += 1
        if self._learned_at_first_write is None:
            self._learned_at_first_write = self._redactor.learned

    def _close(self) -> None:
        if self.writer is None:
            return
        path = self.writer.path
        self.writer.close()
        self.writer = None
        first, self._learned_at_first_write = self._learned_at_first_write, None
        if first is not None and self._redactor.learned > first:
            self._scrub_written(path)

    def _scrub_written(self, path: Path) -> None:
        """Values learned after the first interaction was written may sit in lines that
        are already on disk (a token minted in a response, pasted earlier in a websocket
        message). If any is there, the file is rewritten atomically with everything
        learned. A recorder killed before this point leaves those lines as they were:
        docs/security.md says so."""
        try:
            text = path.read_text(encoding="utf-8")
            if not any(form in text for form in self._redactor.known_forms()):
                return
            rewrite_interactions(path, self._redactor.interaction)
        except (CassetteError, OSError, ValueError, yaml.YAMLError) as exc:
            logger.warning("could not rescrub %s: %s", path, self._redactor.text(str(exc)))
            return
        logger.info("rewrote %s: values learned late were scrubbed from earlier lines", path)


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
