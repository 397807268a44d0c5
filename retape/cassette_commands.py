"""``retape validate``, ``scan``, ``redact`` and ``correlate``: commands on cassette files."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from retape.cassette.correlate import attach_correlations, describe, infer_correlations
from retape.cassette.dump import dump_cassette
from retape.cassette.load import find_cassettes, load_cassette, load_text, read_text
from retape.cassette.redact import Redactor
from retape.cassette.scan import scan_data
from retape.common.errors import ExitStatus, RetapeError
from retape.common.files import write_atomically
from retape.rule_flags import add_rule_arguments, rules_from_args


def _cassettes(paths: list[str]) -> list[Path]:
    files = find_cassettes(paths)
    if not files:
        raise RetapeError(f"no cassettes (*.yaml, *.yml) found in {' '.join(paths)}")
    return files


def _validate(args: argparse.Namespace) -> int:
    for path in _cassettes(args.paths):
        cassette = load_cassette(path)
        print(f"ok    {path}  ({len(cassette.interactions)} interactions)")
    return ExitStatus.OK


def _scan(args: argparse.Namespace) -> int:
    rules = rules_from_args(args)
    files = _cassettes(args.paths)
    findings = 0
    for path in files:
        data, text = load_text(read_text(path), path=str(path))
        for finding in scan_data(data, path=str(path), text=text, rules=rules):
            print(finding)
            findings += 1
    if findings:
        print(f"{findings} possible secret(s) in {len(files)} cassette(s)", file=sys.stderr)
        return ExitStatus.FAILED
    print(f"clean: {len(files)} cassette(s), nothing that looks like a secret")
    return ExitStatus.OK


def _redact(args: argparse.Namespace) -> int:
    rules = rules_from_args(args)
    files = _cassettes(args.paths)
    cassettes = [(path, load_cassette(path)) for path in files]  # all valid before any write
    for path, cassette in cassettes:
        before = read_text(path)
        redactor = Redactor.continuing(rules, before)
        for interaction in cassette.interactions:  # learn the whole file first, as scan does
            redactor.interaction(interaction)
        original = [i.to_data() for i in cassette.interactions], cassette.recording.upstream
        cassette.interactions = [redactor.interaction(i) for i in cassette.interactions]
        cassette.recording.upstream = redactor.path(cassette.recording.upstream)
        if ([i.to_data() for i in cassette.interactions], cassette.recording.upstream) == original:
            print(f"clean     {path}")  # exactly when scan finds nothing
            continue
        write_atomically(path, dump_cassette(cassette))
        print(f"redacted  {path}  ({redactor.assigned} distinct secret(s) replaced)")
    return ExitStatus.OK


def _correlate(args: argparse.Namespace) -> int:
    files = _cassettes(args.paths)
    cassettes = [(path, load_cassette(path)) for path in files]  # all valid before any write
    for path, cassette in cassettes:
        before = read_text(path)
        found = infer_correlations(cassette.interactions)
        cassette.interactions = attach_correlations(cassette.interactions, found)
        uses = [c for i in cassette.interactions for c in i.uses]
        after = dump_cassette(cassette)
        if after != before:
            write_atomically(path, after)
        state = "updated" if after != before else "unchanged"
        noun = "correlation" if len(uses) == 1 else "correlations"
        print(f"{state:<9} {path}  ({len(uses)} {noun})")
        for correlation in uses:
            print(f"          {describe(correlation)}")
    return 0


def add_parsers(sub: argparse._SubParsersAction) -> None:
    validate = sub.add_parser(
        "validate",
        help="check cassettes against the format's JSON Schema",
        description="Check cassettes against the v1 JSON Schema; report the first problem "
        "in each as file:line: place: message (exit 2).",
    )
    validate.add_argument("paths", nargs="+", metavar="PATH", help="cassette files or folders")
    validate.set_defaults(handler=_validate)

    scan = sub.add_parser(
        "scan",
        help="report anything in cassettes that still looks like a secret",
        description="Report every value that looks like a secret (credential headers, token "
        "shapes, secret fields and query parameters) as file:line: interaction: place. "
        "Exit 1 if anything is found, 0 if clean: a CI guard for shared cassettes.",
    )
    scan.add_argument("paths", nargs="+", metavar="PATH", help="cassette files or folders")
    add_rule_arguments(scan)
    scan.set_defaults(handler=_scan)

    redact = sub.add_parser(
        "redact",
        help="apply the redaction rules to existing cassettes, in place",
        description="Apply the redaction rules to cassettes in place, atomically (a crash "
        "leaves the old file or the new one). Placeholders already present keep their numbers.",
    )
    redact.add_argument("paths", nargs="+", metavar="PATH", help="cassette files or folders")
    add_rule_arguments(redact)
    redact.set_defaults(handler=_redact)

    correlate = sub.add_parser(
        "correlate",
        help="find values the server minted that later requests send back (uses:), in place",
        description="Infer correlations for existing cassettes (recorded before retape knew "
        "them, or imported) and write them as 'uses:', in place, atomically; print each. "
        "Correlations already in a file are kept as they are (enabled: false included). "
        "See docs/replay.md, 'Stateful sessions'.",
    )
    correlate.add_argument("paths", nargs="+", metavar="PATH", help="cassette files or folders")
    correlate.set_defaults(handler=_correlate)
