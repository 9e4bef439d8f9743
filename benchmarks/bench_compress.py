"""Benchmark (not a test): the 150-page x 80-criteria case through the whole compressor.

Builds a synthetic document (150 pages of ~2,000 characters from a fixed vocabulary, seeded)
and 80 criteria, then times `Compressor.compress` end to end with a scorer (BM25 by
default) and tiktoken counting: scoring 12,000 pairs, policies, the union context. Each run
builds a fresh scorer before the clock starts, so model scorers start with empty caches
(every page is embedded in every run); `--warm` keeps one scorer, so later runs find the
page embeddings cached, as a second set of criteria on the same document would.
`--financebench ../shared/data/financebench` scores a real 151-page 10-K against the 58
FinanceBench questions instead. `--prune` times the same runs with passage pruning too
(`prune="passages"`, the default PassagePruner scored by the same scorer), interleaved
with plain runs so both see the same machine load, and prints what pruning adds
(`--cpu-time` counts the process's CPU seconds instead of wall time).
`--precisions fp32 int8` times the model scorer (the default's MiniLM) at each precision
instead, interleaved, and prints the speed-up.

    python benchmarks/bench_compress.py [--repeat 5] [--scorer default] [--warm] [--financebench DIR] [--prune]
    python benchmarks/bench_compress.py --scorer default --repeat 2 --financebench DIR --precisions fp32 int8
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import time
from pathlib import Path

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


def financebench_case(data: Path) -> tuple[list[str], list[Criterion]]:
    """A real filing (Johnson & Johnson's 2022 10-K, 151 pages) and all 58 FinanceBench
    questions as its criteria: real page and question lengths, unlike the synthetic case."""
    pages: list[str] = []
    with (data / "documents.jsonl").open(encoding="utf-8") as f:
        for line in f:
            doc = json.loads(line)
            if doc["doc_id"] == "JOHNSON_JOHNSON_2022_10K":
                pages = doc["pages"]
    with (data / "criteria.jsonl").open(encoding="utf-8") as f:
        criteria = [Criterion(id=c["id"], text=c["criterion"]) for c in map(json.loads, f)]
    return pages, criteria


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--scorer", default="bm25", help="a load_scorer spec (default: bm25)")
    parser.add_argument("--warm", action="store_true", help="reuse one scorer across runs")
    parser.add_argument(
        "--financebench",
        metavar="DIR",
        help="score a real 10-K from this FinanceBench folder instead of the synthetic case",
    )
    parser.add_argument(
        "--prune", action="store_true", help="also time passage pruning and print its cost"
    )
    parser.add_argument(
        "--cpu-time",
        action="store_true",
        help="time CPU seconds of this process (time.process_time) instead of wall time: "
        "steadier on a machine shared with other jobs",
    )
    parser.add_argument(
        "--precisions",
        nargs="+",
        choices=("fp32", "int8"),
        help="time the model scorer at each precision instead (interleaved; e.g. fp32 int8)",
    )
    args = parser.parse_args()
    pages, criteria = (
        financebench_case(Path(args.financebench)) if args.financebench else make_case()
    )
    policy = Hybrid(top_k=5, threshold=0.1, max_tokens=4000)
    variants = {"plain": None, "pruned": "passages"} if args.prune else {"plain": None}
    # Scorer options per variant: the precision comparison runs the plain compressor only.
    options: dict[str, dict[str, str]] = {name: {} for name in variants}
    if args.precisions:
        variants = {p: None for p in args.precisions}
        options = {p: {"precision": p} for p in args.precisions}
    compressors = {
        name: Compressor(load_scorer(args.scorer, **options[name]), policy, prune=prune)
        for name, prune in variants.items()
    }
    for compressor in compressors.values():  # warm-up: tiktoken load, imports, sessions
        compressor.compress(pages[:2], criteria[:2])
    times: dict[str, list[float]] = {name: [] for name in variants}
    clock = time.process_time if args.cpu_time else time.perf_counter
    for _ in range(args.repeat):
        for name, prune in variants.items():
            if not args.warm:
                scorer = load_scorer(args.scorer, **options[name])
                compressors[name] = Compressor(scorer, policy, prune=prune)
            start = clock()
            result = compressors[name].compress(pages, criteria)
            times[name].append(clock() - start)
    pairs = len(pages) * len(criteria)
    print(f"{len(pages)} pages x {len(criteria)} criteria = {pairs} pairs, scorer {result.scorer}")
    for name, runs in times.items():
        med = statistics.median(runs)
        print(
            f"{name}: median {med:.3f} s over {args.repeat} runs ({pairs / med:,.0f} pairs/s); "
            f"min {min(runs):.3f} s, max {max(runs):.3f} s"
        )
    if args.precisions and len(args.precisions) == 2:
        first, second = (times[p] for p in args.precisions)
        ratio = statistics.median(a / b for a, b in zip(first, second, strict=True))
        print(
            f"{args.precisions[1]} is {ratio:.2f}x as fast as {args.precisions[0]} (median per round)"
        )
    if args.prune:
        plain, pruned = (statistics.median(times[n]) for n in ("plain", "pruned"))
        what = "CPU time" if args.cpu_time else "wall time"
        print(f"pruning adds {pruned / plain - 1:+.1%} to the median {what}")


if __name__ == "__main__":
    main()
