"""The ``retape`` command: one parser per subcommand, errors turned into exit codes.

Exit codes are a contract (see README), :class:`~retape.common.errors.ExitStatus`: 0
everything matched, 1 at least one interaction did not, 2 a usage error, an unreadable
or invalid cassette, or an unreachable target, reported as one line on stderr without a
traceback. 130 on Ctrl-C.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from typing import NoReturn

from retape import __version__, cassette_commands, io_commands
from retape.common.errors import ExitStatus, RetapeError
from retape.recorder import cli as recorder_cli
from retape.replayer import cli as replayer_cli
from retape.replayer.locust import cli as locust_cli


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (and still exit code 2)."""

    def error(self, message: str) -> NoReturn:
        self.exit(ExitStatus.USAGE, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _log_warnings_to_stderr() -> None:
    """Warnings from the library (a dropped torn interaction) as ``retape: warning: ...``."""
    logger = logging.getLogger("retape")
    if not any(isinstance(h, _StderrHandler) for h in logger.handlers):
        logger.addHandler(_StderrHandler())
        logger.propagate = False


class _StderrHandler(logging.Handler):
    """Writes to whatever ``sys.stderr`` is at the time (tests redirect it)."""

    def emit(self, record: logging.LogRecord) -> None:
        print(f"retape: warning: {record.getMessage()}", file=sys.stderr)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="retape",
        description="Record real HTTP + WebSocket traffic into YAML cassettes; "
        "replay them against a target with auth on and fail on regressions.",
    )
    parser.add_argument("--version", action="version", version=f"retape {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    sub._parser_class = _Parser  # subcommands report usage errors the same way
    recorder_cli.add_parser(sub)
    replayer_cli.add_parser(sub)
    locust_cli.add_parser(sub)
    cassette_commands.add_parsers(sub)
    io_commands.add_parsers(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra and not getattr(args, "passthrough", False):  # only `retape locust` passes any on
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    args.passthrough_args = extra
    _log_warnings_to_stderr()
    try:
        return int(args.handler(args))
    except RetapeError as exc:
        print(f"retape: {exc}", file=sys.stderr)
        return ExitStatus.USAGE
    except KeyboardInterrupt:
        print("retape: interrupted", file=sys.stderr)
        return ExitStatus.INTERRUPTED
