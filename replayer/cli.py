"""``retape replay``: flags, then load everything, replay, report, exit code.

Only argparse is imported at module level: the ``retape`` command imports this module
on every start, and the network stack is loaded only when a replay actually runs.

Exit codes: 0 every row passed; 1 at least one mismatch, difference, accepted or
crashed auth probe, or error row; 2 (via :class:`RetapeError`) bad flags, a missing
credential variable, an unreadable or invalid cassette, config or noise file, or an
unreachable target; 130 interrupted (Ctrl-C or SIGTERM), after printing what ran. All
cassettes are validated (one streaming pass each) and all rules loaded before the first
request, so an invalid file means no traffic at all; the replay then reads each
cassette again as it goes. Flags and reports: docs/replay.md.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from retape.replayer.auth.credentials import Credentials
    from retape.replayer.compare.aspects import Comparison
    from retape.replayer.compare.ignore import IgnoreRules
    from retape.replayer.compare.keys import MessageRules
    from retape.replayer.config import ReplayConfig
    from retape.replayer.engine import Source
    from retape.replayer.net.target import Target
    from retape.replayer.noise.learning import NoiseLearner
    from retape.replayer.report.outputs import RunReports
    from retape.replayer.report.text import TextReport
    from retape.replayer.results import Result, Summary
    from retape.replayer.schedule import Pacing

    from retape.cassette.model import Interaction
    from retape.cassette.stream import CassetteStream

DEFAULT_TIMEOUT = 10.0
DEFAULT_CONCURRENCY = 8  # replayer.schedule.DEFAULT_CONCURRENCY, without importing asyncio here


def _positive(unit: str = "") -> Callable[[str], float]:
    """An argparse type: a finite number above zero, errors phrased with ``unit``."""
    what = f"a number of {unit}" if unit else "a number"

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
        if not 0 < value < float("inf"):
            raise argparse.ArgumentTypeError(f"expected a positive {what[2:]}, got {text!r}")
        return value

    return parse


_positive_seconds = _positive("seconds")
_positive_number = _positive()


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
        "--shape",
        action="append",
        default=[],
        metavar="RULE",
        nargs="?",
        const="$",
        help="compare this JSON path by shape only: same keys and value types, values free "
        "(model output); without a path, whole bodies and messages (repeatable)",
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
        "--jsonl", metavar="FILE", help="write JSON Lines: one row per line as it is reported"
    )
    reports.add_argument(
        "--markdown", metavar="FILE", help="write a Markdown report to paste into an issue"
    )
    _add_fault_flags(parser)
    _add_pace_flags(parser)
    parser.set_defaults(handler=run)


# --- faults, limits and TLS (docs/replay.md "Faults and timeouts") -----------------------------


def _add_fault_flags(parser: argparse.ArgumentParser) -> None:
    limits = parser.add_argument_group(
        "limits and TLS",
        "Every network wait is bounded by --timeout; --deadline bounds the whole run. "
        "An https target is verified against the system's CAs unless told otherwise.",
    )
    limits.add_argument(
        "--deadline",
        type=_positive_seconds,
        default=None,
        metavar="SECONDS",
        help="stop sending after this long; the rest are reported as 'not run: deadline "
        "reached' rows and the run exits 1 (default: no deadline)",
    )
    trust = limits.add_mutually_exclusive_group()
    trust.add_argument(
        "--ca-file",
        metavar="FILE",
        help="verify an https target with the CA certificate(s) in this PEM file",
    )
    trust.add_argument(
        "--insecure",
        action="store_true",
        help="do not verify an https target's certificate (self-signed staging)",
    )


@contextlib.contextmanager
def _guarded_rows(
    args: argparse.Namespace, reports: RunReports, started: float
) -> Iterator[Callable[[Result], None]]:
    """Yield the row callback; on Ctrl-C or SIGTERM, report what ran and re-raise.

    The partial summary and the JSON, JSON Lines and JUnit reports cover the rows that
    were reported; the top-level CLI then says "interrupted" on stderr and exits 130.
    """
    import time

    from retape.replayer.interrupts import Signals, sigterm_as_ctrl_c
    from retape.replayer.results import DEADLINE_NOT_RUN, DEADLINE_STOPPED

    from retape.cassette.errors import RetapeError

    report = reports.text
    deadline_noted = False

    def on_result(result: Result) -> None:
        nonlocal deadline_noted
        if result.error in (DEADLINE_NOT_RUN, DEADLINE_STOPPED) and not deadline_noted:
            report.note(f"deadline of {args.deadline:g}s reached: nothing more is sent")
            deadline_noted = True
        reports.result(result)

    signals = Signals()
    try:
        with sigterm_as_ctrl_c(signals):
            yield on_result
    except KeyboardInterrupt:
        summary = reports.summary(duration=time.monotonic() - started)
        report.summary(summary)
        report.note(f"interrupted by {signals.name}: the summary covers only the rows that ran")
        try:
            reports.write(summary)
        except RetapeError as exc:
            print(f"retape: {exc}", file=sys.stderr)
        raise


# --- concurrency, pacing and streaming (docs/replay.md "Concurrency and pacing") ---------------


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected at least 1, got {text!r}")
    return value


def _add_pace_flags(parser: argparse.ArgumentParser) -> None:
    pace = parser.add_argument_group(
        "concurrency and pacing",
        "Cassettes run side by side; a cassette's interactions run in recorded order. "
        "Rows are always reported in recorded order. --rate and --speed spare a shared "
        "staging server.",
    )
    pace.add_argument(
        "--concurrency",
        type=_positive_int,
        default=DEFAULT_CONCURRENCY,
        metavar="N",
        help=f"at most N interactions in flight at once (default {DEFAULT_CONCURRENCY})",
    )
    pace.add_argument(
        "--unordered",
        action="store_true",
        help="let a cassette's interactions run at the same time (only when none depends "
        "on an earlier one)",
    )
    pace.add_argument(
        "--rate",
        type=_positive_number,
        metavar="R",
        help="start at most R requests per second, overall (default: no limit)",
    )
    pace.add_argument(
        "--speed",
        type=_positive_number,
        metavar="F",
        help="follow the recorded timing, F times faster (1 = real time); each cassette "
        "from its first interaction",
    )


def _pacing(args: argparse.Namespace) -> Pacing:
    from retape.replayer.schedule import Pacing

    return Pacing(
        concurrency=args.concurrency,
        ordered=not args.unordered,
        rate=args.rate,
        speed=args.speed,
    )


# -----------------------------------------------------------------------------------------------


def _check_writable(flag: str, path: str | None) -> None:
    """Fail before any traffic rather than after the whole replay."""
    from retape.cassette.errors import RetapeError

    if path is None:
        return
    parent = Path(path).parent
    if not parent.is_dir():
        raise RetapeError(f"{flag} {path}: directory {parent} does not exist")
    if Path(path).is_dir():
        raise RetapeError(f"{flag} {path}: is a directory")


@dataclass(frozen=True)
class CassetteRules:
    """Every rule source, read and parsed before any traffic so a typo costs nothing."""

    rules_for: Callable[[Source, Interaction], IgnoreRules]
    messages_for: Callable[[Source | None], MessageRules]
    base: IgnoreRules  # project-wide and command-line rules


def cassette_rules(
    cassettes: Sequence[Source],
    config: ReplayConfig,
    extra: Sequence[str],
    shape: Sequence[str] = (),
) -> CassetteRules:
    """Ignore rules per interaction and message rules per cassette (its ``.noise.toml``
    over ``[tool.retape.compare]``).

    Rules are cached per cassette, and per interaction only for the ids a noise file
    names, so the cache does not grow with the cassettes.
    """
    from retape.replayer.compare.ignore import IgnoreRules
    from retape.replayer.noise.file import noise_path, read_noise

    base = config.ignore + IgnoreRules.parse(extra, where="--ignore")
    base = base + IgnoreRules.shape(shape, where="--shape")
    defaults = config.messages
    sidecars = {c.path: read_noise(noise_path(c.path), base=defaults) for c in cassettes if c.path}
    messages = {
        path: noise.message_rules(defaults, where=str(noise_path(path)))
        for path, noise in sidecars.items()
    }
    cache: dict[tuple[str | None, int | None], IgnoreRules] = {}

    def rules_for(cassette: Source, interaction: Interaction) -> IgnoreRules:
        noise = sidecars.get(cassette.path)
        named = noise is not None and interaction.id in noise.interactions
        key = (cassette.path, interaction.id if named else None)
        if key not in cache:
            own = noise.rules_for(interaction.id) if noise else IgnoreRules()
            cache[key] = base + own
        return cache[key]

    def messages_for(cassette: Source | None) -> MessageRules:
        return messages.get(cassette.path if cassette is not None else None, defaults)

    return CassetteRules(rules_for, messages_for, base)


def run(args: argparse.Namespace) -> int:
    from retape.replayer.auth.credentials import credentials_from_args
    from retape.replayer.compare.aspects import Comparison, parse_aspects
    from retape.replayer.config import load_config, parse_refusal
    from retape.replayer.net.target import parse_target

    from retape.cassette.errors import RetapeError
    from retape.cassette.load import find_cassettes
    from retape.cassette.stream import open_cassette

    target = parse_target(args.target, insecure=args.insecure, ca_file=args.ca_file)
    credentials = credentials_from_args(
        bearer_env=args.bearer_env, header_specs=args.headers, secret_specs=args.secrets
    )
    aspects = parse_aspects(args.compare)
    config = load_config()
    refusal = parse_refusal(args.refusal, where="--refusal") if args.refusal else config.refusal
    comparison = Comparison(aspects, config.message_key)
    for flag in ("--json", "--junit", "--jsonl", "--markdown"):
        _check_writable(flag, getattr(args, flag[2:]))
    files = find_cassettes(args.paths)
    if not files:
        raise RetapeError(f"no cassettes (*.yaml, *.yml) found in {' '.join(args.paths)}")
    # All valid before any traffic; each is read again, item by item, as the replay goes.
    cassettes = [open_cassette(path) for path in files]
    try:
        return _replay(args, target, credentials, comparison, config, refusal, cassettes)
    except RetapeError as exc:  # a library's words may quote what was sent
        raise RetapeError(credentials.scrub(str(exc))) from None


def _replay(
    args: argparse.Namespace,
    target: Target,
    credentials: Credentials,
    comparison: Comparison,
    config: ReplayConfig,
    refusal: frozenset[int],
    cassettes: list[CassetteStream],
) -> int:
    import asyncio
    import time

    from retape.replayer.engine import replay_cassettes
    from retape.replayer.noise.learning import NoiseBaseline, NoiseLearner
    from retape.replayer.report.outputs import RunReports
    from retape.replayer.report.text import TextReport

    rules = cassette_rules(cassettes, config, args.ignore, args.shape)
    learner = None
    if args.learn_noise:
        learner = NoiseLearner(
            NoiseBaseline(args.noise_baseline),
            messages_for=rules.messages_for,
            base_rules=rules.base,
        )

    report = TextReport(deep=comparison.deep)
    report.start(
        cassettes=len(cassettes),
        interactions=sum(c.count for c in cassettes),
        target=str(target),
    )
    started = time.monotonic()
    with RunReports(
        report,
        json=args.json,
        junit=args.junit,
        jsonl=args.jsonl,
        keep_failures=bool(args.markdown),
    ) as reports:
        with _guarded_rows(args, reports, started) as on_result:
            asyncio.run(
                replay_cassettes(
                    cassettes,
                    target,
                    credentials,
                    timeout=args.timeout,
                    on_result=on_result,
                    comparison=comparison,
                    config=replace(config, refusal=refusal),
                    auth_matrix=args.auth_matrix,
                    rules_for=rules.rules_for,
                    messages_for=rules.messages_for,
                    learner=learner,
                    deadline=args.deadline,
                    pacing=_pacing(args),
                )
            )
        summary = reports.summary(duration=time.monotonic() - started)
        if learner is not None:
            _save_noise(learner, report)
        report.summary(summary)
        reports.write(summary)
    if args.markdown:
        _write_markdown(
            args.markdown, reports.failures, summary, cassettes, str(target), credentials
        )
    return 0 if summary.all_passed else 1


def _save_noise(learner: NoiseLearner, report: TextReport) -> None:
    """Write what was learned, and say what was not (a whole body never becomes ``$``)."""
    for path, count, dropped in learner.save():
        line = f"learned {count} noise rule{'s' if count != 1 else ''}"
        if dropped:
            line += f", dropped {dropped} no longer needed"
        report.note(f"{line} -> {path}")
    for cassette, ident, difference in learner.not_learned:
        report.note(
            f"not learned: {cassette} #{ident} {difference.aspect} differs as a whole "
            '(to accept any value, add ignore = ["$"] under '
            f"[interactions.{ident}] of its .noise.toml)"
        )


def _write_markdown(
    path: str,
    failures: Sequence[Result],
    summary: Summary,
    cassettes: Sequence[CassetteStream],
    target: str,
    credentials: Credentials,
) -> None:
    """The report of the failing rows; their interactions are read again from the files."""
    from retape.replayer.report.markdown import render_markdown, write_markdown

    from retape.cassette.errors import RetapeError
    from retape.cassette.model import Cassette

    wanted: dict[str, set[int]] = {}
    for row in failures:
        wanted.setdefault(row.cassette, set()).add(row.id)
    shown = [
        Cassette(c.recording, [i for i in c if i.id in wanted[c.path]], c.path)
        for c in cassettes
        if c.path in wanted
    ]
    text = render_markdown(
        failures, summary, cassettes=shown, target=target, credentials=credentials
    )
    try:
        write_markdown(path, text)
    except OSError as exc:
        raise RetapeError(f"--markdown {path}: cannot write: {exc.strerror or exc}") from None
