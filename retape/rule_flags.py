"""Command-line options for redaction rules, shared by ``record``, ``redact`` and ``scan``.

Kept apart from :mod:`cassette.rules` so the rules stay usable without argparse.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from retape.cassette.rules import Rules, load_rules

# flag, the Rules.extended() keyword it feeds, metavar, help. Each flag is repeatable.
RULE_FLAGS = (
    ("--redact-header", "headers", "NAME", "treat this header as a credential"),
    ("--redact-field", "fields", "NAME", "redact this JSON/form field at any depth"),
    ("--redact-query", "query", "NAME", "redact this query parameter"),
    ("--redact-pattern", "patterns", "REGEX", "redact text matching this regular expression"),
    ("--allow", "allow", "REGEX", "never redact a value matching this (a known false positive)"),
)


def add_rule_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group(
        "redaction rules",
        "Added to the defaults and to [tool.retape.redact] in the nearest pyproject.toml "
        "(see docs/security.md).",
    )
    for flag, keyword, metavar, what in RULE_FLAGS:
        group.add_argument(
            flag, action="append", default=[], dest=f"rule_{keyword}", metavar=metavar,
            help=f"{what} (repeatable)",
        )  # fmt: skip
    group.add_argument(
        "--config", type=Path, default=None, metavar="PYPROJECT",
        help="read [tool.retape.redact] from this file instead of the nearest pyproject.toml",
    )  # fmt: skip


def rule_values(args: argparse.Namespace) -> dict[str, Any]:
    """The rule flags' values, keyed by the Rules.extended() keyword they feed."""
    return {keyword: getattr(args, f"rule_{keyword}") for _, keyword, _, _ in RULE_FLAGS}


def rules_from_args(args: argparse.Namespace) -> Rules:
    return load_rules(args.config).extended(**rule_values(args))
