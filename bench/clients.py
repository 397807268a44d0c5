"""Baseline clients, run as their own processes; each prints one JSON line of timings.

``http``: a bare aiohttp loop sending a cassette's HTTP requests (same method, path,
headers and body retape sends) at a given concurrency. ``ws``: a bare ``websockets``
client walking a cassette's websocket sessions as retape does (send the client
messages, receive one message per server message), ``--concurrency`` at a time.
``load``: the recorder benchmark's load generator, N requests at bounded concurrency,
with per-request latency.
Loading the cassette is outside every timed section.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import time
from typing import Any

import aiohttp

from retape.cassette.load import load_cassette

# What retape does not send as recorded (replayer/http.py): hop-by-hop headers and the
# ones recomputed for the new target and body.
_DROP = frozenset(
    {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "trailer"}
    | {"upgrade", "host", "content-length", "content-encoding"}
)
_WS_MANAGED = _DROP | {
    "sec-websocket-key",
    "sec-websocket-version",
    "sec-websocket-extensions",
    "sec-websocket-protocol",
    "sec-websocket-accept",
}


def _headers(recorded: list[tuple[str, str]], carried: list[str], drop: frozenset[str]) -> list:
    token = os.environ.get("BENCH_TOKEN", "bench-token")
    kept = [(n, v) for n, v in recorded if n.lower() not in drop and n.lower() not in carried]
    return [*kept, ("Authorization", f"Bearer {token}")] if carried else kept


def _http_requests(path: str, target: str) -> list[tuple[str, str, list, bytes | None]]:
    cassette = load_cassette(path)
    prepared = []
    for interaction in cassette.interactions:
        if interaction.type != "http":
            continue
        request = interaction.request
        body = request.body.to_bytes() if request.body is not None else None
        headers = _headers(request.headers, request.credentials, _DROP)
        prepared.append((request.method, target + request.path, headers, body))
    return prepared


async def _run_http(path: str, target: str, concurrency: int) -> dict[str, Any]:
    prepared = _http_requests(path, target)
    queue = iter(prepared)
    errors = 0

    async def worker(session: aiohttp.ClientSession) -> None:
        nonlocal errors
        for method, url, headers, body in queue:
            async with session.request(method, url, headers=headers, data=body) as response:
                await response.read()
                errors += response.status >= 400

    timeout = aiohttp.ClientTimeout(total=30)
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        started = time.perf_counter()
        await asyncio.gather(*(worker(session) for _ in range(concurrency)))
        seconds = time.perf_counter() - started
    return {"count": len(prepared), "seconds": seconds, "errors": errors}


async def _run_ws(path: str, target: str, concurrency: int = 1) -> dict[str, Any]:
    from websockets.asyncio.client import connect

    cassette = load_cassette(path)
    base = "ws" + target.removeprefix("http")
    sessions = []
    for interaction in cassette.interactions:
        if interaction.type != "websocket" or not interaction.accepted:
            continue
        request = interaction.request
        headers = _headers(request.headers, request.credentials, _WS_MANAGED)
        walk = [(m.sender, m.payload()) for m in interaction.messages]
        sessions.append((base + request.path, headers, walk))
    messages = 0
    queue = iter(sessions)

    async def worker() -> None:
        nonlocal messages
        for url, headers, walk in queue:
            async with connect(
                url, additional_headers=headers, ping_interval=None, max_size=None, proxy=None
            ) as ws:
                for sender, payload in walk:
                    if sender == "client":
                        await ws.send(payload)
                    else:
                        await ws.recv()
                    messages += 1

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    seconds = time.perf_counter() - started
    return {"sessions": len(sessions), "messages": messages, "seconds": seconds}


CHAT_BODY = json.dumps(
    {
        "model": "demo-model",
        "messages": [{"role": "user", "content": "How fast is the recorder?"}],
        "max_tokens": 64,
    }
).encode()


async def _run_load(url: str, requests: int, concurrency: int, warmup: int) -> dict[str, Any]:
    latencies: list[float] = []
    errors = 0
    headers = {"content-type": "application/json", "authorization": "Bearer bench-token"}

    async def one(session: aiohttp.ClientSession, record: bool) -> None:
        nonlocal errors
        started = time.perf_counter()
        try:
            async with session.post(url, data=CHAT_BODY, headers=headers) as response:
                await response.read()
                failed = response.status != 200
        except (aiohttp.ClientError, TimeoutError):
            failed = True
        if record:
            latencies.append(time.perf_counter() - started)
            errors += failed

    async def worker(session: aiohttp.ClientSession, count: int, record: bool) -> None:
        for _ in range(count):
            await one(session, record)

    def split(total: int) -> list[int]:
        return [total // concurrency + (i < total % concurrency) for i in range(concurrency)]

    timeout = aiohttp.ClientTimeout(total=30)
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        await asyncio.gather(*(worker(session, n, False) for n in split(warmup)))
        started = time.perf_counter()
        await asyncio.gather(*(worker(session, n, True) for n in split(requests)))
        seconds = time.perf_counter() - started
    latencies.sort()
    return {
        "count": len(latencies),
        "seconds": seconds,
        "errors": errors,
        "p50_ms": latencies[len(latencies) // 2] * 1000,
        "p99_ms": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.clients")
    sub = parser.add_subparsers(dest="kind", required=True)
    http = sub.add_parser("http")
    http.add_argument("--cassette", required=True)
    http.add_argument("--target", required=True)
    http.add_argument("--concurrency", type=int, default=1)
    ws = sub.add_parser("ws")
    ws.add_argument("--cassette", required=True)
    ws.add_argument("--target", required=True)
    ws.add_argument("--concurrency", type=int, default=1)
    load = sub.add_parser("load")
    load.add_argument("--url", required=True)
    load.add_argument("--requests", type=int, required=True)
    load.add_argument("--concurrency", type=int, default=8)
    load.add_argument("--warmup", type=int, default=50)
    args = parser.parse_args(argv)
    if args.kind == "http":
        result = asyncio.run(_run_http(args.cassette, args.target, args.concurrency))
    elif args.kind == "ws":
        result = asyncio.run(_run_ws(args.cassette, args.target, args.concurrency))
    else:
        result = asyncio.run(_run_load(args.url, args.requests, args.concurrency, args.warmup))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
