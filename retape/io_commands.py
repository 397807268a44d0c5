"""``retape import``, ``retape export`` and ``retape serve``: traffic in and out of cassettes.

One builder per subcommand; the work is done in :mod:`retape.convert` (formats) and
:mod:`retape.serve` (the mock server), imported when the command runs so ``retape
--help`` stays cheap and a base install without mitmproxy still starts.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from retape.common.errors import ExitStatus, RetapeError
from retape.rule_flags import add_rule_arguments, rules_from_args


def _import(args: argparse.Namespace) -> int:
    from retape.convert.flows_import import read_flows
    from retape.convert.har_import import read_har
    from retape.convert.pipeline import build_cassette, read_all, write_cassette

    rules = rules_from_args(args)
    imported = read_all(args.files, readers={"har": read_har, "flows": read_flows})
    cassette = build_cassette(imported, rules, origin=args.origin)
    write_cassette(cassette, args.out, force=args.force)
    websockets = sum(1 for i in cassette.interactions if i.type == "websocket")
    print(
        f"imported {len(cassette.interactions)} interaction(s) ({websockets} websocket) "
        f"from {len(args.files)} file(s) into {args.out}"
    )
    return ExitStatus.OK


def _export(args: argparse.Namespace) -> int:
    from retape.cassette.load import load_cassette

    if not (args.har or args.flows):
        raise RetapeError("export: say where to: --har OUT and/or --flows OUT")
    cassettes = [load_cassette(path) for path in args.cassettes]
    if args.har:
        from retape.convert.har_export import write_har

        count = write_har(cassettes, args.har)
        print(f"exported {count} entr{'y' if count == 1 else 'ies'} to {args.har}")
    if args.flows:
        from retape.convert.flows_export import write_flows

        count = write_flows(cassettes, args.flows)
        print(f"exported {count} flow(s) to {args.flows}")
    return ExitStatus.OK


def _serve(args: argparse.Namespace) -> int:
    from retape.serve.run import serve

    return serve(args)


def _add_import(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "import",
        help="turn HAR files and mitmproxy flow files into a cassette",
        description="Import HAR 1.2 files (Chrome, Firefox, mitmproxy's hardump; websocket "
        "messages included) and mitmproxy flow files (mitmdump -w), detected by content, "
        "into one cassette. Every interaction is redacted like a live recording; URLs "
        "become paths and the server is kept as information only.",
    )
    parser.add_argument("files", nargs="+", metavar="FILE", help="HAR or flow files")
    parser.add_argument("--out", type=Path, required=True, metavar="CASSETTE")
    parser.add_argument("--force", action="store_true", help="replace --out if it exists")
    parser.add_argument(
        "--origin",
        metavar="URL",
        help="keep only exchanges sent to this origin (scheme://host[:port]), e.g. when a "
        "browser HAR holds CDN and analytics traffic too",
    )
    add_rule_arguments(parser)
    parser.set_defaults(handler=_import)


def _add_export(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "export",
        help="write cassettes as a HAR file or a mitmproxy flow file",
        description="Export cassettes as HAR 1.2 (websocket messages in _webSocketMessages, "
        "as Chrome writes them) and/or as a mitmproxy flow file (mitmproxy -r). "
        "Placeholders stay placeholders: an export holds no more than the cassette.",
    )
    parser.add_argument("cassettes", nargs="+", metavar="CASSETTE")
    parser.add_argument("--har", type=Path, metavar="OUT", help="write a HAR file")
    parser.add_argument("--flows", type=Path, metavar="OUT", help="write a mitmproxy flow file")
    parser.set_defaults(handler=_export)


def _add_serve(sub: argparse._SubParsersAction) -> None:
    from retape.serve.options import add_arguments

    parser = sub.add_parser(
        "serve",
        help="a mock server answering from cassettes (HTTP, SSE, websockets)",
        description="Serve the recorded server's half of cassettes on HOST:PORT: recorded "
        "statuses, headers and bodies, streams with their pacing, websocket sessions turn "
        "by turn. Never forwards anywhere. A request that matches nothing gets a 404 "
        "naming the closest recorded interaction; Ctrl-C or SIGTERM prints a summary.",
    )
    add_arguments(parser)
    parser.set_defaults(handler=_serve)


def add_parsers(sub: argparse._SubParsersAction) -> None:
    _add_import(sub)
    _add_export(sub)
    _add_serve(sub)
