"""``retape record``: mitmproxy, in-process, as a recording reverse proxy.

Everything a user can get wrong (the upstream URL, the listen address, a busy port, an
unreadable CA file, a cassette that cannot be written or is locked by another recorder)
is checked before the proxy starts and reported as one :class:`RetapeError` line.
SIGINT and SIGTERM stop it cleanly: open websocket sessions are written, the cassette is
closed, exit code 0.
"""

from __future__ import annotations

import asyncio
import signal
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from mitmproxy import exceptions, options
from mitmproxy.addons.termlog import TermLog
from mitmproxy.tools.dump import DumpMaster
from retape.recorder.addon import Recorder
from retape.recorder.capture import DEFAULT_MAX_BODY
from retape.recorder.endpoints import check_ca_file, ensure_can_listen, parse_listen, parse_upstream

from retape.common.errors import ExitStatus, RetapeError


@dataclass(frozen=True)
class _Settings:
    upstream: str
    host: str
    port: int
    out: str
    upstream_insecure: bool
    upstream_ca_file: str
    max_body: int
    redaction: tuple[tuple[str, object], ...]
    durable: bool
    quiet: bool

    @property
    def listen_url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"


def record(
    *,
    upstream: str,
    listen: str,
    out: str,
    upstream_insecure: bool = False,
    upstream_ca_file: str | None = None,
    max_body: int = DEFAULT_MAX_BODY,
    redaction: Mapping[str, Sequence[str] | str] | None = None,
    durable: bool = False,
    quiet: bool = False,
) -> int:
    """Record until SIGINT/SIGTERM; return the exit code (0). Raises RetapeError.

    ``redaction`` holds values for the addon's ``retape_redact_*`` options (extra
    headers, fields, query parameters, patterns, allow-list, config file).
    """
    target = parse_upstream(upstream)
    host, port = parse_listen(listen)
    ca_file = check_ca_file(upstream_ca_file) if upstream_ca_file else ""
    settings = _Settings(
        upstream=target,
        host=host,
        port=port,
        out=out,
        upstream_insecure=upstream_insecure,
        upstream_ca_file=ca_file,
        max_body=max_body,
        redaction=tuple((redaction or {}).items()),
        durable=durable,
        quiet=quiet,
    )
    ensure_can_listen(host, port)
    written = asyncio.run(_serve(settings))
    if not quiet:
        noun = "interaction" if written == 1 else "interactions"
        print(f"retape: wrote {written} {noun} to {out}", file=sys.stderr)
    return ExitStatus.OK


async def _serve(settings: _Settings) -> int:
    """Run the proxy until told to stop; return how many interactions were written."""
    opts = options.Options()
    master = DumpMaster(opts, with_termlog=False, with_dumper=False)
    termlog = TermLog(out=sys.stderr)  # diagnostics on stderr, like every retape message
    recorder = Recorder()
    master.addons.add(termlog, recorder, _Announce(settings))
    try:
        try:
            opts.update(
                mode=[f"reverse:{settings.upstream}"],
                listen_host=settings.host,
                listen_port=settings.port,
                keep_host_header=False,  # the upstream gets its own Host, not ours
                ssl_insecure=settings.upstream_insecure,
                ssl_verify_upstream_trusted_ca=settings.upstream_ca_file or None,
                # Connect upstream per request: an unreachable upstream is then a 502 for
                # the client and a warning here, not a silently dropped connection.
                connection_strategy="lazy",
                termlog_verbosity="error" if settings.quiet else "warn",
                retape_out=settings.out,
                retape_upstream=settings.upstream,
                **dict(settings.redaction),
                retape_durable=settings.durable,
                retape_max_body=settings.max_body,
            )
        except exceptions.OptionsError as exc:  # the cassette is checked here, before listening
            raise RetapeError(str(exc)) from None
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, master.shutdown)
        try:
            await master.run()
        except SystemExit:  # mitmproxy's errorcheck: an error was logged during startup
            raise RetapeError(
                f"cannot start recording on {settings.host}:{settings.port} (see above)"
            ) from None
        # Connections still open (keep-alive clients) are cancelled as the loop closes;
        # asyncio would print each cancellation as an error.
        loop.set_exception_handler(_ignore_cancelled)
    finally:
        recorder.done()  # idempotent; covers a startup failure, where mitmproxy skips done
        termlog.uninstall()
    return recorder.written


def _ignore_cancelled(loop: asyncio.AbstractEventLoop, context: dict) -> None:
    if not isinstance(context.get("exception"), asyncio.CancelledError):
        loop.default_exception_handler(context)


class _Announce:
    """Says where to point clients, once the proxy is actually accepting connections."""

    def __init__(self, settings: _Settings) -> None:
        self.settings = settings

    def running(self) -> None:
        if not self.settings.quiet:
            s = self.settings
            print(
                f"retape: recording {s.upstream} -> {s.out}, listening on {s.listen_url} "
                "(Ctrl-C to stop)",
                file=sys.stderr,
                flush=True,
            )
