"""``retape locust``: cassettes as a Locust load test, every Locust option as in Locust.

retape's own options (the cassettes, ``--target``, the credential flags, ``--timeout``,
``--speed``, ``--compare``, ``--ignore``, ``--overlap``, TLS) are read here; everything
else is handed to Locust's own ``main()`` unchanged, with ``-f`` pointing at the shipped
:mod:`retape.replayer.locust.locustfile` and the retape settings in ``RETAPE_LOCUST``
(:mod:`.settings`), so ``--headless``, ``-u``, ``-r``, ``-t``, ``--master``,
``--worker``, ``--expect-workers``, ``--csv``, ``--html``, the web UI and
``--exit-code-on-error`` behave exactly as Locust documents them, and the exit code is
Locust's. Only argparse is imported until the command runs: Locust monkey-patches the
process for gevent the moment it is imported. docs/scale.md has the distributed setup.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from retape.replayer.options import OPTIONS, add_arguments, positive

# The replay options that mean the same under Locust, taken from the one declaration so
# `retape locust` and `retape replay` cannot drift. The rest of replay's options concern a
# run that Locust shapes (users, rate, run time); --speed here is the think time's own.
_SHARED = frozenset(
    ("target", "timeout", "bearer-env", "header", "secret", "compare", "ignore", "ca-file")
) | {"insecure"}

# Locust options retape sets itself: the locustfile is ours, the target is --target.
_OWNED = {"-f": "-f/--locustfile", "--locustfile": "-f/--locustfile"}
_OWNED |= {"-H": "--host (use --target)", "--host": "--host (use --target)"}


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "locust",
        help="replay cassettes as a (distributed) Locust load test with retape's verdicts",
        description="Run Locust with a user class that replays whole recorded sessions "
        "(one cassette each, interactions in recorded order) against --target, with the "
        "same requests and verdicts as 'retape replay'. Every option not listed here goes "
        "to Locust unchanged (see 'locust --help'): --headless, -u, -r, -t, --master, "
        "--worker, --master-host, --expect-workers, --csv, --html, --exit-code-on-error. "
        "Name the cassettes first, or put Locust's options after '--'. See docs/scale.md.",
        allow_abbrev=False,  # a Locust option must never be read as an abbreviated retape one
    )
    parser.add_argument("paths", nargs="+", metavar="PATH", help="cassette files or directories")
    add_arguments(parser, [o for o in OPTIONS if o.name in _SHARED])
    replay = parser.add_argument_group("sessions")
    replay.add_argument(
        "--speed",
        type=positive(),
        metavar="F",
        help="keep each session's recorded think time, F times faster (default: back to back)",
    )
    replay.add_argument(
        "--overlap",
        action="store_true",
        help="let two users replay the same session at the same moment (default: a user "
        "waits for a session nobody is replaying)",
    )
    parser.set_defaults(handler=run, passthrough=True)


def locust_args(extra: list[str]) -> list[str]:
    """The options for Locust, after refusing the ones retape sets itself."""
    if extra[:1] == ["--"]:
        extra = extra[1:]
    from retape.common.errors import RetapeError

    for arg in extra:
        flag = arg.split("=", 1)[0]
        if flag in _OWNED:
            raise RetapeError(f"retape locust sets {_OWNED[flag]} itself")
    return extra


def run(args: argparse.Namespace) -> int:
    from retape.replayer.auth.credentials import credentials_from_args
    from retape.replayer.compare.aspects import parse_aspects
    from retape.replayer.compare.ignore import IgnoreRules
    from retape.replayer.locust.settings import Settings
    from retape.replayer.net.target import parse_target

    from retape.cassette.load import find_cassettes
    from retape.cassette.stream import open_cassette
    from retape.common.errors import RetapeError

    extra = locust_args(list(getattr(args, "passthrough_args", [])))
    # Everything checked before Locust starts: a usage error is one line and exit 2.
    parse_target(args.target, insecure=args.insecure, ca_file=args.ca_file)
    credentials_from_args(
        bearer_env=args.bearer_env, header_specs=args.headers, secret_specs=args.secrets
    )
    parse_aspects(args.compare)
    IgnoreRules.parse(args.ignore, where="--ignore")
    files = find_cassettes(args.paths)
    if not files:
        raise RetapeError(f"no cassettes (*.yaml, *.yml) found in {' '.join(args.paths)}")
    if "--worker" not in extra:  # a worker's master has checked the same files already
        for path in files:
            open_cassette(path)  # one validating pass each; users load them when due
    settings = Settings(
        paths=list(args.paths),
        target=args.target,
        bearer_env=args.bearer_env,
        headers=list(args.headers),
        secrets=list(args.secrets),
        timeout=args.timeout,
        speed=args.speed,
        compare=args.compare,
        ignore=list(args.ignore),
        overlap=args.overlap,
        ca_file=args.ca_file,
        insecure=args.insecure,
    )
    os.environ.update(settings.to_env())
    return run_locust(
        ["-f", str(Path(__file__).with_name("locustfile.py")), *extra, "--host", args.target]
    )


def run_locust(argv: list[str]) -> int:
    """Locust's own ``main()`` with ``argv``; its exit code."""
    import locust  # noqa: F401  (monkey-patches the process for gevent, first)
    from locust.main import main

    saved = sys.argv
    sys.argv = ["retape locust", *argv]
    try:
        main()
    except SystemExit as exc:
        code = exc.code
        return code if isinstance(code, int) else (0 if code is None else 1)
    finally:
        sys.argv = saved
    return 0
