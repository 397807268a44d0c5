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
import dataclasses
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from retape.replayer.options import add_arguments

if TYPE_CHECKING:
    from retape.replayer.auth.credentials import Credentials
    from retape.replayer.compare.ignore import IgnoreRules
    from retape.replayer.compare.keys import MessageRules
    from retape.replayer.engine import Source
    from retape.replayer.noise.learning import NoiseLearner
    from retape.replayer.report.outputs import RunReports
    from retape.replayer.report.text import TextReport
    from retape.replayer.results import Result, Summary
    from retape.replayer.settings import Settings

    from retape.cassette.model import Interaction
    from retape.cassette.stream import CassetteStream


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
    add_arguments(parser)
    parser.set_defaults(handler=run)


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
    from retape.replayer.results import ErrorKind

    from retape.common.errors import RetapeError

    report = reports.text
    deadline_noted = False

    def on_result(result: Result) -> None:
        nonlocal deadline_noted
        if result.error_kind is ErrorKind.DEADLINE and not deadline_noted:
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


# -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CassetteRules:
    """Every rule source, read and parsed before any traffic so a typo costs nothing."""

    rules_for: Callable[[Source, Interaction], IgnoreRules]
    messages_for: Callable[[Source | None], MessageRules]
    base: IgnoreRules  # project-wide and command-line rules


def cassette_rules(
    cassettes: Sequence[Source], base: IgnoreRules, defaults: MessageRules
) -> CassetteRules:
    """Ignore rules per interaction and message rules per cassette (its ``.noise.toml``
    over ``[tool.retape.compare]``).

    Rules are cached per cassette, and per interaction only for the ids a noise file
    names, so the cache does not grow with the cassettes.
    """
    from retape.replayer.compare.ignore import IgnoreRules
    from retape.replayer.noise.file import noise_path, read_noise

    sidecars = {c.path: read_noise(noise_path(c.path), base=defaults) for c in cassettes if c.path}
    messages = {
        path: noise.message_rules(defaults, where=str(noise_path(path)))
        for path, noise in sidecars.items()
    }
    cache: dict[tuple[str | None, int | None], IgnoreRules] = {}

    def rules_for(cassette: Source, interaction: Interaction) -> IgnoreRules:
        noise = sidecars.get(cassette.path) if cassette.path else None
        named = noise is not None and interaction.id in noise.interactions
        key = (cassette.path, interaction.id if named else None)
        if key not in cache:
            own = noise.rules_for(interaction.id) if noise else IgnoreRules()
            cache[key] = base + own
        return cache[key]

    def messages_for(cassette: Source | None) -> MessageRules:
        path = cassette.path if cassette is not None else None
        return messages.get(path, defaults) if path is not None else defaults

    return CassetteRules(rules_for, messages_for, base)


def _rules_for(
    cassettes: Sequence[Source], base: IgnoreRules
) -> Callable[[Source, Interaction], IgnoreRules]:
    """The ignore rules alone, as ``retape locust`` applies them."""
    from retape.replayer.compare.keys import MessageRules

    return cassette_rules(cassettes, base, MessageRules()).rules_for


def run(args: argparse.Namespace) -> int:
    from retape.replayer.settings import check_writable, settings_from

    from retape.cassette.load import find_cassettes
    from retape.cassette.stream import open_cassette
    from retape.common.errors import RetapeError

    settings = settings_from(args)
    for flag in ("--json", "--junit", "--jsonl", "--markdown"):
        check_writable(flag, getattr(args, flag[2:]))
    files = find_cassettes(args.paths)
    if not files:
        raise RetapeError(f"no cassettes (*.yaml, *.yml) found in {' '.join(args.paths)}")
    # All valid before any traffic; each is read again, item by item, as the replay goes.
    cassettes = [open_cassette(path) for path in files]
    try:
        return _replay(args, settings, cassettes)
    except RetapeError as exc:  # a library's words may quote what was sent
        raise RetapeError(settings.credentials.scrub(str(exc))) from None


def _replay(args: argparse.Namespace, settings: Settings, cassettes: list[CassetteStream]) -> int:
    import time

    from retape.replayer import event_loop
    from retape.replayer.engine import replay_cassettes
    from retape.replayer.report.outputs import RunReports
    from retape.replayer.report.text import TextReport

    from retape.common.errors import ExitStatus

    rules = cassette_rules(cassettes, settings.ignore, settings.config.messages)
    learner = settings.learner(messages_for=rules.messages_for)
    target = settings.target
    report = TextReport(deep=settings.comparison.deep)
    report.start(
        cassettes=len(cassettes),
        interactions=sum(c.count for c in cassettes),
        target=str(target),
    )
    started = time.monotonic()
    left_behind: list[str] = []

    def on_left_behind(path: str, notes: list[str]) -> None:
        left_behind.extend(f"{path}: {note}" for note in notes)

    with RunReports(
        report,
        json=args.json,
        junit=args.junit,
        jsonl=args.jsonl,
        keep_failures=bool(args.markdown),
    ) as reports:
        with _guarded_rows(args, reports, started) as on_result:
            event_loop.run(
                replay_cassettes(
                    cassettes,
                    target,
                    settings.credentials,
                    timeout=settings.timeout,
                    on_result=on_result,
                    comparison=settings.comparison,
                    config=settings.config,
                    auth_matrix=settings.auth_matrix,
                    rules_for=rules.rules_for,
                    messages_for=rules.messages_for,
                    learner=learner,
                    deadline=settings.deadline,
                    pacing=settings.pacing,
                    on_left_behind=on_left_behind,
                )
            )
        summary = reports.summary(duration=time.monotonic() - started)
        summary = dataclasses.replace(summary, left_on_target=tuple(left_behind))
        for note in left_behind:
            report.note(note)
        if learner is not None:
            _save_noise(learner, report)
        report.summary(summary)
        reports.write(summary)
    if args.markdown:
        _write_markdown(
            args.markdown, reports.failures, summary, cassettes, str(target), settings.credentials
        )
    return ExitStatus.OK if summary.all_passed else ExitStatus.FAILED


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

    from retape.cassette.model import Cassette
    from retape.common.errors import RetapeError

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
