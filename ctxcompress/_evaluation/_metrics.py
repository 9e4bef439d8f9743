"""Ranking, selection and calibration metrics over scored criteria.

Ranking metrics average over criteria that have at least one relevant page. Ties in
scores are broken by page order, as the policies break them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import numpy.typing as npt

__all__ = [
    "ScoredCriterion",
    "chars_kept_at_k",
    "ece",
    "k_for_recall",
    "mrr",
    "ndcg_at_k",
    "recall_at_k",
    "reliability_table",
    "score_label_pairs",
    "threshold_stats",
    "tokens_kept_at_k",
    "wilson_lower_bound",
]


@dataclass(frozen=True)
class ScoredCriterion:
    """One criterion's scores over its document's pages, with the truth and page sizes."""

    id: str
    doc_id: str
    scores: tuple[float, ...]
    relevant: frozenset[int]
    page_chars: tuple[int, ...]
    label: str | None = None
    page_tokens: tuple[int, ...] | None = None  # None when no token counter was used

    def ranking(self) -> tuple[int, ...]:
        """Page indices, best score first (ties in page order)."""
        return self._ranking

    @cached_property
    def _ranking(self) -> tuple[int, ...]:
        # Sorted once: a recall curve asks for it at every K (SciFact: 5,183 Ks of 5,183
        # pages for each of 300 claims took most of the quality report's 21 minutes).
        order = np.lexsort((np.arange(len(self.scores)), -np.asarray(self.scores)))
        return tuple(int(i) for i in order)


def _with_evidence(items: Sequence[ScoredCriterion]) -> list[ScoredCriterion]:
    return [c for c in items if c.relevant]


def recall_at_k(items: Sequence[ScoredCriterion], k: int) -> float:
    rows = _with_evidence(items)
    if not rows:
        return math.nan
    return float(np.mean([len(set(c.ranking()[:k]) & c.relevant) / len(c.relevant) for c in rows]))


def chars_kept_at_k(items: Sequence[ScoredCriterion], k: int) -> float:
    """Mean share of a document's characters in its top ``k`` pages (criteria with evidence)."""
    rows = _with_evidence(items)
    if not rows:
        return math.nan
    shares = []
    for c in rows:
        total = sum(c.page_chars) or 1
        shares.append(sum(c.page_chars[i] for i in c.ranking()[:k]) / total)
    return float(np.mean(shares))


def tokens_kept_at_k(items: Sequence[ScoredCriterion], k: int) -> float:
    """Mean share of a document's tokens in its top ``k`` pages (criteria with evidence)."""
    rows = [c for c in _with_evidence(items) if c.page_tokens is not None]
    if not rows:
        return math.nan
    shares = []
    for c in rows:
        assert c.page_tokens is not None
        total = sum(c.page_tokens) or 1
        shares.append(sum(c.page_tokens[i] for i in c.ranking()[:k]) / total)
    return float(np.mean(shares))


def k_for_recall(items: Sequence[ScoredCriterion], target: float = 0.9) -> int | None:
    """The smallest K whose mean Recall@K reaches ``target`` (None if no K does)."""
    rows = _with_evidence(items)
    if not rows:
        return None
    longest = max(len(c.scores) for c in rows)
    # Mean recall at every K at once: add each relevant page's contribution at its rank.
    gains = np.zeros(longest + 1)
    for c in rows:
        for rank, page in enumerate(c.ranking(), start=1):
            if page in c.relevant:
                gains[rank] += 1 / len(c.relevant) / len(rows)
    curve = np.cumsum(gains)
    hits = np.nonzero(curve >= target - 1e-12)[0]
    return int(hits[0]) if len(hits) else None


def mrr(items: Sequence[ScoredCriterion]) -> float:
    rows = _with_evidence(items)
    if not rows:
        return math.nan
    out = []
    for c in rows:
        rank = next(r for r, p in enumerate(c.ranking(), start=1) if p in c.relevant)
        out.append(1.0 / rank)
    return float(np.mean(out))


def ndcg_at_k(items: Sequence[ScoredCriterion], k: int = 10) -> float:
    """Binary-relevance NDCG@k."""
    rows = _with_evidence(items)
    if not rows:
        return math.nan
    out = []
    for c in rows:
        dcg = sum(
            1 / math.log2(r + 1) for r, p in enumerate(c.ranking()[:k], start=1) if p in c.relevant
        )
        ideal = sum(1 / math.log2(r + 1) for r in range(1, min(k, len(c.relevant)) + 1))
        out.append(dcg / ideal)
    return float(np.mean(out))


def score_label_pairs(
    items: Sequence[ScoredCriterion],
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Every (criterion, page) pair flattened: its score, and 1.0 if relevant else 0.0."""
    scores = np.array([s for c in items for s in c.scores], dtype=np.float64)
    labels = np.array([float(i in c.relevant) for c in items for i in range(len(c.scores))])
    return scores, labels


def reliability_table(items: Sequence[ScoredCriterion], bins: int = 10) -> list[dict[str, float]]:
    """Per equal-width probability bin: pairs, mean predicted probability, observed rate."""
    return reliability_bins(*score_label_pairs(items), bins=bins)


def reliability_bins(
    scores: npt.NDArray[np.float64], labels: npt.NDArray[np.float64], bins: int = 10
) -> list[dict[str, float]]:
    """The reliability table of any probabilities and 0/1 labels (pages or classifications)."""
    index = np.minimum((scores * bins).astype(int), bins - 1)
    table = []
    for b in range(bins):
        mask = index == b
        n = int(mask.sum())
        table.append(
            {
                "bin_low": b / bins,
                "bin_high": (b + 1) / bins,
                "n": n,
                "mean_predicted": float(scores[mask].mean()) if n else math.nan,
                "observed_rate": float(labels[mask].mean()) if n else math.nan,
            }
        )
    return table


def ece(items: Sequence[ScoredCriterion], bins: int = 10) -> float:
    """Expected calibration error over all (criterion, page) pairs, equal-width bins."""
    table = reliability_table(items, bins)
    total = sum(row["n"] for row in table)
    if not total:
        return math.nan
    return float(
        sum(
            row["n"] / total * abs(row["mean_predicted"] - row["observed_rate"])
            for row in table
            if row["n"]
        )
    )


def threshold_stats(items: Sequence[ScoredCriterion], t: float) -> dict[str, float]:
    """What a ``Threshold(t)`` policy keeps: micro precision/recall over evidence pages,
    the mean share of characters kept, and on criteria with no relevant page the share that
    keep anything and the mean pages they keep."""
    kept_rel = kept_all = total_rel = 0
    shares = []
    empty_keep, empty_pages, n_empty = 0, 0, 0
    for c in items:
        kept = [i for i, s in enumerate(c.scores) if s >= t]
        total = sum(c.page_chars) or 1
        shares.append(sum(c.page_chars[i] for i in kept) / total)
        kept_all += len(kept)
        kept_rel += len(set(kept) & c.relevant)
        total_rel += len(c.relevant)
        if not c.relevant:
            n_empty += 1
            empty_keep += bool(kept)
            empty_pages += len(kept)
    return {
        "threshold": t,
        "precision": kept_rel / kept_all if kept_all else math.nan,
        "recall": kept_rel / total_rel if total_rel else math.nan,
        "chars_kept": float(np.mean(shares)) if shares else math.nan,
        "no_evidence_keep_rate": empty_keep / n_empty if n_empty else math.nan,
        "no_evidence_pages_kept": empty_pages / n_empty if n_empty else math.nan,
    }


def wilson_lower_bound(successes: int, n: int, confidence: float = 0.95) -> float:
    """One-sided Wilson score lower bound for a proportion."""
    if n == 0:
        return math.nan
    from statistics import NormalDist

    z = NormalDist().inv_cdf(confidence)
    p = successes / n
    centre = p + z * z / (2 * n)
    margin = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return (centre - margin) / (1 + z * z / n)
