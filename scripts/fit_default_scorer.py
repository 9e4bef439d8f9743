"""Fit the default scorer's fusion model and write ctxcompress/_scorers/_default/default_scorer.json.

The default scorer turns a few per-document features of BM25 and the embedded MiniLM
bi-encoder (ctxcompress/_default.py) into a probability with logistic regression. This
script computes those features with the scorer's own code on the training parts of
../shared/data (FinanceBench, ContractNLI dev, SciFact train), fits the weights by
Newton's method, and reports held-out quality:

* FinanceBench and ContractNLI dev: 5-fold cross-validation by document (each fold's
  pages are scored by weights fitted without that fold's documents);
* SciFact test: never fitted on.

Page embeddings are cached in .cache/ctxcompress/embeddings.sqlite and their token
embeddings in .cache/ctxcompress/tokens.sqlite (about 7 GB), so a second run takes about
16 minutes on 2 CPU cores (matching SciFact's 1,100 claims token by token against its
5,183 abstracts is most of it); the first also embeds every page (about an hour more).

    python scripts/fit_default_scorer.py [--data ../shared/data] [--write]
"""

from __future__ import annotations

import argparse
import json
import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ctxcompress import Criterion, SQLiteCache
from ctxcompress._evaluation import _metrics as m
from ctxcompress._scorers._bm25 import BM25Scorer, _Index
from ctxcompress._scorers._default._embedded import minilm_model_dir
from ctxcompress._scorers._default._scorer import (
    FeatureInputs,
    FusionParams,
    digit_density,
    feature_inputs,
    fusion_features,
    load_fusion_params,
    token_matrices,
)
from ctxcompress._scorers._onnx import BiEncoder, BiEncoderScorer
from ctxcompress.evaluation import EvalDataset, load_dataset

ROOT = Path(__file__).resolve().parents[1]
FEATURES = (
    "cosine",
    "cosine_z",
    "cosine_z_neighbours",
    "maxsim",
    "maxsim_gap",
    "bm25_z",
    "bm25_z_positive",
    "coverage",
    "span_coverage",
    "digit_density_if_quantity",
    "log_pages",
)
# SciFact has one 5,183-abstract "document" per query: its negatives are subsampled (and
# up-weighted to stand for the rest), and the set as a whole weighs as much as the two
# page-selection sets together, so the fit serves the page-selection task first.
SCIFACT_NEGATIVES = 200


@dataclass
class Block:
    """One criterion's raw features over its document's pages."""

    dataset: str
    doc_id: str
    inputs: FeatureInputs
    relevant: frozenset[int]
    chars: tuple[int, ...]
    label: str | None
    criterion_id: str


def raw_blocks(data: EvalDataset, scorer: BiEncoderScorer) -> list[Block]:
    bm25 = BM25Scorer()
    blocks = []
    for doc, criteria in data.by_document():
        pages = list(doc.pages)
        index = _Index.build(pages)
        queries = [Criterion(c.id, c.text) for c in criteria]
        matrix, query_tokens = token_matrices(scorer.encoder, queries, pages)
        maxsims = matrix.maxsim_many(query_tokens)
        sims = scorer.similarities(queries, pages)
        chars = tuple(len(p) for p in pages)
        digits = digit_density(pages)
        for ci, c in enumerate(criteria):
            maxsim = maxsims[ci]
            blocks.append(
                Block(
                    data.name,
                    c.doc_id,
                    feature_inputs(bm25, index, queries[ci], sims[ci], digits, maxsim),
                    c.relevant,
                    chars,
                    c.label,
                    c.id,
                )
            )
    return blocks


def design(
    blocks: Sequence[Block], features: Sequence[str], subsample: bool, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = random.Random(seed)
    xs, ys, ws = [], [], []
    for b in blocks:
        x = fusion_features(features, b.inputs)
        y = np.zeros(len(x))
        y[list(b.relevant)] = 1.0
        w = np.ones(len(x))
        if subsample and len(x) > SCIFACT_NEGATIVES * 2:
            negatives = [i for i in range(len(y)) if not y[i]]
            chosen = sorted(rng.sample(negatives, SCIFACT_NEGATIVES)) + sorted(b.relevant)
            w = np.full(len(chosen), len(negatives) / SCIFACT_NEGATIVES)
            w[SCIFACT_NEGATIVES:] = 1.0
            x, y = x[chosen], y[chosen]
        xs.append(x)
        ys.append(y)
        ws.append(w)
    return np.concatenate(xs), np.concatenate(ys), np.concatenate(ws)


def fit_logistic(
    x: np.ndarray, y: np.ndarray, w: np.ndarray, l2: float = 1e-3, iters: int = 50
) -> tuple[np.ndarray, float]:
    """Weighted logistic regression by Newton's method (the bias is the last column)."""
    xb = np.hstack([x, np.ones((len(x), 1))])
    beta = np.zeros(xb.shape[1])
    reg = np.full(xb.shape[1], l2 * w.sum() / len(w))
    reg[-1] = 0.0
    for _ in range(iters):
        p = 1.0 / (1.0 + np.exp(-np.clip(xb @ beta, -40, 40)))
        grad = xb.T @ (w * (p - y)) + reg * beta
        hess = (xb * (w * p * (1 - p))[:, None]).T @ xb + np.diag(reg + 1e-9)
        step = np.linalg.solve(hess, grad)
        beta -= step
        if np.max(np.abs(step)) < 1e-8:
            break
    return beta[:-1], float(beta[-1])


def predict(block: Block, features: Sequence[str], weights: np.ndarray, bias: float) -> np.ndarray:
    x = fusion_features(features, block.inputs)
    out: np.ndarray = 1.0 / (1.0 + np.exp(-(x @ weights + bias)))
    return out


def fit_sets(groups: dict[str, list[Block]], features: Sequence[str]) -> tuple[np.ndarray, float]:
    parts = {
        name: design(blocks, features, subsample=name == "scifact")
        for name, blocks in groups.items()
    }
    # Page-selection sets count by their evidence, not their criteria: FinanceBench has 75
    # relevant pages, ContractNLI dev 849, so each set is scaled until its relevant pairs
    # weigh as much as the largest set's (the long-document task is not drowned out).
    pages = {name: p for name, p in parts.items() if name != "scifact"}
    most = max((float((w * y).sum()) for _, y, w in pages.values()), default=0.0)
    scaled = {
        name: (x, y, w * (most / float((w * y).sum())) if (w * y).sum() else w)
        for name, (x, y, w) in pages.items()
    }
    page_weight = sum(float(w.sum()) for _, _, w in scaled.values())
    if "scifact" in parts:
        x, y, w = parts["scifact"]
        scaled["scifact"] = (x, y, w * (page_weight / w.sum()) if page_weight else w)
    return fit_logistic(
        np.concatenate([p[0] for p in scaled.values()]),
        np.concatenate([p[1] for p in scaled.values()]),
        np.concatenate([p[2] for p in scaled.values()]),
    )


def scored(block: Block, scores: np.ndarray) -> m.ScoredCriterion:
    return m.ScoredCriterion(
        block.criterion_id,
        block.doc_id,
        tuple(float(s) for s in scores),
        block.relevant,
        block.chars,
        block.label,
    )


def report(items: list[m.ScoredCriterion]) -> dict[str, Any]:
    return {
        "recall_at_k": {k: round(m.recall_at_k(items, k), 4) for k in (1, 3, 5, 10, 20)},
        "chars_kept_at_k": {k: round(m.chars_kept_at_k(items, k), 4) for k in (1, 3, 5, 10, 20)},
        "k_for_recall_90": m.k_for_recall(items, 0.9),
        "mrr": round(m.mrr(items), 4),
        "ndcg_at_10": round(m.ndcg_at_k(items, 10), 4),
        "ece": round(m.ece(items), 4),
    }


def cross_validated(
    groups: dict[str, list[Block]], name: str, features: Sequence[str], folds: int = 5
) -> list[m.ScoredCriterion]:
    """Held-out scores for ``name``'s criteria: 5 folds by document."""
    docs = sorted({b.doc_id for b in groups[name]})
    random.Random(13).shuffle(docs)
    out = []
    for f in range(folds):
        held = set(docs[f::folds])
        train = {k: [b for b in v if k != name or b.doc_id not in held] for k, v in groups.items()}
        weights, bias = fit_sets(train, features)
        out.extend(
            scored(b, predict(b, features, weights, bias)) for b in groups[name] if b.doc_id in held
        )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(ROOT.parent / "shared" / "data"))
    parser.add_argument("--write", action="store_true", help="write default_scorer.json")
    parser.add_argument("--features", nargs="+", default=list(FEATURES))
    args = parser.parse_args()
    data = Path(args.data)
    current = load_fusion_params()
    cache = SQLiteCache(ROOT / ".cache" / "ctxcompress" / "embeddings.sqlite")
    tokens = SQLiteCache(ROOT / ".cache" / "ctxcompress" / "tokens.sqlite")
    encoder = BiEncoder(
        minilm_model_dir(),
        precision="int8",
        providers="cpu",
        window=current.window,
        window_stride=current.window_stride,
        cache=cache,
        token_cache=tokens,
    )
    bi = BiEncoderScorer(encoder, slope=1.0, bias=0.0)
    groups = {
        "financebench": raw_blocks(load_dataset(data / "financebench"), bi),
        "contractnli-dev": raw_blocks(load_dataset(data / "contractnli-dev"), bi),
        "scifact": raw_blocks(load_dataset(data / "scifact", split="train"), bi),
    }
    scifact_test = raw_blocks(load_dataset(data / "scifact", split="test"), bi)
    features = tuple(args.features)
    weights, bias = fit_sets(groups, features)
    # The bi-encoder-alone mapping: the same fit on the cosine feature only.
    (slope,), cos_bias = fit_sets(groups, ("cosine",))
    held_out = {
        name: report(cross_validated(groups, name, features))
        for name in ("financebench", "contractnli-dev")
    }
    held_out["scifact-test"] = report(
        [scored(b, predict(b, features, weights, bias)) for b in scifact_test]
    )
    params = FusionParams(
        format="ctxcompress-fusion",
        version=1,
        features=features,
        weights=tuple(round(float(w), 5) for w in weights),
        bias=round(bias, 5),
        bi_encoder_slope=round(float(slope), 5),
        bi_encoder_bias=round(cos_bias, 5),
        window=current.window,
        window_stride=current.window_stride,
        fitted_on=(
            "scripts/fit_default_scorer.py: weighted logistic regression on every "
            "(criterion, page) pair of FinanceBench (58 criteria, scaled so that its 75 "
            "relevant pages weigh as much as ContractNLI dev's 849) and ContractNLI dev "
            "(1,037), and SciFact train (negatives subsampled, weighing as much as the "
            "other two); all-MiniLM-L6-v2 int8, windows of "
            f"{current.window} tokens, stride {current.window_stride}"
        ),
        held_out=held_out,
    )
    print(json.dumps(params.model_dump(), indent=2))
    if args.write:
        target = ROOT / "ctxcompress" / "_scorers" / "_default" / "default_scorer.json"
        target.write_text(json.dumps(params.model_dump(), indent=2) + "\n", encoding="utf-8")
        print(f"wrote {target}")


if __name__ == "__main__":
    main()
