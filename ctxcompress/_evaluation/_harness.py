"""Scoring a labelled dataset, reporting on it, and cross-validating calibration.

Cross-validation splits by document: a document's criteria are never split between
fitting and checking, so a reported number never benefits from having seen the document.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

from .._calibration import CalibrationMethod, Calibrator, fit_calibrator
from .._exceptions import InvalidInputError
from .._scorers._base import Scorer
from .._tokens import TokenCounter
from .._types import Criterion
from . import _metrics as m
from ._data import EvalDataset

__all__ = [
    "DEFAULT_KS",
    "SEMANTIC_THRESHOLDS",
    "calibrate_cross_validated",
    "evaluate",
    "folds_by_document",
    "score_dataset",
]

DEFAULT_KS = (1, 3, 5, 10, 20)
SEMANTIC_THRESHOLDS = (0.2, 0.4, 0.6, 0.8)
Progress = Callable[[int, int], None]


def score_dataset(
    data: EvalDataset,
    scorer: Scorer,
    *,
    criteria_per_call: int = 32,
    progress: Progress | None = None,
    token_counter: TokenCounter | None = None,
) -> list[m.ScoredCriterion]:
    """Score every criterion against its document's pages (and count page tokens, when a
    ``token_counter`` is given, for the tokens-kept metrics)."""
    out: list[m.ScoredCriterion] = []
    total = len(data.criteria)
    for doc, criteria in data.by_document():
        chars = tuple(len(p) for p in doc.pages)
        tokens = tuple(token_counter.count(p) for p in doc.pages) if token_counter else None
        for start in range(0, len(criteria), criteria_per_call):
            batch = criteria[start : start + criteria_per_call]
            rows = scorer.score_batch([Criterion(c.id, c.text) for c in batch], list(doc.pages))
            for c, row in zip(batch, rows, strict=True):
                out.append(
                    m.ScoredCriterion(
                        c.id, c.doc_id, tuple(row), c.relevant, chars, c.label, tokens
                    )
                )
            if progress is not None:
                progress(len(out), total)
    return out


def evaluate(
    items: Sequence[m.ScoredCriterion], *, ks: Sequence[int] = DEFAULT_KS
) -> dict[str, Any]:
    """The evaluation report. Stable keys: ``recall_at_k``, ``chars_kept_at_k``,
    ``k_for_recall_90``, ``mrr``, ``ndcg_at_10``, ``ece``, ``n_criteria``; more keys follow."""
    if not items:
        raise InvalidInputError("nothing to evaluate: no scored criteria")
    k90 = m.k_for_recall(items, 0.9)
    return {
        "n_criteria": len(items),
        "n_criteria_with_evidence": sum(1 for c in items if c.relevant),
        "recall_at_k": {str(k): _num(m.recall_at_k(items, k)) for k in ks},
        "chars_kept_at_k": {str(k): _num(m.chars_kept_at_k(items, k)) for k in ks},
        "tokens_kept_at_k": {str(k): _num(m.tokens_kept_at_k(items, k)) for k in ks},
        "k_for_recall_90": k90,
        "chars_kept_at_k_for_recall_90": _num(m.chars_kept_at_k(items, k90)) if k90 else None,
        "mrr": _num(m.mrr(items)),
        "ndcg_at_10": _num(m.ndcg_at_k(items, 10)),
        "ece": _num(m.ece(items)),
        "reliability": [{k: _num(v) for k, v in row.items()} for row in m.reliability_table(items)],
        "thresholds": [
            {k: _num(v) for k, v in m.threshold_stats(items, t).items()}
            for t in SEMANTIC_THRESHOLDS
        ],
    }


def _num(value: float) -> float | None:
    # JSON has no NaN: undefined metrics are null.
    return (
        None
        if value is None or (isinstance(value, float) and math.isnan(value))
        else round(float(value), 6)
    )


def folds_by_document(
    items: Sequence[m.ScoredCriterion], k: int = 5, seed: int = 0
) -> list[set[str]]:
    """``k`` disjoint sets of criterion ids, split by document.

    With fewer documents than folds (a BEIR corpus is one document) the split falls back to
    criteria, which is then the only honest unit available.
    """
    docs = sorted({c.doc_id for c in items})
    rng = random.Random(seed)
    if len(docs) >= k:
        rng.shuffle(docs)
        doc_fold = {d: i % k for i, d in enumerate(docs)}
        folds: list[set[str]] = [set() for _ in range(k)]
        for c in items:
            folds[doc_fold[c.doc_id]].add(c.id)
        return folds
    ids = [c.id for c in items]
    rng.shuffle(ids)
    return [set(ids[i::k]) for i in range(k)]


def calibrate_cross_validated(
    items: Sequence[m.ScoredCriterion],
    method: CalibrationMethod,
    scorer_id: str,
    *,
    folds: int = 5,
    seed: int = 0,
    fitted_on: dict[str, Any] | None = None,
) -> tuple[list[m.ScoredCriterion], Calibrator]:
    """Held-out calibrated scores (each fold calibrated by a fit on the other folds) and a
    final calibrator fitted on everything."""
    parts = folds_by_document(items, folds, seed)
    held_out: dict[str, m.ScoredCriterion] = {}
    for part in parts:
        train = [c for c in items if c.id not in part]
        test = [c for c in items if c.id in part]
        if not test:
            continue
        calibrator = fit_calibrator(*m.score_label_pairs(train), method, scorer_id)
        for c in test:
            held_out[c.id] = replace(c, scores=tuple(calibrator(list(c.scores))))
    final = fit_calibrator(*m.score_label_pairs(items), method, scorer_id, fitted_on=fitted_on)
    return [held_out[c.id] for c in items], final


def apply_calibrator(
    items: Sequence[m.ScoredCriterion], calibrator: Calibrator
) -> list[m.ScoredCriterion]:
    return [replace(c, scores=tuple(calibrator(list(c.scores)))) for c in items]
