"""CLI: `python -m demo --variant fixed --port 8000`; the API key comes only from the env."""

import argparse
import os
import signal
from types import FrameType

import uvicorn

from demo.app import create_app
from demo.auth import VARIANTS

DEFAULT_KEY_ENV = "RETAPE_DEMO_API_KEY"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m demo", description=__doc__)
    parser.add_argument("--variant", choices=VARIANTS, default="fixed")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument(
        "--api-key-env",
        default=DEFAULT_KEY_ENV,
        metavar="NAME",
        help="environment variable holding the API key (never pass keys in argv); "
        "unset or empty disables auth",
    )
    return parser.parse_args(argv)


def _exit_cleanly(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(0)


def main(argv: list[str] | None = None) -> None:
    """Run uvicorn until SIGTERM/SIGINT, then exit 0.

    Uvicorn shuts down gracefully on these signals and then re-raises them to the previous
    handler; installing ours first turns that into a clean exit instead of status 143/130.
    """
    args = parse_args(argv)
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, _exit_cleanly)
    api_key = os.environ.get(args.api_key_env) or None
    app = create_app(args.variant, api_key)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
