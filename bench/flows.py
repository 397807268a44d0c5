"""A mitmproxy flow file holding a cassette's HTTP requests, for ``mitmdump -C``.

``python -m bench.flows --cassette F --target http://127.0.0.1:N --out F.mitm`` writes
one flow per HTTP interaction, with the same method, path, headers and body the bare
aiohttp baseline sends, aimed at the benchmark server.
"""

from __future__ import annotations

import argparse
import time
from urllib.parse import urlsplit

from mitmproxy import connection, http, io

from bench.clients import _http_requests


def write_flows(cassette: str, target: str, out: str) -> int:
    parts = urlsplit(target)
    address = (parts.hostname or "127.0.0.1", parts.port or 80)
    count = 0
    with open(out, "wb") as handle:
        writer = io.FlowWriter(handle)
        for method, url, headers, body in _http_requests(cassette, target):
            client = connection.Client(
                peername=("127.0.0.1", 1), sockname=("127.0.0.1", 2), timestamp_start=time.time()
            )
            flow = http.HTTPFlow(client, connection.Server(address=address))
            request = http.Request.make(method, url, body or b"", dict(headers))
            request.headers["host"] = parts.netloc
            flow.request = request
            writer.add(flow)
            count += 1
    return count


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.flows")
    parser.add_argument("--cassette", required=True)
    parser.add_argument("--target", required=True)
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    print(write_flows(args.cassette, args.target, args.out))


if __name__ == "__main__":
    main()
