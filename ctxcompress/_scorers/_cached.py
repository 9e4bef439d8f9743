"""A scorer wrapper that remembers pair scores in a :class:`~ctxcompress.Cache`.

A score is keyed by the scorer's fingerprint (model id and version), the criterion's
instruction and text, and a SHA-256 of the page text. For scorers whose scores depend on
the other pages too (``pointwise=False``: BM25, the default fusion), the key also holds a
digest of the whole document, so a score is reused only for the very same document.
Only misses are scored: for a pointwise scorer, only the missing pages of each criterion.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Sequence

from .._cache import Cache, MemoryCache, cache_key, text_digest
from .._exceptions import InvalidInputError
from .._types import Criterion, Page, PageFlag
from ._base import BaseScorer, PageNote, Scorer, Scores, fingerprint_of, is_pointwise, scores_of

__all__ = ["CachedScorer"]

# The key's namespace: "score2" entries carry the note's flags (see _encode).
_NAMESPACE = "score2"


def _encode(score: float, note: PageNote | None) -> bytes:
    # 8 bytes of score, then (only for a page with a note) the note as JSON.
    if note is None:
        return struct.pack(">d", score)
    payload = {"text": note.text, "flags": list(note.flags)}
    return struct.pack(">d", score) + json.dumps(payload).encode("utf-8")


def _decode(blob: bytes) -> tuple[float, PageNote | None]:
    (score,) = struct.unpack(">d", blob[:8])
    if len(blob) == 8:
        return float(score), None
    payload = json.loads(blob[8:].decode("utf-8"))
    flags: tuple[PageFlag, ...] = tuple(payload.get("flags", ()))
    return float(score), PageNote(payload.get("text"), flags)


class CachedScorer(BaseScorer):
    """``CachedScorer(scorer, cache)``: the same scores as ``scorer``, computed once.

    ``scorer`` is any object implementing the :class:`Scorer` protocol; ``cache`` a
    :class:`MemoryCache` (default, 100,000 scores) or a :class:`SQLiteCache` shared between
    runs and processes. Pages served from the cache carry the ``"cached"`` flag.

    Guide with examples: [Choosing a scorer][guide-scorers].
    """

    def __init__(self, scorer: Scorer, cache: Cache | None = None) -> None:
        if not isinstance(scorer, Scorer):
            raise InvalidInputError(
                f"CachedScorer wraps a scorer (score, score_batch and name), "
                f"got {type(scorer).__name__}"
            )
        self.scorer = scorer
        self.cache: Cache = cache if cache is not None else MemoryCache()
        self.name = scorer.name
        self.pointwise = is_pointwise(scorer)

    @property
    def fingerprint(self) -> str:
        return fingerprint_of(self.scorer)

    def _keys(self, criteria: Sequence[Criterion], texts: Sequence[str]) -> list[list[str]]:
        digests = [text_digest(t) for t in texts]
        document = None if self.pointwise else cache_key(*digests)
        model = self.fingerprint
        return [
            [cache_key(_NAMESPACE, model, c.instruction, c.text, d, document) for d in digests]
            for c in criteria
        ]

    def _score(self, criteria: Sequence[Criterion], pages: Sequence[Page]) -> Scores:
        keys = self._keys(criteria, [p.text for p in pages])
        found = self.cache.get_many([k for row in keys for k in row])
        # Group criteria by the pages they miss, so misses are scored in as few calls as the
        # wrapped scorer allows (all pages, for a scorer that is not pointwise).
        groups: dict[tuple[int, ...], list[int]] = {}
        for ci, row in enumerate(keys):
            missing = tuple(pi for pi, k in enumerate(row) if k not in found)
            if missing:
                group = missing if self.pointwise else tuple(range(len(pages)))
                groups.setdefault(group, []).append(ci)
        new: dict[str, bytes] = {}
        for group, cis in groups.items():
            scored = scores_of(
                self.scorer, [criteria[ci] for ci in cis], [pages[pi] for pi in group]
            )
            for position, ci in enumerate(cis):
                for j, pi in enumerate(group):
                    new[keys[ci][pi]] = _encode(scored.rows[position][j], scored.note(position, j))
        if new:
            self.cache.put_many(new)
        rows: list[list[float]] = []
        notes: dict[tuple[int, int], PageNote] = {}
        for ci, row in enumerate(keys):
            scores = []
            for pi, k in enumerate(row):
                hit = k in found
                score, note = _decode(found[k] if hit else new[k])
                scores.append(score)
                if hit:
                    note = (note or PageNote()).with_flag("cached")
                if note is not None:
                    notes[(ci, pi)] = note
            rows.append(scores)
        return Scores.of(rows, notes)

    def __repr__(self) -> str:
        return f"CachedScorer({self.scorer!r}, cache={self.cache!r})"
