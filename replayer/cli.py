"""``retape replay``: flags, then load everything, replay, report, exit code.

Only argparse is imported at module level: the ``retape`` command imports this module
on every start, and the network stack is loaded only when a replay actually runs.

Exit codes: 0 every interaction matched; 1 at least one mismatch or error row; 2 (via
:class:`RetapeError`) bad flags, a missing credential variable, an unreadable or
invalid cassette, or an unreachable target. All cassettes are loaded before the first
request, so an invalid file means no traffic at all.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from replayer.results import Result, Summary

DEFAULT_TIMEOUT = 10.0


def _positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"expected a positive number of seconds, got {text!r}")
    return value


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "replay",
        help="replay cassettes against a target and fail on changed status codes",
        description="Replay recorded HTTP and WebSocket interactions against --target, in "
        "recorded order, and compare status codes (the handshake status for websockets). "
        "Exit 0 when all match, 1 on any mismatch or error, 2 on bad input or an "
        "unreachable target.",
    )
    parser.add_argument("paths", nargs="+", metavar="PATH", help="cassette files or directories")
    parser.add_argument(
        "--target",
        required=True,
        metavar="URL",
        help="http(s)://host:port[/prefix]; the prefix goes before every recorded path",
    )
    parser.add_argument(
        "--timeout",
        type=_positive_seconds,
        default=DEFAULT_TIMEOUT,
        metavar="SECONDS",
        help=f"bound on every network wait (default {DEFAULT_TIMEOUT:g})",
    )
    auth = parser.add_argument_group(
        "credentials",
        "Sent only on interactions recorded with credentials, in place of the redacted "
        "headers. Values come from the environment, never from the command line.",
    )
    auth.add_argument(
        "--bearer-env",
        metavar="VAR",
        help="send 'Authorization: Bearer $VAR'",
    )
    auth.add_argument(
        "--header",
        action="append",
        default=[],
        dest="headers",
        metavar="'NAME: ${VAR}'",
        help="send this header, ${VAR} expanded from the environment (repeatable)",
    )
    reports = parser.add_argument_group("reports")
    reports.add_argument("--json", metavar="FILE", help="write a JSON report")
    reports.add_argument("--junit", metavar="FILE", help="write a JUnit XML report")
    parser.set_defaults(handler=run)


def _check_writable(flag: str, path: str | None) -> None:
    """Fail before any traffic rather than after the whole replay."""
    from cassette.errors import RetapeError

    if path is None:
        return
    parent = Path(path).parent
    if not parent.is_dir():
        raise RetapeError(f"{flag} {path}: directory {parent} does not exist")
    if Path(path).is_dir():
        raise RetapeError(f"{flag} {path}: is a directory")


def run(args: argparse.Namespace) -> int:
    import asyncio
    import time

    from cassette.errors import RetapeError
    from cassette.load import find_cassettes, load_cassette
    from replayer.credentials import credentials_from_args
    from replayer.engine import replay_cassettes
    from replayer.report_text import TextReport
    from replayer.results import Summary
    from replayer.target import parse_target

    target = parse_target(args.target)
    credentials = credentials_from_args(bearer_env=args.bearer_env, header_specs=args.headers)
    _check_writable("--json", args.json)
    _check_writable("--junit", args.junit)
    files = find_cassettes(args.paths)
    if not files:
        raise RetapeError(f"no cassettes (*.yaml, *.yml) found in {' '.join(args.paths)}")
    cassettes = [load_cassette(path) for path in files]  # all valid before any traffic

    report = TextReport()
    report.start(
        cassettes=len(cassettes),
        interactions=sum(len(c.interactions) for c in cassettes),
        target=str(target),
    )
    started = time.monotonic()
    results = asyncio.run(
        replay_cassettes(
            cassettes, target, credentials, timeout=args.timeout, on_result=report.result
        )
    )
    summary = Summary.of(results, duration=time.monotonic() - started)
    report.summary(summary)
    _write_reports(args, results, summary)
    return 0 if summary.all_passed else 1


def _write_reports(args: argparse.Namespace, results: Sequence[Result], summary: Summary) -> None:
    from cassette.errors import RetapeError
    from replayer.report_json import write_json
    from replayer.report_junit import write_junit

    for flag, path, write in (
        ("--json", args.json, write_json),
        ("--junit", args.junit, write_junit),
    ):
        if path is None:
            continue
        try:
            write(path, results, summary)
        except OSError as exc:
            raise RetapeError(f"{flag} {path}: cannot write: {exc.strerror or exc}") from None
