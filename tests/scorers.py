"""Small scorers for tests: real BaseScorer subclasses with controllable behaviour."""

from __future__ import annotations

import threading
from collections.abc import Sequence

from ctxcompress import BaseScorer, Criterion, Page, Scores, ScoringError


class KeywordScorer(BaseScorer):
    """Probability 0.9 when the page contains the criterion's first word, else 0.05."""

    name = "keyword"

    def __init__(self) -> None:
        self.calls: list[tuple[list[str], int]] = []
        self._lock = threading.Lock()

    def _score(self, criteria: Sequence[Criterion], pages: Sequence[Page]) -> Scores:
        with self._lock:
            self.calls.append(([c.id for c in criteria], len(pages)))
        out = []
        for c in criteria:
            word = c.text.split()[0].lower()
            out.append([0.9 if word in p.text.lower() else 0.05 for p in pages])
        return Scores.of(out)


class FailingScorer(KeywordScorer):
    """Fails for any criterion whose text contains 'boom'."""

    name = "failing"

    def _score(self, criteria: Sequence[Criterion], pages: Sequence[Page]) -> Scores:
        if any("boom" in c.text for c in criteria):
            raise ScoringError("backend exploded")
        return super()._score(criteria, pages)


class NaNScorer(BaseScorer):
    name = "nan"

    def _score(self, criteria: Sequence[Criterion], pages: Sequence[Page]) -> Scores:
        return Scores.of([[float("nan")] * len(pages) for _ in criteria])


class ProtocolOnlyScorer:
    """Follows the Scorer protocol without BaseScorer; returns a short row."""

    name = "protocol-only"

    def score(self, criterion, pages):
        return self.score_batch([criterion], pages)[0]

    def score_batch(self, criteria, pages):
        return [[0.5] * (len(pages) - 1) for _ in criteria]


class PairCountingScorer(BaseScorer):
    """A pointwise scorer that counts every (criterion, page) pair it scores.

    The score is a deterministic function of the criterion and page text alone, so the
    same pair always gets the same score, whatever pages share the call.
    """

    name = "pair-counting"
    pointwise = True

    def __init__(self) -> None:
        self.pairs: list[tuple[str, str]] = []
        self._lock = threading.Lock()

    def _score(self, criteria: Sequence[Criterion], pages: Sequence[Page]) -> Scores:
        texts = [p.text for p in pages]
        with self._lock:
            self.pairs.extend((c.text, t) for c in criteria for t in texts)
        words = [set(c.text.lower().split()) for c in criteria]
        return Scores.of(
            [
                [min(0.99, 0.01 + 0.3 * len(w & set(t.lower().split()))) for t in texts]
                for w in words
            ]
        )
