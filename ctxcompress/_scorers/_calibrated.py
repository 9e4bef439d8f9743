"""A scorer whose scores pass through a calibrator fitted for it (see ``_calibration``)."""

from __future__ import annotations

from collections.abc import Sequence

from .._calibration import Calibrator
from .._exceptions import InvalidInputError
from .._types import Criterion, Page
from . import _base
from ._base import BaseScorer, Scorer, Scores

__all__ = ["CalibratedScorer"]


class CalibratedScorer(BaseScorer):
    """Wraps any scorer and passes its scores through a calibrator fitted for it.

    The inner scorer's notes (windowed pages, cascade pruning) pass through unchanged.

    Guide with examples: [Evaluation, calibration and plots][guide-evaluation].
    """

    def __init__(self, scorer: Scorer, calibrator: Calibrator) -> None:
        _base.check_scorer(scorer, "CalibratedScorer wraps a scorer")
        if calibrator.scorer_id != scorer.name:
            raise InvalidInputError(
                f"calibrator was fitted for scorer {calibrator.scorer_id!r}, not {scorer.name!r}; "
                "refit it for this scorer"
            )
        self.inner = scorer
        self.calibrator = calibrator
        self.name = f"{scorer.name}+{calibrator.method}"
        self.pointwise = _base.is_pointwise(scorer)

    @property
    def fingerprint(self) -> str:
        return f"{_base.fingerprint_of(self.inner)}+{self.calibrator.method}:{self.calibrator.to_json()}"

    def _calibrated(self, raw: Scores) -> Scores:
        return Scores.of([self.calibrator(list(row)) for row in raw.rows], raw.notes)

    def _score(self, criteria: Sequence[Criterion], pages: Sequence[Page]) -> Scores:
        return self._calibrated(_base.scores_of(self.inner, criteria, pages))

    async def _ascore(self, criteria: Sequence[Criterion], pages: Sequence[Page]) -> Scores:
        return self._calibrated(await _base.ascores_of(self.inner, criteria, pages))
