"""The ``retape record`` subcommand's arguments.

Importing this module must stay cheap (``retape --help``, ``retape replay``): mitmproxy
is only imported, through :mod:`recorder.run`, when a recording actually starts.
"""

from __future__ import annotations

import argparse
import importlib.util
import re

from retape.recorder.capture import DEFAULT_MAX_BODY

from retape.common.errors import RetapeError
from retape.rule_flags import add_rule_arguments, rule_values, rules_from_args

_SIZE = re.compile(r"^\s*(\d+)\s*(k|ki|kib|m|mi|mib|g|gi|gib)?\s*$", re.IGNORECASE)
_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30}


def byte_size(text: str) -> int:
    """``10485760``, ``512k``, ``10MiB``, ``1g`` → bytes (binary units)."""
    match = _SIZE.match(text)
    if not match:
        raise argparse.ArgumentTypeError(
            f"expected a size in bytes such as 10485760, 512k or 10MiB, got {text!r}"
        )
    unit = (match.group(2) or "")[:1].lower()
    return int(match.group(1)) * _UNITS[unit]


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "record",
        help="record real traffic through a reverse proxy into a cassette",
        description="Run a reverse proxy in front of UPSTREAM and append every completed "
        "HTTP exchange and WebSocket session to a cassette, credentials redacted. "
        "Point clients at --listen; stop with Ctrl-C or SIGTERM.",
    )
    parser.add_argument(
        "--upstream",
        required=True,
        metavar="URL",
        help="the real server: http://HOST[:PORT] or https://HOST[:PORT]",
    )
    parser.add_argument(
        "--listen",
        default="127.0.0.1:8080",
        metavar="HOST:PORT",
        help="where clients connect, plain HTTP or TLS (default: %(default)s)",
    )
    parser.add_argument(
        "--out",
        required=True,
        metavar="FILE",
        help="cassette to write; an existing cassette is appended to",
    )
    parser.add_argument(
        "--upstream-insecure",
        action="store_true",
        help="do not verify the upstream's TLS certificate (self-signed test servers)",
    )
    parser.add_argument(
        "--upstream-ca-file",
        metavar="FILE",
        help="PEM file of CA certificates to verify the upstream's TLS certificate with "
        "(a private or test CA), instead of the usual public CAs (certifi's bundle)",
    )
    parser.add_argument(
        "--max-body-size",
        type=byte_size,
        default=DEFAULT_MAX_BODY,
        metavar="BYTES",
        help="record bodies larger than this (as sent or decoded) as a note of their size "
        "and sha256, keeping memory flat; units k, m, g allowed (default: 10MiB)",
    )
    parser.add_argument(
        "--durable",
        action="store_true",
        help="fsync after every interaction: survives a machine crash, costs a disk flush each",
    )
    parser.add_argument(
        "--quiet", "-q", action="store_true", help="print only errors, no start/end lines"
    )
    add_rule_arguments(parser)
    parser.set_defaults(handler=_run)


def _require_mitmproxy() -> None:
    """The proxy is an extra: replay-only installs (CI) never carry it."""
    if importlib.util.find_spec("mitmproxy") is None:
        raise RetapeError(
            "retape record needs mitmproxy, which this install lacks: "
            "pip install 'retape[record]' (or pipx install 'retape[record]')"
        )


def _run(args: argparse.Namespace) -> int:
    _require_mitmproxy()
    from retape.recorder.run import record

    rules_from_args(args)  # a bad regex or config is reported before the proxy starts

    return record(
        upstream=args.upstream,
        listen=args.listen,
        out=args.out,
        upstream_insecure=args.upstream_insecure,
        upstream_ca_file=args.upstream_ca_file,
        max_body=args.max_body_size,
        redaction={
            **{f"retape_redact_{k}": v for k, v in rule_values(args).items()},
            "retape_redact_config": str(args.config or ""),
        },
        durable=args.durable,
        quiet=args.quiet,
    )
