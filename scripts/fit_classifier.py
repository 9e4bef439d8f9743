"""Fit the default scorer's single-text classifier (``_scorers/_default/classifier.json``).

Reads the classification halves in ``--data`` (one JSONL file per set, the format of
``ctxcompress eval --task classify``), computes each (text, label) pair's inputs exactly as
``classify()`` does (``_single_text.base_inputs``), fits one weighted logistic model (each
set weighing the same), and measures it leave-one-set-out: for each set, a model fitted on
the others is scored on it at the fixed threshold 0.5. The shipped model is fitted on all
fitting sets together; its record says on what, and what leave-one-set-out gave.

Moderation sets (ETHOS, Davidson) are measured but not fitted on (``--report-only``): their
wording-level cues are not what a label description carries, and fitting them costs the
other tasks.

    python scripts/fit_classifier.py --data ../shared/data/classify-dev \\
        --cache ~/.cache/ctxcompress/classify.sqlite [--write]

Embeddings are cached in ``--cache`` (a SQLite file), so a second run costs seconds.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np

from ctxcompress import SQLiteCache
from ctxcompress._classification._evaluate import classification_report, load_items
from ctxcompress._scorers._default._embedded import minilm_model_dir
from ctxcompress._scorers._default._scorer import load_fusion_params
from ctxcompress._scorers._default._single_text import (
    ClassifierParams,
    base_inputs,
    classifier_features,
)
from ctxcompress._scorers._onnx import BiEncoder

OUT = Path(__file__).resolve().parents[1] / "ctxcompress/_scorers/_default/classifier.json"
FEATURES = (
    "cosine",
    "maxsim_description",
    "maxsim_text",
    "lexical_description",
    "lexical_text",
    "cosine_vs_others",
    "maxsim_description_vs_others",
    "cosine_vs_mean",
    "maxsim_description_vs_mean",
    "several_labels",
)
ZIPF_CAP, WEIGHT_FLOOR = 7.0, 0.0
REPORT_ONLY = ("ethos-binary", "ethos-multilabel", "davidson")


def fit_logistic(
    x: np.ndarray, y: np.ndarray, w: np.ndarray, l2: float = 1e-3, iters: int = 60
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


def set_inputs(encoder: BiEncoder, path: Path) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Per item: its (1 × labels × inputs) base inputs and its 0/1 gold per label."""
    items = load_items(path)
    bases, golds = [], []
    for item in items:
        names = list(item.labels)
        bases.append(
            base_inputs(
                encoder,
                [item.text],
                [item.labels[n] for n in names],
                zipf_cap=ZIPF_CAP,
                weight_floor=WEIGHT_FLOOR,
            )
        )
        golds.append(np.asarray([float(n in item.gold) for n in names]))
    return bases, golds


def design(
    data: dict[str, tuple[list[np.ndarray], list[np.ndarray]]], sets: list[str]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    xs, ys, ws = [], [], []
    for name in sets:
        bases, golds = data[name]
        x = np.concatenate([classifier_features(FEATURES, b)[0] for b in bases])
        y = np.concatenate(golds)
        xs.append(x)
        ys.append(y)
        ws.append(np.full(len(y), 1000.0 / len(y)))  # every set weighs the same
    return np.concatenate(xs), np.concatenate(ys), np.concatenate(ws)


def predict(bases: list[np.ndarray], weights: np.ndarray, bias: float) -> list[list[float]]:
    out = []
    for b in bases:
        logits = classifier_features(FEATURES, b)[0] @ weights + bias
        out.append([float(v) for v in 1.0 / (1.0 + np.exp(-logits))])
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", required=True, type=Path, help="folder of <set>.jsonl files")
    parser.add_argument("--cache", required=True, type=Path, help="SQLite embedding cache")
    parser.add_argument("--token-cache", type=Path, help="SQLite token cache (default: beside)")
    parser.add_argument("--write", action="store_true", help=f"write {OUT.name}")
    args = parser.parse_args()
    fusion = load_fusion_params()
    cache = SQLiteCache(args.cache)
    encoder = BiEncoder(
        minilm_model_dir(),
        window=fusion.window,
        window_stride=fusion.window_stride,
        cache=cache,
        token_cache=SQLiteCache(args.token_cache or args.cache.with_suffix(".tokens.sqlite")),
    )
    files = sorted(args.data.glob("*.jsonl"))
    data = {f.stem: set_inputs(encoder, f) for f in files}
    fitting = [s for s in data if s not in REPORT_ONLY]
    held_out: dict[str, Any] = {}
    for name in data:
        weights, bias = fit_logistic(*design(data, [s for s in fitting if s != name]))
        probabilities = predict(data[name][0], weights, bias)
        golds = [list(g) for g in data[name][1]]
        report = classification_report(probabilities, golds, thresholds=(0.5,))
        report["thresholds"][0]["macro_f1"] = round(report["thresholds"][0]["macro_f1"], 4)
        held_out[name] = {
            "macro_f1_at_0.5": report["thresholds"][0]["macro_f1"],
            "best_macro_f1": report["best"]["macro_f1"],
            "best_threshold": report["best"]["threshold"],
            "auroc": report["auroc"],
            "ece": report["ece"],
            "top1": report["top1"],
            "fitted_on_it": False,
        }
        print(name, json.dumps(held_out[name]))
    weights, bias = fit_logistic(*design(data, fitting))
    params = ClassifierParams(
        format="ctxcompress-classifier",
        version=1,
        features=FEATURES,
        weights=tuple(round(float(w), 5) for w in weights),
        bias=round(bias, 5),
        zipf_cap=ZIPF_CAP,
        weight_floor=WEIGHT_FLOOR,
        fitted_on=(
            "scripts/fit_classifier.py: weighted logistic regression (each set weighing the "
            f"same) on every (text, label) pair of the classify-dev halves of {', '.join(fitting)}"
            f"; all-MiniLM-L6-v2 int8, windows of {fusion.window} tokens, stride "
            f"{fusion.window_stride}; {', '.join(REPORT_ONLY)} measured, not fitted on. "
            "held_out: each set scored by a model fitted on the other fitting sets "
            "(leave-one-set-out), threshold 0.5"
        ),
        held_out=held_out,
    )
    print("weights", dict(zip(FEATURES, params.weights, strict=True)), "bias", params.bias)
    if args.write:
        OUT.write_text(json.dumps(params.model_dump(), indent=2) + "\n", "utf-8")
        print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
