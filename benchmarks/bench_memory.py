"""Benchmark (not a test): peak memory and time of the default scorer by document length.

Each size runs in a fresh Python process (so its peak resident memory is its own): it
loads the default scorer, then compresses a synthetic document of N pages (~3,600
characters each, the page size of the 20 MB text file that once took 8 minutes and 5.6 GB
at 1,000 pages; sentences drawn with a fixed seed from the example prior-authorization
record) against a few criteria, with the default policy and tiktoken counting. Reported:
the process's peak RSS (``ru_maxrss``), the RSS once the scorer is loaded, and the time of
``Compressor.compress``.

    python benchmarks/bench_memory.py [--pages 150 1000 5000] [--criteria 5]
"""

from __future__ import annotations

import argparse
import json
import random
import re
import resource
import subprocess
import sys
import time
from pathlib import Path

RECORD = Path(__file__).resolve().parents[1] / "examples" / "prior_auth" / "record.txt"
PAGE_CHARS = 3600
QUESTIONS = [
    "Was TB screening negative within 12 months?",
    "Is a failed trial of methotrexate documented?",
    "What is the patient's diagnosis?",
    "Which biologic is requested, at what dose?",
    "What was the most recent CRP level?",
    "Is there a documented contraindication to TNF inhibitors?",
    "Who is the prescribing physician?",
    "Was hepatitis B screening done?",
]


def make_pages(n: int, seed: int = 11) -> list[str]:
    text = RECORD.read_text("utf-8")
    sentences = [s.strip() for s in re.split(r"(?<=[.!?])\s+|\n+", text) if len(s.strip()) > 20]
    rng = random.Random(seed)
    pages = []
    for i in range(n):
        parts: list[str] = [f"Page {i + 1}."]
        while sum(len(p) + 1 for p in parts) < PAGE_CHARS:
            parts.append(rng.choice(sentences))
        pages.append(" ".join(parts))
    return pages


def rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def child(n_pages: int, n_criteria: int) -> None:
    from ctxcompress import Compressor, Criterion, load_scorer

    pages = make_pages(n_pages)
    criteria = [Criterion(f"c{i}", q) for i, q in enumerate(QUESTIONS[:n_criteria])]
    scorer = load_scorer("default")
    compressor = Compressor(scorer)
    loaded = rss_mb()
    started = time.perf_counter()
    result = compressor.compress(pages, criteria)
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        json.dumps(
            {
                "pages": n_pages,
                "criteria": n_criteria,
                "chars": sum(len(p) for p in pages),
                "seconds": round(seconds, 1),
                "pages_per_s": round(n_pages / seconds, 1),
                "rss_loaded_mb": round(loaded),
                "peak_rss_mb": round(peak),
                "kept": len(result.union.pages),
            }
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, nargs="+", default=[150, 1000, 5000])
    parser.add_argument("--criteria", type=int, default=5)
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.criteria)
        return
    print("| pages | characters | criteria | time | pages/s | RSS, scorer loaded | peak RSS |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for n in args.pages:
        out = subprocess.run(
            [sys.executable, __file__, "--child", str(n), "--criteria", str(args.criteria)],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        r = json.loads(out.strip().splitlines()[-1])
        print(
            f"| {r['pages']:,} | {r['chars']:,} | {r['criteria']} | {r['seconds']} s | "
            f"{r['pages_per_s']} | {r['rss_loaded_mb']} MB | {r['peak_rss_mb']} MB |",
            flush=True,
        )


if __name__ == "__main__":
    main()
