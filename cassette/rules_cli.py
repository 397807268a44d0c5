"""Command-line options for redaction rules, shared by ``record``, ``redact`` and ``scan``.

Kept apart from :mod:`cassette.rules` so the rules stay usable without argparse.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from cassette.rules import Rules, load_rules


def add_rule_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group(
        "redaction rules",
        "Added to the defaults and to [tool.retape.redact] in the nearest pyproject.toml "
        "(see docs/security.md).",
    )
    group.add_argument(
        "--redact-header", action="append", default=[], metavar="NAME",
        help="treat this header as a credential (repeatable)",
    )  # fmt: skip
    group.add_argument(
        "--redact-field", action="append", default=[], metavar="NAME",
        help="redact this JSON/form field at any depth (repeatable)",
    )  # fmt: skip
    group.add_argument(
        "--redact-query", action="append", default=[], metavar="NAME",
        help="redact this query parameter (repeatable)",
    )  # fmt: skip
    group.add_argument(
        "--redact-pattern", action="append", default=[], metavar="REGEX",
        help="redact text matching this regular expression (repeatable)",
    )  # fmt: skip
    group.add_argument(
        "--allow", action="append", default=[], metavar="REGEX",
        help="never redact a value matching this (a known false positive; repeatable)",
    )  # fmt: skip
    group.add_argument(
        "--config", type=Path, default=None, metavar="PYPROJECT",
        help="read [tool.retape.redact] from this file instead of the nearest pyproject.toml",
    )  # fmt: skip


def rules_from_args(args: argparse.Namespace) -> Rules:
    return load_rules(args.config).extended(
        headers=args.redact_header,
        fields=args.redact_field,
        query=args.redact_query,
        patterns=args.redact_pattern,
        allow=args.allow,
    )
