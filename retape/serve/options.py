"""``retape serve``'s command line, apart from the server so that building the CLI's
parser does not import aiohttp's web server (a quarter of a second at every start)."""

from __future__ import annotations

import argparse

__all__ = ["add_arguments"]


def _listen(value: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, got {value!r}")
    return host.strip("[]") or "127.0.0.1", int(port)


def _speed(value: str) -> float:
    try:
        speed = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {value!r}") from None
    if not speed >= 0:
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {value!r}")
    return speed


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("cassettes", nargs="+", metavar="CASSETTE", help="files or folders")
    parser.add_argument(
        "--listen", type=_listen, default=("127.0.0.1", 8080), metavar="HOST:PORT",
        help="where to listen (default 127.0.0.1:8080)",
    )  # fmt: skip
    parser.add_argument(
        "--speed", type=_speed, default=1.0, metavar="F",
        help="play streams and websocket turns F times faster than recorded "
        "(default 1 = recorded pacing; 0 = no waiting)",
    )  # fmt: skip
    parser.add_argument(
        "--strict", action="store_true",
        help="exit 1 if any request matched nothing or any interaction was never used",
    )  # fmt: skip
