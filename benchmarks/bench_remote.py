"""Benchmark (not a test): a remote rerank job against a local server with 100 ms latency.

80 criteria x 150 pages (~2,000 characters each) = 12,000 pairs through RemoteScorer
(zeroentropy wire format; one request per criterion), sync and async, at concurrency 16.
The server runs in its own process (tests/rerank_server.py) so the client's CPU time is
measured alone. Reports wall time against the ideal schedule
ceil(requests / concurrency) x latency, and the client's CPU time per request.

--floor adds a bare asyncio client (bodies encoded before the clock starts, no validation,
no retries): what this server, kernel and machine cost with next to no client at all.

    python benchmarks/bench_remote.py [--latency 0.1] [--concurrency 16] [--repeat 3] [--pin] [--floor]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import random
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import anyio

from ctxcompress import AsyncRemoteScorer, Criterion, RemoteScorer

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.rerank_server import KEY  # noqa: E402  (the local server accepts only this key)


def make_job() -> tuple[list[Criterion], list[str]]:
    rng = random.Random(3)
    words = [f"w{i}" for i in range(3000)]
    pages = [" ".join(rng.choices(words, k=330)) for _ in range(150)]
    criteria = [Criterion(f"q{i}", f"Is there evidence of {rng.choice(words)}?") for i in range(80)]
    return criteria, pages


async def bare_client_job(
    base_url: str, queries: list[str], pages: list[str], concurrency: int
) -> tuple[float, float]:
    """The floor: pre-encoded HTTP/1.1 requests on raw asyncio streams; returns (wall, cpu)."""
    host, port = base_url.split("//")[1].split(":")
    wire = []
    for query in queries:
        body = json.dumps({"model": "zerank-2", "query": query, "documents": pages}).encode()
        head = (
            f"POST /v1/models/rerank HTTP/1.1\r\nHost: {host}:{port}\r\n"
            f"Authorization: Bearer {KEY}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        ).encode()
        wire.append(head + body)
    streams = [await asyncio.open_connection(host, int(port)) for _ in range(concurrency)]

    async def worker(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, todo: Iterator[bytes]
    ) -> None:
        for request in todo:
            writer.write(request)
            await writer.drain()
            head = await reader.readuntil(b"\r\n\r\n")
            length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
            json.loads(await reader.readexactly(length))

    timings = []
    for _ in range(2):  # the first run warms the connections up
        todo = iter(wire)
        start_wall, start_cpu = time.perf_counter(), time.process_time()
        await asyncio.gather(*(worker(r, w, todo) for r, w in streams))
        timings.append((time.perf_counter() - start_wall, time.process_time() - start_cpu))
    for _, writer in streams:
        writer.close()
    return timings[-1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency", type=float, default=0.1)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--pin",
        action="store_true",
        help="run the client on CPU 0 and the server on CPU 1 (Linux), so the server's own "
        "CPU time does not slow the client it is measuring",
    )
    parser.add_argument(
        "--floor", action="store_true", help="also time a bare asyncio client (see above)"
    )
    args = parser.parse_args()
    pin_server = None
    if args.pin:
        os.sched_setaffinity(0, {0})

        def pin_server() -> None:
            os.sched_setaffinity(0, {1})

    server = subprocess.Popen(
        [sys.executable, "-m", "tests.rerank_server", "--latency", str(args.latency)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
        preexec_fn=pin_server,
    )
    try:
        assert server.stdout is not None
        base_url = server.stdout.readline().strip()
        criteria, pages = make_job()
        options = dict(api_key=KEY, base_url=base_url, concurrency=args.concurrency, timeout=30.0)
        requests = len(criteria)  # 150 pages fit one request per criterion
        ideal = math.ceil(requests / args.concurrency) * args.latency
        print(
            f"{len(criteria)} criteria x {len(pages)} pages = {len(criteria) * len(pages)} pairs, "
            f"{requests} requests, concurrency {args.concurrency}, latency {args.latency * 1000:.0f} ms"
        )
        print(
            f"ideal schedule: ceil({requests}/{args.concurrency}) x {args.latency * 1000:.0f} ms = {ideal:.3f} s"
        )

        sync_scorer = RemoteScorer("zeroentropy", **options)
        sync_scorer.score_batch(criteria[:16], pages)  # warm the connection pool

        # Each runner times one 80-criteria job: (wall seconds, client CPU seconds).
        def run_sync() -> tuple[float, float]:
            start_wall, start_cpu = time.perf_counter(), time.process_time()
            sync_scorer.score_batch(criteria, pages)
            return time.perf_counter() - start_wall, time.process_time() - start_cpu

        async def async_job() -> tuple[float, float]:
            async with AsyncRemoteScorer("zeroentropy", **options) as scorer:
                await scorer.ascore_batch(criteria[:16], pages)  # warm-up
                start_wall, start_cpu = time.perf_counter(), time.process_time()
                await scorer.ascore_batch(criteria, pages)
                return time.perf_counter() - start_wall, time.process_time() - start_cpu

        def run_async() -> tuple[float, float]:
            return anyio.run(async_job)

        def run_floor() -> tuple[float, float]:
            queries = [c.text for c in criteria]
            return asyncio.run(bare_client_job(base_url, queries, pages, args.concurrency))

        runners = [("sync (threads)", run_sync), ("async (anyio workers)", run_async)]
        if args.floor:
            runners.append(("floor (bare asyncio client)", run_floor))
        for label, runner in runners:
            timings = [runner() for _ in range(args.repeat)]
            wall = statistics.median(t[0] for t in timings)
            cpu = statistics.median(t[1] for t in timings)
            print(
                f"{label}: wall {wall:.3f} s median of {args.repeat} "
                f"({(wall / ideal - 1) * 100:+.1f}% vs ideal); client CPU {cpu * 1000 / requests:.2f} ms/request"
            )
        sync_scorer.close()
    finally:
        server.terminate()
        server.wait()


if __name__ == "__main__":
    main()
