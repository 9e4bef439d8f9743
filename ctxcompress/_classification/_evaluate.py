"""Labelled texts for the classifier: the JSONL format, the metrics, calibration.

One item a line: ``{"id": str, "text": str, "labels": {name: description}, "gold": [names
that apply]}`` (extra keys are ignored). All of an item's labels are scored in one call,
as ``classify()`` would; for near-duplicate data (each description a reference text),
``duplicates=True`` scores each pair as ``duplicate_probability()`` does. Metrics, over
every (item, label) pair:

* macro-F1 (the mean over label names of each label's F1) and micro-F1 at given
  thresholds, and the threshold with the best macro-F1 (searched on a 0.01 grid);
* AUROC of the pooled probabilities, ECE (10 equal-width bins) and the reliability table;
* top-1: the share of items with a gold label whose most probable label is gold.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from .._calibration import CalibrationMethod, Calibrator, fit_calibrator
from .._evaluation._metrics import reliability_bins
from .._exceptions import InvalidInputError
from .._scorers._base import Scorer
from ._duplicates import symmetric_pair_probabilities
from ._scores import label_probabilities

__all__ = [
    "LabelledText",
    "calibrate_classifier",
    "classification_report",
    "load_items",
    "score_items",
]

Array = np.ndarray[Any, Any]


class LabelledText(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    id: str = ""
    text: str = Field(min_length=1)
    labels: dict[str, str] = Field(min_length=1)
    gold: tuple[str, ...] = ()

    @field_validator("labels")
    @classmethod
    def _descriptions(cls, value: dict[str, str]) -> dict[str, str]:
        empty = [k for k, v in value.items() if not k or not v.strip()]
        if empty:
            raise ValueError(f"labels need names and non-empty descriptions: {empty}")
        return value


def load_items(path: str | Path) -> list[LabelledText]:
    """Read labelled texts from a JSONL file; one error names the first bad line."""
    file = Path(path)
    if not file.is_file():
        raise InvalidInputError(f"no classification data file at {file}")
    items = []
    with file.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                item = LabelledText.model_validate(json.loads(line))
            except (json.JSONDecodeError, ValidationError) as exc:
                raise InvalidInputError(f"{file}:{number}: not a labelled text ({exc})") from exc
            unknown = [g for g in item.gold if g not in item.labels]
            if unknown:
                raise InvalidInputError(f"{file}:{number}: gold names unknown labels {unknown}")
            items.append(item)
    if not items:
        raise InvalidInputError(f"{file} holds no labelled texts")
    return items


def score_items(
    scorer: Scorer, items: Sequence[LabelledText], *, duplicates: bool = False
) -> list[dict[str, float]]:
    """Per item, label -> probability; items sharing a label set are scored together.

    ``duplicates``: each label's description is a reference text and the probability is
    that the item's text is its near-duplicate (what :func:`duplicate_probability` gives),
    not that the text is about it (what :func:`classify` answers)."""
    if duplicates:
        pairs = [(item.text, d) for item in items for d in item.labels.values()]
        flat = iter(symmetric_pair_probabilities(scorer, pairs))
        return [{n: float(next(flat)) for n in item.labels} for item in items]
    out: list[dict[str, float]] = [{} for _ in items]
    groups: dict[tuple[tuple[str, str], ...], list[int]] = {}
    for i, item in enumerate(items):
        groups.setdefault(tuple(item.labels.items()), []).append(i)
    for key, members in groups.items():
        names = [name for name, _ in key]
        matrix = label_probabilities(scorer, [items[i].text for i in members], [d for _, d in key])
        for row, i in zip(matrix, members, strict=True):
            out[i] = {n: float(p) for n, p in zip(names, row, strict=True)}
    return out


@dataclass(frozen=True)
class _Pairs:
    probabilities: Array
    gold: Array
    names: list[str]


def _pairs(probabilities: Sequence[Mapping[str, float]], gold: Sequence[Sequence[str]]) -> _Pairs:
    if len(probabilities) != len(gold):
        raise InvalidInputError("one gold list per item")
    p, y, names = [], [], []
    for row, golds in zip(probabilities, gold, strict=True):
        for name, value in row.items():
            p.append(value)
            y.append(float(name in golds))
            names.append(name)
    return _Pairs(np.asarray(p, np.float64), np.asarray(y, np.float64), names)


def _f1(tp: int, fp: int, fn: int) -> float:
    return 0.0 if tp == 0 else 2 * tp / (2 * tp + fp + fn)


def _f1_scores(pairs: _Pairs, threshold: float) -> tuple[float, float]:
    decided = pairs.probabilities >= threshold
    gold = pairs.gold > 0
    per_label = []
    names = np.asarray(pairs.names)
    for name in dict.fromkeys(pairs.names):
        mask = names == name
        d, g = decided[mask], gold[mask]
        per_label.append(_f1(int((d & g).sum()), int((d & ~g).sum()), int((~d & g).sum())))
    micro = _f1(
        int((decided & gold).sum()), int((decided & ~gold).sum()), int((~decided & gold).sum())
    )
    return float(np.mean(per_label)), micro


def _auroc(scores: Array, labels: Array) -> float:
    positives = labels > 0
    n1, n0 = int(positives.sum()), int((~positives).sum())
    if not n1 or not n0:
        return math.nan
    order = np.argsort(scores, kind="mergesort")
    ranks = np.empty(len(scores))
    sorted_scores = scores[order]
    # Tied scores share their mean rank.
    _, first, counts = np.unique(sorted_scores, return_index=True, return_counts=True)
    mean_rank = first + (counts + 1) / 2.0
    ranks[order] = np.repeat(mean_rank, counts)
    return float((ranks[positives].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


def reliability(scores: Array, labels: Array, bins: int = 10) -> list[dict[str, float]]:
    return reliability_bins(scores, labels, bins)


def _ece(table: list[dict[str, float]]) -> float:
    total = sum(r["n"] for r in table)
    return float(
        sum(r["n"] / total * abs(r["mean_predicted"] - r["observed_rate"]) for r in table if r["n"])
    )


def classification_report(
    probabilities: Sequence[Mapping[str, float]] | Sequence[Sequence[float]],
    gold: Sequence[Sequence[str]] | Sequence[Sequence[float]],
    *,
    thresholds: Sequence[float] = (0.3, 0.4, 0.5),
) -> dict[str, Any]:
    """The metrics of the module doc. ``probabilities``: per item, label -> probability
    (or a list, its labels then named by position, with ``gold`` as 0/1 lists)."""
    rows: list[Mapping[str, float]] = []
    golds: list[list[str]] = []
    for row, g in zip(probabilities, gold, strict=True):
        if isinstance(row, Mapping):
            rows.append(row)
            golds.append([str(x) for x in g])
        else:
            rows.append({str(i): float(str(v)) for i, v in enumerate(row)})
            golds.append([str(i) for i, v in enumerate(g) if float(str(v)) > 0])
    pairs = _pairs(rows, golds)
    at = []
    for t in thresholds:
        macro, micro = _f1_scores(pairs, t)
        at.append({"threshold": float(t), "macro_f1": macro, "micro_f1": micro})
    grid = [round(0.01 * i, 2) for i in range(1, 100)]
    macros = [_f1_scores(pairs, t)[0] for t in grid]
    best = int(np.argmax(macros))
    with_gold = [(r, g) for r, g in zip(rows, golds, strict=True) if g and len(r) > 1]
    top1 = (
        float(np.mean([max(r, key=lambda k: r[k]) in g for r, g in with_gold]))
        if with_gold
        else None
    )
    table = reliability(pairs.probabilities, pairs.gold)
    return {
        "items": len(rows),
        "pairs": len(pairs.probabilities),
        "positives": int(pairs.gold.sum()),
        "thresholds": at,
        "best": {"threshold": grid[best], "macro_f1": macros[best]},
        "auroc": _auroc(pairs.probabilities, pairs.gold),
        "ece": _ece(table),
        "top1": top1,
        "reliability": table,
    }


def calibrate_classifier(
    scorer: Scorer,
    items: Sequence[LabelledText],
    method: CalibrationMethod,
    *,
    folds: int = 5,
    fitted_on: dict[str, Any] | None = None,
    duplicates: bool = False,
) -> tuple[Calibrator, list[dict[str, float]], list[dict[str, float]]]:
    """Fit a calibrator of the scorer's classification probabilities on ``items``; also
    returns the raw and the ``folds``-fold cross-validated (by item) calibrated
    probabilities, to measure it on texts it was not fitted on. ``duplicates``: as in
    :func:`score_items`."""
    raw = score_items(scorer, items, duplicates=duplicates)
    pairs = _pairs(raw, [i.gold for i in items])
    owner = np.repeat(np.arange(len(items)), [len(r) for r in raw])
    calibrated = np.zeros_like(pairs.probabilities)
    fold_of = np.arange(len(items)) % folds
    for f in range(folds):
        test = fold_of[owner] == f
        if not test.any() or test.all():
            continue
        fold = fit_calibrator(pairs.probabilities[~test], pairs.gold[~test], method, scorer.name)
        calibrated[test] = fold.transform(pairs.probabilities[test])
    calibrator = fit_calibrator(
        pairs.probabilities, pairs.gold, method, scorer.name,
        fitted_on={"task": "duplicates" if duplicates else "classify", **(fitted_on or {})},
    )  # fmt: skip
    held_out: list[dict[str, float]] = []
    cursor = 0
    for row in raw:
        held_out.append({n: float(calibrated[cursor + k]) for k, n in enumerate(row)})
        cursor += len(row)
    return calibrator, raw, held_out
