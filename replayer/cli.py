"""``retape replay``: flags, then load everything, replay, report, exit code.

Only argparse is imported at module level: the ``retape`` command imports this module
on every start, and the network stack is loaded only when a replay actually runs.

Exit codes: 0 every row passed; 1 at least one mismatch, difference, accepted or
crashed auth probe, or error row; 2 (via :class:`RetapeError`) bad flags, a missing
credential variable, an unreadable or invalid cassette, config or noise file, or an
unreachable target. All cassettes and rules are loaded before the first request, so
an invalid file means no traffic at all. Flags and reports: docs/replay.md.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cassette.model import Cassette, Interaction
    from replayer.config import ReplayConfig
    from replayer.credentials import Credentials
    from replayer.noise import IgnoreRules
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
        help="replay cassettes against a target and fail on regressions",
        description="Replay recorded HTTP and WebSocket interactions against --target, in "
        "recorded order, and compare status codes (the handshake status for websockets), "
        "optionally headers, bodies and websocket messages, and probe that credentials "
        "are still required (--auth-matrix). Exit 0 when all pass, 1 on any failure or "
        "error row, 2 on bad input or an unreachable target. See docs/replay.md.",
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
    auth.add_argument(
        "--secret",
        action="append",
        default=[],
        dest="secrets",
        metavar="N=VAR",
        help="value for placeholder <redacted:N> in what the client sends (a form password, "
        "a query key), from environment variable VAR (repeatable); an interaction with an "
        "unfilled placeholder is reported, not sent",
    )
    compare = parser.add_argument_group(
        "comparison",
        "The status is always compared. Deeper aspects are opt-in; ignore rules (JSON paths "
        "such as '$.id' or '$..event_id', or 'header:NAME') come from [tool.retape.compare] "
        "in pyproject.toml, from CASSETTE.noise.toml beside each cassette, and from --ignore.",
    )
    compare.add_argument(
        "--compare",
        default="status",
        metavar="ASPECTS",
        help="comma-separated: status, headers, body, messages (default status)",
    )
    compare.add_argument(
        "--ignore",
        action="append",
        default=[],
        metavar="RULE",
        help="ignore this JSON path or header:NAME in every interaction (repeatable)",
    )
    compare.add_argument(
        "--learn-noise",
        action="store_true",
        help="learn the fields that differ between two runs and add them to "
        "CASSETTE.noise.toml before comparing",
    )
    compare.add_argument(
        "--noise-baseline",
        choices=["replay", "recording"],
        default="replay",
        help="learn from two replays (default), or from the recording and one replay "
        "(only against the build that was recorded)",
    )
    probes = parser.add_argument_group("auth matrix")
    probes.add_argument(
        "--auth-matrix",
        action="store_true",
        help="also replay every interaction recorded with a credential without one and "
        "with a wrong one; each must be refused",
    )
    probes.add_argument(
        "--refusal",
        metavar="CODES",
        help="statuses that count as a refusal (default 401,403 or [tool.retape.auth_matrix])",
    )
    reports = parser.add_argument_group("reports")
    reports.add_argument("--json", metavar="FILE", help="write a JSON report")
    reports.add_argument("--junit", metavar="FILE", help="write a JUnit XML report")
    reports.add_argument(
        "--markdown", metavar="FILE", help="write a Markdown report to paste into an issue"
    )
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


def _rules_for(
    cassettes: Sequence[Cassette], config: ReplayConfig, extra: Sequence[str]
) -> Callable[[Cassette, Interaction], IgnoreRules]:
    """Every rule source, read and parsed before any traffic so a typo costs nothing."""
    from replayer.noise import IgnoreRules
    from replayer.noise_file import noise_path, read_noise

    base = config.ignore + IgnoreRules.parse(extra, where="--ignore")
    sidecars = {c.path: read_noise(noise_path(c.path)) for c in cassettes if c.path}
    cache: dict[tuple[str | None, int], IgnoreRules] = {}

    def rules_for(cassette: Cassette, interaction: Interaction) -> IgnoreRules:
        key = (cassette.path, interaction.id)
        if key not in cache:
            noise = sidecars.get(cassette.path)
            own = noise.rules_for(interaction.id) if noise else IgnoreRules()
            cache[key] = base + own
        return cache[key]

    return rules_for


def run(args: argparse.Namespace) -> int:
    import asyncio
    import time

    from cassette.errors import RetapeError
    from cassette.load import find_cassettes, load_cassette
    from replayer.compare import Comparison, parse_aspects
    from replayer.config import load_config, parse_refusal
    from replayer.credentials import credentials_from_args
    from replayer.engine import replay_cassettes
    from replayer.learning import NoiseBaseline, NoiseLearner
    from replayer.report_text import TextReport
    from replayer.results import Summary
    from replayer.target import parse_target

    target = parse_target(args.target)
    credentials = credentials_from_args(
        bearer_env=args.bearer_env, header_specs=args.headers, secret_specs=args.secrets
    )
    aspects = parse_aspects(args.compare)
    config = load_config()
    refusal = parse_refusal(args.refusal, where="--refusal") if args.refusal else config.refusal
    comparison = Comparison(aspects, config.message_key)
    for flag in ("--json", "--junit", "--markdown"):
        _check_writable(flag, getattr(args, flag[2:]))
    files = find_cassettes(args.paths)
    if not files:
        raise RetapeError(f"no cassettes (*.yaml, *.yml) found in {' '.join(args.paths)}")
    cassettes = [load_cassette(path) for path in files]  # all valid before any traffic
    rules_for = _rules_for(cassettes, config, args.ignore)
    learner = None
    if args.learn_noise:
        learner = NoiseLearner(NoiseBaseline(args.noise_baseline), message_key=config.message_key)

    report = TextReport(deep=comparison.deep)
    report.start(
        cassettes=len(cassettes),
        interactions=sum(len(c.interactions) for c in cassettes),
        target=str(target),
    )
    started = time.monotonic()
    results = asyncio.run(
        replay_cassettes(
            cassettes,
            target,
            credentials,
            timeout=args.timeout,
            on_result=report.result,
            comparison=comparison,
            config=replace(config, refusal=refusal),
            auth_matrix=args.auth_matrix,
            rules_for=rules_for,
            learner=learner,
        )
    )
    summary = Summary.of(results, duration=time.monotonic() - started)
    if learner is not None:
        for path, count in learner.save():
            report.note(f"learned {count} noise rule{'s' if count != 1 else ''} -> {path}")
    report.summary(summary)
    _write_reports(args, results, summary)
    if args.markdown:
        _write_markdown(args.markdown, results, summary, cassettes, str(target), credentials)
    return 0 if summary.all_passed else 1


def _write_markdown(
    path: str,
    results: Sequence[Result],
    summary: Summary,
    cassettes: Sequence[Cassette],
    target: str,
    credentials: Credentials,
) -> None:
    from cassette.errors import RetapeError
    from replayer.report_markdown import render_markdown, write_markdown

    text = render_markdown(
        results, summary, cassettes=cassettes, target=target, credentials=credentials
    )
    try:
        write_markdown(path, text)
    except OSError as exc:
        raise RetapeError(f"--markdown {path}: cannot write: {exc.strerror or exc}") from None


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
