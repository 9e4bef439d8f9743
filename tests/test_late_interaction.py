"""Token-level MaxSim: the best match of each criterion token, weighted by its rarity."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ctxcompress._scorers._default import _late_interaction as late
from ctxcompress._scorers._default._late_interaction import TokenMatrix


def _unit(rows: np.ndarray) -> np.ndarray:
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def _brute_force(query: np.ndarray, qids: list[int], pages: list[np.ndarray], ids: list[list[int]]):
    n = len(pages)
    idf = np.array(
        [math.log(1 + (n - (df := sum(t in p for p in ids)) + 0.5) / (df + 0.5)) for t in qids]
    )
    out = []
    for page in pages:
        best = (query @ page.T).max(axis=1) if len(page) else np.zeros(len(query))
        out.append(float(best @ idf / idf.sum()) if len(page) else 0.0)
    return np.array(out)


def test_matches_a_brute_force_maxsim_with_idf_weights() -> None:
    rng = np.random.default_rng(3)
    sizes = [5, 1, 9, 3]
    pages = [_unit(rng.normal(size=(n, 8))).astype(np.float16) for n in sizes]
    ids = [list(rng.integers(0, 12, size=n)) for n in sizes]
    query = _unit(rng.normal(size=(4, 8)))
    qids = [0, 3, 7, 11]
    got = TokenMatrix.build(pages, ids).maxsim(query, qids)
    want = _brute_force(query, qids, [p.astype(np.float32) for p in pages], ids)
    assert np.allclose(got, want, atol=1e-3)  # pages are kept at float16


def test_a_token_on_every_page_counts_less_than_a_rare_one() -> None:
    shared, rare = np.eye(4)[0], np.eye(4)[1]
    pages = [np.stack([shared, rare]), np.stack([shared]), np.stack([shared])]
    ids = [[1, 2], [1], [1]]
    matrix = TokenMatrix.build(pages, ids)
    idf = matrix.idf([1, 2])
    assert idf[0] < idf[1]
    scores = matrix.maxsim(np.stack([shared, rare]), [1, 2])
    # Only page 0 holds the rare token; the shared one alone earns little.
    assert scores[0] == 1.0 and scores[1] < 0.5 and scores[1] == scores[2]


def test_pages_or_queries_without_tokens_score_zero() -> None:
    token = np.eye(3)[:1]
    matrix = TokenMatrix.build([np.zeros((0, 3)), token, np.zeros((0, 3))], [[], [5], []])
    assert list(matrix.maxsim(token, [5])) == [0.0, 1.0, 0.0]
    assert list(matrix.maxsim(np.zeros((0, 3)), [])) == [0.0, 0.0, 0.0]
    empty = TokenMatrix.build([np.zeros((0, 3))], [[]])
    assert list(empty.maxsim(token, [5])) == [0.0]


def test_many_queries_in_chunks_match_one_at_a_time(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(5)
    sizes = [4, 0, 7, 2, 5, 0, 3]
    pages = [_unit(rng.normal(size=(n, 6))) if n else np.zeros((0, 6)) for n in sizes]
    ids = [list(rng.integers(0, 9, size=n)) for n in sizes]
    queries = [
        (_unit(rng.normal(size=(k, 6))), list(rng.integers(0, 9, size=k))) for k in (3, 0, 5)
    ]
    whole = TokenMatrix.build(pages, ids)
    monkeypatch.setattr(late, "CHUNK_ROWS", 4)  # several pages a chunk, some alone
    chunked = whole.maxsim_many(queries)
    assert chunked.shape == (3, len(sizes))
    for qi, (q, qids) in enumerate(queries):
        want = _brute_force(q, qids, pages, ids) if len(q) else np.zeros(len(sizes))
        assert np.allclose(chunked[qi], want, atol=1e-3)  # float16 storage


@pytest.mark.parametrize("block_rows", [1, 5, 9, 1000])
def test_streamed_blocks_equal_the_whole_matrix(block_rows: int) -> None:
    # Issue 25: a long document is embedded and matched a block at a time; the answer must
    # be the whole-matrix one exactly, and only the block asked for is embedded each time.
    rng = np.random.default_rng(9)
    sizes = [4, 0, 7, 2, 5, 0, 3, 6]
    pages = [_unit(rng.normal(size=(n, 6))) if n else np.zeros((0, 6)) for n in sizes]
    ids = [list(rng.integers(0, 9, size=n)) for n in sizes]
    queries = [
        (_unit(rng.normal(size=(k, 6))), list(rng.integers(0, 9, size=k))) for k in (3, 0, 5)
    ]
    asked: list[tuple[int, int]] = []
    seen: list[tuple[int, int]] = []

    def embed(first: int, last: int) -> list[np.ndarray]:
        asked.append((first, last))
        return pages[first:last]

    streamed = late.streamed_maxsim(
        ids, embed, queries, block_rows=block_rows, progress=lambda d, t: seen.append((d, t))
    )
    assert np.array_equal(streamed, TokenMatrix.build(pages, ids).maxsim_many(queries))
    assert [a for a, _ in asked] == [0, *(b for _, b in asked[:-1])] and asked[-1][1] == len(sizes)
    assert seen[-1] == (len(sizes), len(sizes))
    if block_rows == 1:
        assert len(asked) == len(sizes)  # one page a block, however small the budget
