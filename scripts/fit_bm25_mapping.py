"""Fit the BM25 score -> probability mapping in ctxcompress/_lexical.py.

Logistic regression of page relevance on the two scale-free features the BM25 scorer
computes (z-score within the document, IDF-weighted term coverage), fitted by Newton's
method on the page-selection sets in ../shared/data (FinanceBench and ContractNLI dev,
the training parts named in the project brief). Prints the three constants to paste into
_lexical.py, with the log-loss and ECE of the fit.

    python scripts/fit_bm25_mapping.py [--data ../shared/data]
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

from ctxcompress._scorers._bm25 import BM25Scorer, _Index


def features(data_dir: Path) -> list[tuple[float, float, int]]:
    docs = {}
    for line in (data_dir / "documents.jsonl").open():
        d = json.loads(line)
        docs[d["doc_id"]] = d["pages"]
    scorer = BM25Scorer()
    rows = []
    indexes: dict[str, _Index] = {}
    for line in (data_dir / "criteria.jsonl").open():
        c = json.loads(line)
        index = indexes.setdefault(c["doc_id"], _Index.build(docs[c["doc_id"]]))
        relevant = set(c["relevant_pages"])
        # The scorer's own features, so the fitted constants match what it computes.
        for i, (z, coverage) in enumerate(scorer._features(index, c["criterion"])):
            rows.append((z, coverage, int(i in relevant)))
    return rows


def fit(rows: list[tuple[float, float, int]], iters: int = 30) -> list[float]:
    w = [0.0, 0.0, 0.0]  # z weight, coverage weight, bias
    for _ in range(iters):
        g = [0.0] * 3
        h = [[0.0] * 3 for _ in range(3)]
        for z, cov, y in rows:
            x = (z, cov, 1.0)
            p = 1 / (1 + math.exp(-sum(a * b for a, b in zip(w, x, strict=False))))
            for i in range(3):
                g[i] += (p - y) * x[i]
                for j in range(3):
                    h[i][j] += p * (1 - p) * x[i] * x[j]
        for i in range(3):
            h[i][i] += 1e-6
        w = [a - b for a, b in zip(w, solve(h, g), strict=False)]
    return w


def solve(a: list[list[float]], b: list[float]) -> list[float]:
    n = len(b)
    m = [[*row[:], b[i]] for i, row in enumerate(a)]
    for col in range(n):
        piv = max(range(col, n), key=lambda r: abs(m[r][col]))
        m[col], m[piv] = m[piv], m[col]
        for r in range(n):
            if r != col:
                f = m[r][col] / m[col][col]
                m[r] = [x - f * y for x, y in zip(m[r], m[col], strict=False)]
    return [m[i][n] / m[i][i] for i in range(n)]


def ece(rows: list[tuple[float, float, int]], w: list[float], bins: int = 10) -> float:
    buckets: list[list[tuple[float, int]]] = [[] for _ in range(bins)]
    for z, cov, y in rows:
        p = 1 / (1 + math.exp(-(w[0] * z + w[1] * cov + w[2])))
        buckets[min(int(p * bins), bins - 1)].append((p, y))
    total = len(rows)
    return sum(
        len(b) / total * abs(sum(p for p, _ in b) / len(b) - sum(y for _, y in b) / len(b))
        for b in buckets
        if b
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--data", default=str(Path(__file__).resolve().parents[1] / ".." / "shared" / "data")
    )
    args = parser.parse_args()
    data = Path(args.data)
    rows = features(data / "financebench") + features(data / "contractnli-dev")
    w = fit(rows)
    print(f"fitted on {len(rows)} (criterion, page) pairs, {sum(r[2] for r in rows)} relevant")
    print(f"Z_WEIGHT = {w[0]:.4f}\nCOVERAGE_WEIGHT = {w[1]:.4f}\nBIAS = {w[2]:.4f}")
    print(f"ECE (10 bins, on the fitting data) = {ece(rows, w):.4f}")


if __name__ == "__main__":
    main()
