"""A scorer wrapper that remembers pair scores in a :class:`~ctxcompress.Cache`.

A score is keyed by the scorer's fingerprint (model id and version), the criterion's
instruction and text, and a SHA-256 of the page text. For scorers whose scores depend on
the other pages too (``pointwise=False``: BM25, the default fusion), the key also holds a
digest of the whole document, so a score is reused only for the very same document.
Only misses are scored: for a pointwise scorer, only the missing pages of each criterion.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence

from ._cache import Cache, MemoryCache, cache_key, text_digest
from ._exceptions import InvalidInputError
from ._scorer import BaseScorer, ScoreNotes
from ._types import Criterion

__all__ = ["CachedScorer"]


def _encode(score: float, note: str | None) -> bytes:
    return struct.pack(">d", score) + (note.encode("utf-8") if note is not None else b"")


def _decode(blob: bytes) -> tuple[float, str | None]:
    (score,) = struct.unpack(">d", blob[:8])
    return float(score), (blob[8:].decode("utf-8") if len(blob) > 8 else None)


class CachedScorer(BaseScorer):
    """``CachedScorer(scorer, cache)``: the same scores as ``scorer``, computed once.

    ``cache`` is a :class:`MemoryCache` (default, 100,000 scores) or a :class:`SQLiteCache`
    shared between runs and processes.
    """

    def __init__(self, scorer: BaseScorer, cache: Cache | None = None) -> None:
        if not isinstance(scorer, BaseScorer):
            raise InvalidInputError(
                f"CachedScorer wraps a ctxcompress scorer, got {type(scorer).__name__}"
            )
        self.scorer = scorer
        self.cache: Cache = cache if cache is not None else MemoryCache()
        self.name = scorer.name
        self.pointwise = scorer.pointwise

    @property
    def fingerprint(self) -> str:
        return self.scorer.fingerprint

    def _keys(self, criteria: Sequence[Criterion], texts: Sequence[str]) -> list[list[str]]:
        digests = [text_digest(t) for t in texts]
        document = None if self.pointwise else cache_key(*digests)
        model = self.scorer.fingerprint
        return [
            [cache_key("score", model, c.instruction, c.text, d, document) for d in digests]
            for c in criteria
        ]

    def _score_many(self, criteria: Sequence[Criterion], texts: Sequence[str]) -> list[list[float]]:
        return self._score_many_noted(criteria, texts)[0]

    def _score_many_noted(
        self, criteria: Sequence[Criterion], texts: Sequence[str]
    ) -> tuple[list[list[float]], ScoreNotes]:
        keys = self._keys(criteria, texts)
        found = self.cache.get_many([k for row in keys for k in row])
        # Group criteria by the pages they miss, so misses are scored in as few calls as the
        # wrapped scorer allows (all pages, for a scorer that is not pointwise).
        groups: dict[tuple[int, ...], list[int]] = {}
        for ci, row in enumerate(keys):
            missing = tuple(pi for pi, k in enumerate(row) if k not in found)
            if missing:
                pages = missing if self.pointwise else tuple(range(len(texts)))
                groups.setdefault(pages, []).append(ci)
        new: dict[str, bytes] = {}
        for pages, cis in groups.items():
            rows, notes = self.scorer.score_batch_noted(
                [criteria[ci] for ci in cis], [texts[pi] for pi in pages]
            )
            for position, ci in enumerate(cis):
                for j, pi in enumerate(pages):
                    new[keys[ci][pi]] = _encode(rows[position][j], notes.get((position, j)))
        if new:
            self.cache.put_many(new)
            found = {**found, **new}
        out: list[list[float]] = []
        out_notes: ScoreNotes = {}
        for ci, row in enumerate(keys):
            scores = []
            for pi, k in enumerate(row):
                score, note = _decode(found[k])
                scores.append(score)
                if note is not None:
                    out_notes[(ci, pi)] = note
            out.append(scores)
        return out, out_notes

    def __repr__(self) -> str:
        return f"CachedScorer({self.scorer!r}, cache={self.cache!r})"
