"""Choosing a threshold from labelled data: the largest one that keeps a target recall.

Recall here is the share of evidence pages whose score reaches the threshold. The choice is
checked honestly by cross-validation by document (choose on the other folds, measure on the
held-out fold), and stated with a one-sided Wilson lower bound on the recall.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._exceptions import InvalidInputError
from . import _metrics as m
from ._harness import folds_by_document

__all__ = ["ThresholdChoice", "choose_threshold", "cross_validated_threshold"]


@dataclass(frozen=True)
class ThresholdChoice:
    threshold: float
    target_recall: float
    recall: float
    recall_lower_bound: float
    confidence: float
    evidence_pages: int

    def statement(self) -> str:
        return (
            f"threshold {self.threshold:.4f} keeps {self.recall:.1%} of {self.evidence_pages} "
            f"evidence pages in this sample; with {self.confidence:.0%} confidence the recall "
            f"on similar data is at least {self.recall_lower_bound:.1%}"
        )


def _evidence_scores(items: Sequence[m.ScoredCriterion]) -> list[float]:
    return sorted((c.scores[i] for c in items for i in c.relevant), reverse=True)


def choose_threshold(
    items: Sequence[m.ScoredCriterion],
    target_recall: float,
    *,
    confidence: float = 0.95,
    conservative: bool = False,
) -> ThresholdChoice:
    """The largest threshold whose recall on ``items`` reaches ``target_recall``.

    With ``conservative=True`` the Wilson lower bound (at ``confidence``) must reach the
    target instead of the point estimate.
    """
    if not 0 < target_recall <= 1:
        raise InvalidInputError(f"target recall must be in (0, 1], got {target_recall!r}")
    if not 0 < confidence < 1:
        raise InvalidInputError(f"confidence must be in (0, 1), got {confidence!r}")
    evidence = _evidence_scores(items)
    n = len(evidence)
    if n == 0:
        raise InvalidInputError("no evidence pages in the data: a recall target means nothing")
    # Keeping the j best evidence scores needs threshold = the j-th best score.
    for j in range(1, n + 1):
        recall = j / n
        bound = m.wilson_lower_bound(j, n, confidence)
        if (bound if conservative else recall) >= target_recall - 1e-12:
            t = evidence[j - 1]
            kept = sum(1 for s in evidence if s >= t)  # ties at t are kept too
            return ThresholdChoice(
                t, target_recall, kept / n, m.wilson_lower_bound(kept, n, confidence), confidence, n
            )
    t = evidence[-1]
    return ThresholdChoice(
        t, target_recall, 1.0, m.wilson_lower_bound(n, n, confidence), confidence, n
    )


def cross_validated_threshold(
    items: Sequence[m.ScoredCriterion],
    target_recall: float,
    *,
    folds: int = 5,
    seed: int = 0,
    confidence: float = 0.95,
    conservative: bool = False,
) -> dict[str, Any]:
    """Choose on k-1 folds, measure on the held-out fold; then choose on all the data."""
    parts = folds_by_document(items, folds, seed)
    fold_rows = []
    kept_rel = total_rel = 0
    for part in parts:
        train = [c for c in items if c.id not in part]
        test = [c for c in items if c.id in part]
        if not test or not any(c.relevant for c in train):
            continue
        choice = choose_threshold(
            train, target_recall, confidence=confidence, conservative=conservative
        )
        stats = m.threshold_stats(test, choice.threshold)
        evidence = sum(len(c.relevant) for c in test)
        kept = sum(1 for c in test for i in c.relevant if c.scores[i] >= choice.threshold)
        kept_rel += kept
        total_rel += evidence
        fold_rows.append(
            {
                "threshold": choice.threshold,
                "held_out_recall": stats["recall"],
                "held_out_chars_kept": stats["chars_kept"],
            }
        )
    final = choose_threshold(items, target_recall, confidence=confidence, conservative=conservative)
    at_final = m.threshold_stats(items, final.threshold)
    return {
        "target_recall": target_recall,
        "threshold": final.threshold,
        "statement": final.statement(),
        "recall": final.recall,
        "recall_lower_bound": final.recall_lower_bound,
        "chars_kept": at_final["chars_kept"],
        "precision": at_final["precision"],
        "no_evidence_keep_rate": at_final["no_evidence_keep_rate"],
        "no_evidence_pages_kept": at_final["no_evidence_pages_kept"],
        "held_out_recall": kept_rel / total_rel if total_rel else math.nan,
        "held_out_chars_kept": float(np.mean([r["held_out_chars_kept"] for r in fold_rows]))
        if fold_rows
        else math.nan,
        "folds": fold_rows,
    }
