"""Benchmark (not a test): ``ctxcompress batch``, local engine vs ray engine.

Writes N synthetic documents (pages cut from the 40-page prior-authorization record, so
real page lengths) and criteria (4 for every document, 1 of each document's own), then runs
the real CLI for each engine and scorer into a fresh output directory and reads the
documents/s and pairs/s of the run from its ``_manifest.json``. The ray engine's time
includes starting and stopping a local Ray and building each actor's scorer; a tiny job
(4 documents) measures that fixed overhead alone.

    python benchmarks/bench_batch.py [--docs 200] [--pages 10] [--scorers bm25,default]
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import tempfile
import time
from pathlib import Path

from ctxcompress._cli import main as cli

ROOT = Path(__file__).resolve().parents[1]
CRITERIA = [
    "Is there a documented diagnosis of moderate to severe rheumatoid arthritis?",
    "Is a failed trial of methotrexate documented?",
    "Was TB screening negative within 12 months?",
    "Is the prescriber a rheumatologist?",
]


def write_inputs(folder: Path, n_docs: int, n_pages: int) -> tuple[Path, Path, int]:
    text = (ROOT / "examples" / "prior_auth" / "record.txt").read_text(encoding="utf-8")
    pages = [p.strip() for p in re.split(r"^--- Page \d+ ---$", text, flags=re.M) if p.strip()]
    docs = folder / "documents.jsonl"
    crits = folder / "criteria.jsonl"
    with docs.open("w") as d, crits.open("w") as c:
        for i, q in enumerate(CRITERIA):
            c.write(json.dumps({"id": f"q{i}", "criterion": q}) + "\n")
        for n in range(n_docs):
            chosen = [pages[(n * 7 + j) % len(pages)] for j in range(n_pages)]
            d.write(json.dumps({"doc_id": f"d{n}", "pages": chosen}) + "\n")
            own = {"id": f"own{n}", "doc_id": f"d{n}", "criterion": "Is a biologic requested?"}
            c.write(json.dumps(own) + "\n")
    return docs, crits, n_docs * (len(CRITERIA) + 1)


def run(docs: Path, crits: Path, out: Path, engine: str, scorer: str) -> dict[str, float]:
    shutil.rmtree(out, ignore_errors=True)
    argv = ["batch", "--documents", str(docs), "--criteria", str(crits), "--out", str(out)]
    argv += ["--engine", engine, "--scorer", scorer, "--no-progress", "--batch-size", "16"]
    start = time.perf_counter()
    code = cli(argv)
    wall = time.perf_counter() - start
    if code != 0:
        raise SystemExit(f"{engine}/{scorer} failed with exit code {code}")
    timings = json.loads((out / "_manifest.json").read_text())["timings"]
    return {"wall_s": wall, "run_s": timings["run_s"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--docs", type=int, default=200)
    parser.add_argument("--pages", type=int, default=10)
    parser.add_argument("--scorers", default="bm25,default")
    parser.add_argument("--engines", default="local,ray")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        docs, crits, pairs = write_inputs(folder, args.docs, args.pages)
        (folder / "tiny").mkdir()
        tiny_docs, tiny_crits, tiny_pairs = write_inputs(folder / "tiny", 4, args.pages)
        print(f"{args.docs} documents x {args.pages} pages, {pairs} (document, criterion) pairs")
        print("| scorer | engine | documents | run (s) | documents/s | pairs/s |")
        print("| --- | --- | ---: | ---: | ---: | ---: |")
        for scorer in args.scorers.split(","):
            for engine in args.engines.split(","):
                for label, d, c, n_docs, n_pairs in (
                    ("tiny", tiny_docs, tiny_crits, 4, tiny_pairs),
                    ("full", docs, crits, args.docs, pairs),
                ):
                    t = run(d, c, folder / f"out-{scorer}-{engine}-{label}", engine, scorer)
                    print(
                        f"| {scorer} | {engine} | {n_docs} | {t['run_s']:.2f} | "
                        f"{n_docs / t['run_s']:.1f} | {n_pairs / t['run_s']:.0f} |",
                        flush=True,
                    )


if __name__ == "__main__":
    main()
