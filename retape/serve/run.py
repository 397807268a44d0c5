"""``retape serve``: options, the server's lifetime, and the summary on the way out."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys

from aiohttp import web

from retape.cassette.load import find_cassettes, load_cassette
from retape.cassette.rules import load_rules
from retape.common.errors import RetapeError
from retape.serve.match import Recorded
from retape.serve.server import MockServer

SHUTDOWN_GRACE = 2.0  # seconds open sessions get to finish once asked to stop


def load(paths: list[str]) -> list[Recorded]:
    """Every interaction of every cassette, in the order given and recorded."""
    files = find_cassettes(paths)
    if not files:
        raise RetapeError(f"no cassettes (*.yaml, *.yml) found in {' '.join(paths)}")
    recorded: list[Recorded] = []
    for path in files:
        cassette = load_cassette(path)
        for interaction in cassette.interactions:
            recorded.append(Recorded(path.name, interaction, len(recorded)))
    return recorded


def _log(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def summary(server: MockServer) -> tuple[list[str], bool]:
    """The lines printed on exit, and whether anything went other than recorded."""
    report, unused = server.report, server.matcher.unused()
    lines = []
    for miss in report.unmatched:
        lines.append(
            f"  unmatched  {miss.request}  (closest {miss.closest}: {'; '.join(miss.why)})"
        )
    for rec in unused:
        lines.append(f"  unused     {rec.label}  ({rec.interaction.response.status})")
    for what in report.diverged:
        lines.append(f"  diverged   {what}")
    served = sum(1 for rec in server.matcher.recorded if rec.uses)
    head = (
        f"retape serve: {served} of {len(server.matcher.recorded)} interaction(s) used, "
        f"{len(report.unmatched)} unmatched request(s), {len(unused)} unused, "
        f"{len(report.diverged)} websocket divergence(s)"
    )
    return [head, *lines], bool(report.unmatched or unused or report.diverged)


async def _serve(server: MockServer, host: str, port: int) -> None:
    runner = web.AppRunner(server.app(), access_log=None, handle_signals=False)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port, shutdown_timeout=SHUTDOWN_GRACE)
        try:
            await site.start()
        except OSError as exc:
            raise RetapeError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
        addresses = runner.addresses  # the bound ones: port 0 becomes the port the OS chose
        bound = addresses[0][1] if addresses else port
        count = len(server.matcher.recorded)
        print(f"retape serve: {count} interaction(s) on http://{host}:{bound} "
              "(Ctrl-C for the summary)", flush=True)  # fmt: skip
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
    finally:
        await runner.cleanup()


def serve(args: argparse.Namespace) -> int:
    host, port = args.listen
    rules = load_rules(None)  # its credential headers: what counts as "a key was sent"
    server = MockServer(load(args.cassettes), speed=args.speed, rules=rules, log=_log)
    asyncio.run(_serve(server, host, port))
    lines, anything = summary(server)
    for line in lines:
        print(line, file=sys.stderr)
    return 1 if anything and args.strict else 0
