"""Near-duplicate detection: between two texts, and within a collection.

Two texts are near-duplicates when they say essentially the same thing (a paraphrase, a
reworded copy). The probability is the classifier's, with one text as the other's only
label, averaged over both directions so that ``a`` vs ``b`` equals ``b`` vs ``a``.

Within a collection, scoring every pair is quadratic (20,000 texts: 200 million pairs), so
candidates come first from embeddings: each text's ``neighbours`` nearest texts by the
bi-encoder's cosine (one matrix product per block of rows), kept when the cosine reaches
``min_cosine``; only those pairs get the calibrated pair score.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._exceptions import InvalidInputError
from .._policies import _check_threshold
from .._scorers._base import Scorer
from .._scorers._default._scorer import DefaultScorer
from ._classify import resolve_scorer
from ._scores import pair_probabilities

__all__ = [
    "DuplicatePair",
    "duplicate_probability",
    "find_duplicates",
    "nearest_pairs",
    "symmetric_pair_probabilities",
]

Array = np.ndarray[Any, Any]
# Rows of the collection compared against all others at once: bounds the block of cosines
# to BLOCK × texts floats (1024 × 20,000 × 4 bytes = 80 MB).
BLOCK = 1024


@dataclass(frozen=True, slots=True)
class DuplicatePair:
    """Texts ``first`` < ``second`` (indices into the collection) and their probability;
    ``cosine`` is their embeddings' similarity, which made them a candidate pair.

    Guide with examples: [Classification and routing][guide-classification].
    """

    first: int
    second: int
    probability: float
    cosine: float


def _check_texts(texts: Sequence[str]) -> None:
    if isinstance(texts, str) or not isinstance(texts, Sequence):
        raise InvalidInputError("texts must be a list of strings")
    for i, text in enumerate(texts):
        if not isinstance(text, str) or not text.strip():
            raise InvalidInputError(f"text {i} must be a non-empty string")


def symmetric_pair_probabilities(scorer: Scorer, pairs: Sequence[tuple[str, str]]) -> Array:
    """Per (a, b): the pair probability averaged over both directions."""
    both = [*pairs, *((b, a) for a, b in pairs)]
    scores = pair_probabilities(scorer, both)
    out: Array = (scores[: len(pairs)] + scores[len(pairs) :]) / 2.0
    return out


def duplicate_probability(a: str, b: str, *, scorer: Scorer | str | None = None) -> float:
    """The probability that ``a`` and ``b`` are near-duplicates (symmetric).

    Guide with examples: [Classification and routing][guide-classification].
    """
    _check_texts([a, b])
    return float(symmetric_pair_probabilities(resolve_scorer(scorer), [(a, b)])[0])


def nearest_pairs(
    embeddings: Array, neighbours: int, min_cosine: float
) -> list[tuple[int, int, float]]:
    """Candidate pairs ``(i, j, cosine)`` with i < j: each row's ``neighbours`` most
    similar rows (unit-length embeddings) whose cosine reaches ``min_cosine``."""
    n = len(embeddings)
    k = min(neighbours, n - 1)
    found: dict[tuple[int, int], float] = {}
    if k < 1:
        return []
    vectors = np.asarray(embeddings, dtype=np.float32)
    for start in range(0, n, BLOCK):
        block = vectors[start : start + BLOCK] @ vectors.T  # rows × all
        rows = np.arange(len(block))
        block[rows, rows + start] = -np.inf  # not a duplicate of itself
        top = np.argpartition(-block, k - 1, axis=1)[:, :k]
        for r, cols in enumerate(top):
            i = start + r
            for j in cols:
                cosine = float(block[r, j])
                if cosine >= min_cosine:
                    found[(min(i, int(j)), max(i, int(j)))] = cosine
    return [(i, j, c) for (i, j), c in sorted(found.items())]


def _unwrap(scorer: object) -> object:
    """The scorer a wrapper (``CachedScorer.scorer``, ``CalibratedScorer.inner``, a
    cascade's stages aside) delegates to, down to the first that wraps nothing."""
    seen: set[int] = set()
    while id(scorer) not in seen:
        seen.add(id(scorer))
        inner = getattr(scorer, "inner", None) or getattr(scorer, "scorer", None)
        if not isinstance(inner, Scorer):
            break
        scorer = inner
    return scorer


def _default_embedder(scorer: Scorer) -> Callable[[Sequence[str]], Array]:
    """The embedded bi-encoder of ``scorer`` (or of what it wraps); another scorer has no
    embeddings to offer, so the caller must pass ``embed=``."""
    inner = _unwrap(scorer)
    if not isinstance(inner, DefaultScorer):
        raise InvalidInputError(
            f"find_duplicates needs embeddings for its candidate pairs and scorer "
            f"{scorer.name!r} has none: pass embed= (texts -> unit-length vectors), or use "
            "the default scorer (extra 'cpu')"
        )
    return inner.bi_encoder.encoder.embed


def find_duplicates(
    texts: Sequence[str],
    threshold: float = 0.5,
    *,
    scorer: Scorer | str | None = None,
    neighbours: int = 10,
    min_cosine: float = 0.5,
    embed: Callable[[Sequence[str]], Array] | None = None,
) -> list[DuplicatePair]:
    """Pairs of near-duplicates within ``texts`` whose probability reaches ``threshold``,
    most probable first. Candidates: each text's ``neighbours`` nearest texts by cosine
    (``embed``: texts -> unit vectors; default: the embedded bi-encoder) at or above
    ``min_cosine``; only candidates are scored, so the cost grows with
    ``len(texts) * neighbours``, not with the square of ``len(texts)``.

    Guide with examples: [Classification and routing][guide-classification].
    """
    _check_texts(texts)
    _check_threshold(threshold)
    # bool is an int subclass: neighbours=True would silently mean 1.
    if isinstance(neighbours, bool) or not isinstance(neighbours, int) or neighbours < 1:
        raise InvalidInputError(f"neighbours must be a positive integer, got {neighbours!r}")
    if (
        isinstance(min_cosine, bool)
        or not isinstance(min_cosine, (int, float))
        or not -1.0 <= min_cosine <= 1.0
    ):
        raise InvalidInputError(f"min_cosine must be a number between -1 and 1, got {min_cosine!r}")
    if embed is not None and not callable(embed):
        raise InvalidInputError(f"embed must be callable (texts -> vectors), got {embed!r}")
    resolved = resolve_scorer(scorer)
    if len(texts) < 2:
        return []
    vectors = (embed or _default_embedder(resolved))(list(texts))
    candidates = nearest_pairs(np.asarray(vectors), neighbours, min_cosine)
    probabilities = symmetric_pair_probabilities(
        resolved, [(texts[i], texts[j]) for i, j, _ in candidates]
    )
    pairs = [
        DuplicatePair(i, j, float(p), c)
        for (i, j, c), p in zip(candidates, probabilities, strict=True)
        if p >= threshold
    ]
    return sorted(pairs, key=lambda d: (-d.probability, d.first, d.second))
