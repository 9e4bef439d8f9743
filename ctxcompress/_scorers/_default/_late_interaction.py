"""Token-level matching of a criterion against a document's pages (late interaction).

A page's single embedding blurs its clauses together; matching token by token keeps them
apart. For each token of the criterion, its best cosine with any token of a page
(ColBERT's MaxSim, on the bi-encoder's contextual token embeddings); a page's score is the
mean of those maxima over the criterion's tokens, each weighted by how rare the token is
among the document's pages (BM25's IDF over token ids). The weighting is what makes it
work on a contract: "Confidential Information" is on every page of an NDA and counts for
almost nothing, "reverse engineer" is on one and counts for much.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["TokenMatrix", "document_frequencies", "streamed_maxsim"]

Array = np.ndarray[Any, Any]


# Rows of page tokens matched at once: bounds the similarity block (rows × all criteria's
# tokens, float32) to tens of megabytes however long the document.
CHUNK_ROWS = 8192
# Rows of page tokens embedded and held at once by streamed_maxsim: 32,768 rows of 384
# float16 values are 24 MB (and the model's float32 output for them 48 MB).
BLOCK_ROWS = 32_768


@dataclass(frozen=True)
class TokenMatrix:
    """One document's token embeddings, ready to be matched by any number of criteria."""

    vectors: Array  # every page's tokens stacked (rows × dim, float16, unit length)
    offsets: Array  # the first row of each page (pages + 1 entries; empty pages add none)
    doc_freq: dict[int, int]  # token id -> how many pages hold it, for the IDF weights

    @property
    def pages(self) -> int:
        return len(self.offsets) - 1

    @classmethod
    def build(cls, pages: Sequence[Array], page_ids: Sequence[Sequence[int]]) -> TokenMatrix:
        """``pages``: per page, its token embeddings (as ``BiEncoder.embed_tokens`` gives
        them); ``page_ids``: the matching token ids (``BiEncoder.token_ids``)."""
        if len(pages) != len(page_ids):
            raise ValueError("one id list per page")
        offsets = np.cumsum([0, *(len(p) for p in pages)]).astype(np.int64)
        dim = next((p.shape[1] for p in pages if len(p)), 0)
        filled = [p for p in pages if len(p)]
        vectors = (
            np.concatenate(filled).astype(np.float16) if filled else np.zeros((0, dim), np.float16)
        )
        # Counted once per document, so each criterion's IDF weights are dictionary lookups.
        return cls(vectors, offsets, document_frequencies(page_ids))

    def idf(self, query_ids: Sequence[int]) -> Array:
        """Per query token, BM25's IDF over the document's pages (always positive)."""
        return _idf(self.doc_freq, self.pages, query_ids)

    def maxsim(self, query: Array, query_ids: Sequence[int]) -> Array:
        """Per page, the IDF-weighted mean over the query's tokens of their best cosine
        with the page's tokens (0 for a page or a query without tokens)."""
        out: Array = self.maxsim_many([(query, query_ids)])[0]
        return out

    def maxsim_many(self, queries: Sequence[tuple[Array, Sequence[int]]]) -> Array:
        """(queries × pages) :meth:`maxsim` for many queries, matched in one pass."""
        stacked = stack_queries(queries)
        best = np.zeros((self.pages, len(stacked)), dtype=np.float32)  # page × query token
        if len(stacked) and len(self.vectors):
            fill_best(self.vectors, self.offsets, stacked, best)
        return weigh(best, queries, self.doc_freq, self.pages)


def document_frequencies(page_ids: Sequence[Sequence[int]]) -> dict[int, int]:
    """Token id -> how many pages hold it (the IDF weights' counts)."""
    return dict(Counter(t for ids in page_ids for t in set(ids)))


def stack_queries(queries: Sequence[tuple[Array, Sequence[int]]]) -> Array:
    """Every query's token embeddings stacked (float32), in query order."""
    filled = [np.asarray(q, np.float32) for q, _ in queries if len(q)]
    return np.concatenate(filled) if filled else np.zeros((0, 0), np.float32)


def fill_best(vectors: Array, offsets: Array, stacked: Array, best: Array) -> None:
    """Per page (``offsets`` into ``vectors``), each query token's best cosine with the
    page's tokens, written into ``best`` (pages × query tokens)."""
    pages = len(offsets) - 1
    for first, last in _chunks(offsets):
        rows = vectors[offsets[first] : offsets[last]].astype(np.float32)
        sims = rows @ stacked.T
        # One max per page over its rows: over ten times faster than np.maximum.reduceat
        # along axis 0, which walks the block column by column (a 10-K's 58 questions:
        # 4.0 s -> 2.2 s in all, the matrix product being the rest; docs/benchmarks.md).
        base = offsets[first]
        for page in range(first, min(last, pages)):
            a, b = offsets[page] - base, offsets[page + 1] - base
            if b > a:
                np.max(sims[a:b], axis=0, out=best[page])


def weigh(
    best: Array,
    queries: Sequence[tuple[Array, Sequence[int]]],
    doc_freq: dict[int, int],
    pages: int,
) -> Array:
    """(queries × pages): each query's IDF-weighted mean of its tokens' best cosines."""
    out = np.zeros((len(queries), pages), dtype=np.float64)
    column = 0
    for qi, (query, query_ids) in enumerate(queries):
        if not len(query):
            continue
        weights = _idf(doc_freq, pages, query_ids)
        total = float(weights.sum())
        span = best[:, column : column + len(query)].astype(np.float64)
        column += len(query)
        if math.isfinite(total) and total > 0:
            out[qi] = span @ weights / total
    return out


def _idf(doc_freq: dict[int, int], n: int, query_ids: Sequence[int]) -> Array:
    df = np.asarray([doc_freq.get(t, 0) for t in query_ids], np.float64)
    return np.log(1.0 + (n - df + 0.5) / (df + 0.5)) if n else np.zeros(len(query_ids))


def _chunks(offsets: Array) -> list[tuple[int, int]]:
    """Consecutive page ranges of about CHUNK_ROWS rows (a longer page is one range)."""
    pages = len(offsets) - 1
    chunks, first = [], 0
    for page in range(1, pages + 1):
        if offsets[page] - offsets[first] >= CHUNK_ROWS or page == pages:
            chunks.append((first, page))
            first = page
    return chunks


def streamed_maxsim(
    page_ids: Sequence[Sequence[int]],
    embed: Callable[[int, int], Sequence[Array]],
    queries: Sequence[tuple[Array, Sequence[int]]],
    *,
    block_rows: int = BLOCK_ROWS,
    progress: Callable[[int, int], None] | None = None,
) -> Array:
    """:meth:`TokenMatrix.maxsim_many` without holding the document's token matrix.

    ``page_ids`` are the pages' token ids (cheap: the IDF weights need all of them);
    ``embed(first, last)`` gives pages ``first..last-1``'s token embeddings. Pages are
    embedded and matched a block of about ``block_rows`` token rows at a time, so memory
    stays that of one block (tens of megabytes) however long the document, and each
    block's tokens are dropped once matched. The result equals the whole-matrix one: a
    page's maxima read its own rows only, and the weights are the document's.
    """
    pages = len(page_ids)
    stacked = stack_queries(queries)
    best = np.zeros((pages, len(stacked)), dtype=np.float32)
    first = 0
    while first < pages:
        last, rows = first, 0
        while last < pages and (last == first or rows + len(page_ids[last]) <= block_rows):
            rows += len(page_ids[last])
            last += 1
        vectors = embed(first, last)
        if len(stacked):
            block = TokenMatrix.build(vectors, page_ids[first:last])
            if len(block.vectors):
                fill_best(block.vectors, block.offsets, stacked, best[first:last])
        if progress is not None:
            progress(last, pages)
        first = last
    return weigh(best, queries, document_frequencies(page_ids), pages)
