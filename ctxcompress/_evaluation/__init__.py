"""Evaluation: labelled data, metrics, cross-validated calibration and thresholds, plots."""

from ._data import EvalCriterion, EvalDataset, EvalDocument, load_dataset
from ._harness import (
    DEFAULT_KS,
    SEMANTIC_THRESHOLDS,
    apply_calibrator,
    calibrate_cross_validated,
    evaluate,
    folds_by_document,
    score_dataset,
)
from ._metrics import ScoredCriterion
from ._plots import plot_report
from ._threshold import ThresholdChoice, choose_threshold, cross_validated_threshold

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
