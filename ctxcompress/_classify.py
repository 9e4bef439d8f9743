"""Calibrated scores as a binary classifier: one probability and decision per label.

Each label's description is treated as a criterion and the text as a single page, so the
same scorer that selects pages also routes, screens and tags texts (multi-label: every
label is decided on its own).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ._exceptions import InvalidInputError
from ._policies import _check_threshold
from ._scorers._base import Scorer, validate_scores
from ._scorers._registry import load_scorer
from ._types import Criterion

__all__ = ["Classification", "LabelDecision", "classify"]


@dataclass(frozen=True, slots=True)
class LabelDecision:
    """One label of a ``Classification``: its calibrated probability, and whether it
    reached the threshold.

    Guide with examples: [Classification and routing][guide-classification].
    """

    label: str
    probability: float
    decision: bool


@dataclass(frozen=True, slots=True)
class Classification:
    """Per-label probabilities and decisions, in the order the labels were given.

    Guide with examples: [Classification and routing][guide-classification].
    """

    labels: tuple[LabelDecision, ...]
    threshold: float
    scorer: str

    @property
    def positive(self) -> tuple[str, ...]:
        """The labels whose probability reached the threshold."""
        return tuple(d.label for d in self.labels if d.decision)

    def __getitem__(self, label: str) -> LabelDecision:
        for d in self.labels:
            if d.label == label:
                return d
        raise KeyError(label)

    def to_dict(self) -> dict[str, Any]:
        return {
            "scorer": self.scorer,
            "threshold": self.threshold,
            "labels": {
                d.label: {"probability": round(d.probability, 6), "decision": d.decision}
                for d in self.labels
            },
            "positive": list(self.positive),
        }


def classify(
    text: str,
    labels: Mapping[str, str],
    threshold: float = 0.5,
    *,
    scorer: Scorer | str | None = None,
) -> Classification:
    """Decide each label for ``text``: ``labels`` maps a label name to its description.

    A label is positive when its probability is at least ``threshold``.

    Guide with examples: [Classification and routing][guide-classification].
    """
    if not isinstance(text, str) or not text.strip():
        raise InvalidInputError("text to classify must be a non-empty string")
    if not isinstance(labels, Mapping) or not labels:
        raise InvalidInputError("labels must be a non-empty mapping of name -> description")
    _check_threshold(threshold)
    criteria = []
    for name, description in labels.items():
        if not isinstance(name, str) or not name:
            raise InvalidInputError(f"label names must be non-empty strings, got {name!r}")
        if not isinstance(description, str) or not description.strip():
            raise InvalidInputError(f"label {name!r} needs a non-empty description")
        criteria.append(Criterion(id=name, text=description))
    resolved = (
        load_scorer("default")
        if scorer is None
        else load_scorer(scorer)
        if isinstance(scorer, str)
        else scorer
    )
    rows = validate_scores(resolved.name, criteria, 1, resolved.score_batch(criteria, [text]))
    decisions = tuple(
        LabelDecision(c.id, row[0], row[0] >= threshold)
        for c, row in zip(criteria, rows, strict=True)
    )
    return Classification(decisions, float(threshold), resolved.name)
