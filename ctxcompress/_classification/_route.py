"""Routing and screening: the classifier's two most common uses, thin over its scores.

* :func:`route`: a batch of documents against destinations described in words; each
  document goes wherever its probability reaches the threshold (several places, or with
  ``exclusive=True`` the one best place), or nowhere.
* :func:`screen`: one text against a set of policies ("contains medical advice", "asks
  for personal data"); it passes when no policy applies.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .._scorers._base import Scorer
from ._classify import Classification, LabelDecision, check_labels, classify_many

__all__ = ["Routing", "Screening", "route", "screen"]


@dataclass(frozen=True, slots=True)
class Routing:
    """Where each document went: ``documents[i]`` is document i's classification.

    Guide with examples: [Classification and routing][guide-classification].
    """

    documents: tuple[Classification, ...]
    destinations: tuple[str, ...]

    @property
    def by_destination(self) -> dict[str, list[int]]:
        """Destination -> the indices of the documents routed there, in input order."""
        out: dict[str, list[int]] = {d: [] for d in self.destinations}
        for i, c in enumerate(self.documents):
            for label in c.positive:
                out[label].append(i)
        return out

    @property
    def unrouted(self) -> list[int]:
        """Indices of the documents that no destination took."""
        return [i for i, c in enumerate(self.documents) if not c.positive]

    def to_dict(self) -> dict[str, Any]:
        return {
            "by_destination": self.by_destination,
            "unrouted": self.unrouted,
            "documents": [c.to_dict() for c in self.documents],
        }


def route(
    documents: Sequence[str],
    destinations: Mapping[str, str],
    threshold: float = 0.5,
    *,
    scorer: Scorer | str | None = None,
    exclusive: bool = False,
) -> Routing:
    """Route each document to the destinations (name -> description) whose probability
    reaches ``threshold``; ``exclusive=True`` sends each to its single best destination
    (or none).

    Guide with examples: [Classification and routing][guide-classification].
    """
    check_labels(destinations, "destinations")
    results = classify_many(documents, destinations, threshold, scorer=scorer, exclusive=exclusive)
    return Routing(tuple(results), tuple(destinations))


@dataclass(frozen=True, slots=True)
class Screening:
    """A text checked against policies: which apply, and whether it passed (none did).

    Guide with examples: [Classification and routing][guide-classification].
    """

    result: Classification

    @property
    def flagged(self) -> tuple[str, ...]:
        return self.result.positive

    @property
    def passed(self) -> bool:
        return not self.result.positive

    @property
    def policies(self) -> tuple[LabelDecision, ...]:
        return self.result.labels

    def to_dict(self) -> dict[str, Any]:
        return {"passed": self.passed, "flagged": list(self.flagged), **self.result.to_dict()}


def screen(
    text: str,
    policies: Mapping[str, str],
    threshold: float = 0.5,
    *,
    scorer: Scorer | str | None = None,
) -> Screening:
    """Check ``text`` against ``policies`` (name -> what the policy catches, in words):
    every policy whose probability reaches ``threshold`` is flagged.

    Guide with examples: [Classification and routing][guide-classification].
    """
    check_labels(policies, "policies")
    return Screening(classify_many([text], policies, threshold, scorer=scorer)[0])
