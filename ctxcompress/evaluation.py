"""Measuring scorers on labelled data: ``from ctxcompress.evaluation import ...``.

Loads the page-selection format and BEIR folders, scores them, and reports Recall@K,
characters kept, MRR, NDCG@10, ECE and reliability; chooses thresholds and fits
calibrators with cross-validation by document; draws the recall curve (extra ``plot``).
"""

from ._evaluation import (
    DEFAULT_KS,
    SEMANTIC_THRESHOLDS,
    EvalCriterion,
    EvalDataset,
    EvalDocument,
    ScoredCriterion,
    ThresholdChoice,
    apply_calibrator,
    calibrate_cross_validated,
    choose_threshold,
    cross_validated_threshold,
    evaluate,
    folds_by_document,
    load_dataset,
    plot_report,
    score_dataset,
)

__all__ = [
    "DEFAULT_KS",
    "SEMANTIC_THRESHOLDS",
    "EvalCriterion",
    "EvalDataset",
    "EvalDocument",
    "ScoredCriterion",
    "ThresholdChoice",
    "apply_calibrator",
    "calibrate_cross_validated",
    "choose_threshold",
    "cross_validated_threshold",
    "evaluate",
    "folds_by_document",
    "load_dataset",
    "plot_report",
    "score_dataset",
]
