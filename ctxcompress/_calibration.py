"""Calibrators: map a scorer's scores to probabilities that mean what they say.

Three methods, fitted from labelled (score, relevant?) pairs:

* ``platt``: ``p = sigmoid(a * s + b)`` on the raw score (logistic regression);
* ``affine``: ``p = sigmoid(a * logit(s) + b)`` on the score's logit, and ``temperature``,
  its one-parameter form ``sigmoid(logit(s) / T)``, for scores that are already
  probabilities with the wrong confidence;
* ``isotonic``: the monotone step function that best fits the labels (pool adjacent
  violators), interpolated linearly between steps.

A calibrator is saved as JSON (never pickle) with the id of the scorer it was fitted for,
and :class:`~ctxcompress.CalibratedScorer` (in ``_scorers/_calibrated``) refuses to apply
it to any other scorer.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from ._exceptions import InvalidInputError

__all__ = [
    "CalibrationMethod",
    "Calibrator",
    "fit_calibrator",
    "load_calibrator",
]

CalibrationMethod = Literal["platt", "isotonic", "affine", "temperature"]
METHODS: tuple[CalibrationMethod, ...] = ("platt", "isotonic", "affine", "temperature")
FORMAT = "ctxcompress-calibrator"
_EPS = 1e-6

Array = npt.NDArray[np.float64]


def _logit(p: Array) -> Array:
    q = np.clip(p, _EPS, 1 - _EPS)
    out: Array = np.log(q / (1 - q))
    return out


def _sigmoid(x: Array) -> Array:
    out: Array = 1.0 / (1.0 + np.exp(-np.clip(x, -500, 500)))
    return out


@dataclass(frozen=True)
class Calibrator:
    """A fitted score → probability map for one scorer (``scorer_id``).

    Guide with examples: [Evaluation, calibration and plots][guide-evaluation].
    """

    method: CalibrationMethod
    scorer_id: str
    params: dict[str, Any]
    fitted_on: dict[str, Any] = field(default_factory=dict)

    def __call__(self, scores: Sequence[float] | Array) -> list[float]:
        return [float(v) for v in self.transform(np.asarray(scores, dtype=np.float64))]

    def transform(self, s: Array) -> Array:
        p = self.params
        if self.method == "platt":
            return _sigmoid(p["a"] * s + p["b"])
        if self.method in ("affine", "temperature"):
            return _sigmoid(p["a"] * _logit(s) + p["b"])
        xs = np.asarray(p["x"], dtype=np.float64)
        ys = np.asarray(p["y"], dtype=np.float64)
        out: Array = np.interp(s, xs, ys)
        return out

    def to_json(self) -> str:
        return json.dumps(
            {
                "format": FORMAT,
                "version": 1,
                "method": self.method,
                "scorer_id": self.scorer_id,
                "params": self.params,
                "fitted_on": self.fitted_on,
            },
            indent=2,
        )

    def save(self, path: str | os.PathLike[str]) -> None:
        Path(path).write_text(self.to_json() + "\n", encoding="utf-8")

    @classmethod
    def from_json(cls, text: str) -> Calibrator:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InvalidInputError(f"calibrator file is not JSON: {exc.msg}") from exc
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise InvalidInputError(f"not a ctxcompress calibrator (expected format {FORMAT!r})")
        method = data.get("method")
        if method not in METHODS:
            raise InvalidInputError(
                f"unknown calibration method {method!r}; known: {', '.join(METHODS)}"
            )
        params = data.get("params")
        needed = ("x", "y") if method == "isotonic" else ("a", "b")
        if not isinstance(params, dict) or any(k not in params for k in needed):
            raise InvalidInputError(f"{method} calibrator needs params {', '.join(needed)}")
        scorer_id = data.get("scorer_id")
        if not isinstance(scorer_id, str) or not scorer_id:
            raise InvalidInputError("calibrator has no scorer_id")
        return cls(method, scorer_id, params, data.get("fitted_on") or {})


def load_calibrator(path: str | os.PathLike[str]) -> Calibrator:
    """Read a calibrator written by ``ctxcompress calibrate`` or ``Calibrator.save``.

    Wrap the scorer it was fitted for with ``CalibratedScorer(scorer, calibrator)``.

    Guide with examples: [Evaluation, calibration and plots][guide-evaluation].
    """

    file = Path(path)
    if not file.is_file():
        raise InvalidInputError(f"no calibrator file at {file}")
    return Calibrator.from_json(file.read_text(encoding="utf-8"))


def fit_calibrator(
    scores: Sequence[float] | Array,
    labels: Sequence[int] | Sequence[bool] | npt.NDArray[Any],
    method: CalibrationMethod,
    scorer_id: str,
    *,
    fitted_on: dict[str, Any] | None = None,
) -> Calibrator:
    """Fit a calibrator of ``method`` to (score, label) pairs of the scorer ``scorer_id``.

    Guide with examples: [Evaluation, calibration and plots][guide-evaluation].
    """
    s = np.asarray(scores, dtype=np.float64)
    y = np.asarray(labels, dtype=np.float64)
    if s.shape != y.shape or s.ndim != 1:
        raise InvalidInputError(
            f"scores and labels must be equal-length lists ({s.shape} vs {y.shape})"
        )
    if len(s) < 2 or not np.all(np.isfinite(s)):
        raise InvalidInputError("need at least two finite scores to fit a calibrator")
    if not np.all((y == 0) | (y == 1)):
        raise InvalidInputError("labels must be 0/1")
    if method not in METHODS:
        raise InvalidInputError(
            f"unknown calibration method {method!r}; known: {', '.join(METHODS)}"
        )
    info = {"n": len(s), "positives": int(y.sum()), **(fitted_on or {})}
    if method == "isotonic":
        xs, ys = _isotonic(s, y)
        return Calibrator(method, scorer_id, {"x": xs, "y": ys}, info)
    feature = s if method == "platt" else _logit(s)
    a, b = _logistic(feature, y, fit_bias=method != "temperature")
    return Calibrator(method, scorer_id, {"a": a, "b": b}, info)


def _logistic(x: Array, y: Array, *, fit_bias: bool, iters: int = 100) -> tuple[float, float]:
    """Logistic regression on one feature by Newton's method, with a tiny ridge for safety."""
    w = np.array([1.0, 0.0])
    design = np.stack([x, np.ones_like(x)], axis=1)
    for _ in range(iters):
        p = _sigmoid(design @ w)
        grad = design.T @ (p - y) + 1e-6 * w
        weights = p * (1 - p)
        hess = design.T @ (design * weights[:, None]) + 1e-6 * np.eye(2)
        if not fit_bias:
            grad[1] = 0.0
            hess[0, 1] = hess[1, 0] = 0.0
            hess[1, 1] = 1.0
        step = np.linalg.solve(hess, grad)
        w = w - step
        if float(np.max(np.abs(step))) < 1e-10:
            break
    return float(w[0]), float(w[1])


def _isotonic(s: Array, y: Array) -> tuple[list[float], list[float]]:
    """Pool adjacent violators; returns block centres and their fitted rates."""
    order = np.argsort(s, kind="stable")
    xs, ys = s[order], y[order]
    # Each block: [sum of y, count, sum of x]; merge while a block's mean drops below the last.
    blocks: list[list[float]] = []
    for xv, yv in zip(xs, ys, strict=True):
        blocks.append([float(yv), 1.0, float(xv)])
        while len(blocks) > 1 and blocks[-2][0] / blocks[-2][1] >= blocks[-1][0] / blocks[-1][1]:
            last = blocks.pop()
            blocks[-1] = [blocks[-1][0] + last[0], blocks[-1][1] + last[1], blocks[-1][2] + last[2]]
    centres = [b[2] / b[1] for b in blocks]
    rates = [b[0] / b[1] for b in blocks]
    return centres, rates
