"""Calibrated scores as a binary classifier: one probability and decision per label.

Multi-label by default: every label is decided on its own, its probability meaning the
same at any threshold on any task (0.5: as likely as not). ``exclusive=True`` reads the
same probabilities as "at most one label applies": each becomes the probability that it
is the one, they sum to at most 1 (the rest is "none"), and only the top label can be
decided positive.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._compressor import _resolve_scorer
from .._exceptions import InvalidInputError
from .._policies import _check_threshold
from .._scorers._base import Scorer
from ._scores import label_probabilities

__all__ = [
    "Classification",
    "LabelDecision",
    "check_labels",
    "classify",
    "classify_many",
    "exclusive_probabilities",
    "resolve_scorer",
]

# Probabilities are kept off 0 and 1 so that their odds stay finite.
_EPS = 1e-6


@dataclass(frozen=True, slots=True)
class LabelDecision:
    """One label's calibrated probability and whether it reached the threshold.

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
    exclusive: bool = False

    @property
    def positive(self) -> tuple[str, ...]:
        """The labels whose probability reached the threshold (with ``exclusive``: the top
        label when it did, else none)."""
        return tuple(d.label for d in self.labels if d.decision)

    @property
    def top(self) -> LabelDecision:
        """The most probable label (the first given on a tie), decided or not."""
        return max(self.labels, key=lambda d: d.probability)

    @property
    def none_probability(self) -> float | None:
        """With ``exclusive``: the probability that no label applies (1 - their sum)."""
        if not self.exclusive:
            return None
        return max(0.0, 1.0 - sum(d.probability for d in self.labels))

    def __getitem__(self, label: str) -> LabelDecision:
        for d in self.labels:
            if d.label == label:
                return d
        raise KeyError(label)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "scorer": self.scorer,
            "threshold": self.threshold,
            "exclusive": self.exclusive,
            "labels": {
                d.label: {"probability": round(d.probability, 6), "decision": d.decision}
                for d in self.labels
            },
            "positive": list(self.positive),
            "top": self.top.label,
        }
        if self.exclusive:
            out["none_probability"] = round(self.none_probability or 0.0, 6)
        return out


def exclusive_probabilities(probabilities: Sequence[float] | np.ndarray[Any, Any]) -> list[float]:
    """Independent per-label probabilities conditioned on "at most one label applies".

    With odds ``o_i = p_i / (1 - p_i)``, label i is the one with probability
    ``o_i / (1 + sum(o))`` and none is with ``1 / (1 + sum(o))``: the sum is below 1, the
    order of the labels is kept, and a single confident label stays confident.
    """
    p = np.clip(np.asarray(probabilities, dtype=np.float64), _EPS, 1.0 - _EPS)
    odds = p / (1.0 - p)
    return [float(v) for v in odds / (1.0 + odds.sum())]


def check_labels(labels: Mapping[str, str], what: str = "labels") -> None:
    if not isinstance(labels, Mapping) or not labels:
        raise InvalidInputError(f"{what} must be a non-empty mapping of name -> description")
    for name, description in labels.items():
        if not isinstance(name, str) or not name:
            raise InvalidInputError(f"{what}: names must be non-empty strings, got {name!r}")
        if not isinstance(description, str) or not description.strip():
            raise InvalidInputError(f"{what}: {name!r} needs a non-empty description")


def _check_text(text: object, what: str = "text to classify") -> str:
    if not isinstance(text, str) or not text.strip():
        raise InvalidInputError(f"{what} must be a non-empty string")
    return text


def resolve_scorer(scorer: Scorer | str | None) -> Scorer:
    """A scorer object, a spec for :func:`load_scorer`, or None: the shared default (the
    compressor's own rule; classification scores synchronously, so the scorer must have a
    sync path)."""
    resolved = _resolve_scorer(scorer)
    if not isinstance(resolved, Scorer):
        raise InvalidInputError(
            f"scorer {resolved.name!r} has only an async path; classification needs score_batch"
        )
    return resolved


def _decide(
    names: Sequence[str],
    row: Sequence[float],
    threshold: float,
    exclusive: bool,
    scorer: str,
) -> Classification:
    if exclusive:
        probabilities = exclusive_probabilities(row)
        top = int(np.argmax(probabilities))
        decisions = tuple(
            LabelDecision(n, p, i == top and p >= threshold)
            for i, (n, p) in enumerate(zip(names, probabilities, strict=True))
        )
    else:
        decisions = tuple(
            LabelDecision(n, float(p), float(p) >= threshold)
            for n, p in zip(names, row, strict=True)
        )
    return Classification(decisions, float(threshold), scorer, exclusive)


def classify_many(
    texts: Sequence[str],
    labels: Mapping[str, str],
    threshold: float = 0.5,
    *,
    scorer: Scorer | str | None = None,
    exclusive: bool = False,
) -> list[Classification]:
    """:func:`classify` for many texts against the same labels, scored together.

    Guide with examples: [Classification and routing][guide-classification].
    """
    if isinstance(texts, str) or not isinstance(texts, Sequence):
        raise InvalidInputError("texts must be a list of strings")
    for i, text in enumerate(texts):
        _check_text(text, f"text {i}")
    check_labels(labels)
    _check_threshold(threshold)
    resolved = resolve_scorer(scorer)
    if not texts:
        return []
    names = list(labels)
    matrix = label_probabilities(resolved, list(texts), [labels[n] for n in names])
    return [_decide(names, list(row), threshold, exclusive, resolved.name) for row in matrix]


def classify(
    text: str,
    labels: Mapping[str, str],
    threshold: float = 0.5,
    *,
    scorer: Scorer | str | None = None,
    exclusive: bool = False,
) -> Classification:
    """Decide each label for ``text``: ``labels`` maps a label name to its description.

    A label is positive when its probability is at least ``threshold``. Without a scorer
    the default scorer is built once per process and reused. ``exclusive=True``: at most
    one label applies (see :func:`exclusive_probabilities`); the top one is positive when
    its probability reaches the threshold.

    Guide with examples: [Classification and routing][guide-classification].
    """
    _check_text(text)
    return classify_many([text], labels, threshold, scorer=scorer, exclusive=exclusive)[0]
