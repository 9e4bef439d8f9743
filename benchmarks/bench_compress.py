"""Benchmark (not a test): the 150-page x 80-criteria case through the whole compressor.

Builds a synthetic document (150 pages of ~2,000 characters from a fixed vocabulary, seeded)
and 80 criteria, then times `Compressor.compress` end to end with a scorer (BM25 by
default) and tiktoken counting: scoring 12,000 pairs, policies, the union context. Each run
builds a fresh scorer before the clock starts, so model scorers start with empty caches
(every page is embedded in every run); `--warm` keeps one scorer, so later runs find the
page embeddings cached, as a second set of criteria on the same document would.

    python benchmarks/bench_compress.py [--repeat 5] [--scorer default] [--warm]
"""

from __future__ import annotations

import argparse
import random
import statistics
import time

from ctxcompress import Compressor, Criterion, Hybrid, load_scorer


def make_case(
    n_pages: int = 150, n_criteria: int = 80, seed: int = 7
) -> tuple[list[str], list[Criterion]]:
    rng = random.Random(seed)
    vocab = [f"term{i}" for i in range(5000)]
    pages = [" ".join(rng.choices(vocab, k=330)) for _ in range(n_pages)]
    criteria = [
        Criterion(id=f"q{i}", text="Is there " + " ".join(rng.choices(vocab, k=12)) + "?")
        for i in range(n_criteria)
    ]
    return pages, criteria


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--scorer", default="bm25", help="a load_scorer spec (default: bm25)")
    parser.add_argument("--warm", action="store_true", help="reuse one scorer across runs")
    args = parser.parse_args()
    pages, criteria = make_case()
    policy = Hybrid(top_k=5, threshold=0.1, max_tokens=4000)
    compressor = Compressor(args.scorer, policy)
    compressor.compress(pages[:2], criteria[:2])  # warm-up: tiktoken load, imports, sessions
    times = []
    for _ in range(args.repeat):
        if not args.warm:
            compressor = Compressor(load_scorer(args.scorer), policy)
        start = time.perf_counter()
        result = compressor.compress(pages, criteria)
        times.append(time.perf_counter() - start)
    pairs = len(pages) * len(criteria)
    med = statistics.median(times)
    print(f"{len(pages)} pages x {len(criteria)} criteria = {pairs} pairs, scorer {result.scorer}")
    print(
        f"median {med:.3f} s over {args.repeat} runs ({pairs / med:,.0f} pairs/s); "
        f"min {min(times):.3f} s, max {max(times):.3f} s"
    )


if __name__ == "__main__":
    main()
