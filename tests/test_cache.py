"""Caches: identical scores on hits, misses on any change of text or model, limits, clear."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from ctxcompress import (
    BM25Scorer,
    CachedScorer,
    Compressor,
    Criterion,
    InvalidInputError,
    MemoryCache,
    SQLiteCache,
)
from ctxcompress._cache import cache_key

from .scorers import PairCountingScorer

PAGES = [
    "Methotrexate was stopped after three months for liver toxicity.",
    "Billing statement: copay due on receipt.",
    "TB screening: QuantiFERON negative in March.",
]
CRITERIA = [Criterion("mtx", "failed trial of methotrexate"), Criterion("tb", "TB screening")]


@pytest.fixture(params=["memory", "sqlite"])
def cache(request: pytest.FixtureRequest, tmp_path: Path) -> MemoryCache | SQLiteCache:
    if request.param == "memory":
        return MemoryCache()
    return SQLiteCache(tmp_path / "scores.sqlite")


def test_hits_return_identical_scores_without_scoring_again(cache) -> None:
    inner = PairCountingScorer()
    scorer = CachedScorer(inner, cache)
    first = scorer.score_batch(CRITERIA, PAGES)
    assert len(inner.pairs) == 6
    second = scorer.score_batch(CRITERIA, PAGES)
    assert second == first
    assert len(inner.pairs) == 6  # all hits
    assert cache.stats().hits == 6


def test_one_changed_character_misses_only_that_page(cache) -> None:
    inner = PairCountingScorer()
    scorer = CachedScorer(inner, cache)
    scorer.score_batch(CRITERIA, PAGES)
    edited = [PAGES[0], PAGES[1], PAGES[2].replace("March", "Marcj")]
    rows = scorer.score_batch(CRITERIA, edited)
    assert len(inner.pairs) == 8  # one page × two criteria rescored
    assert inner.pairs[-2:] == [(c.text, edited[2]) for c in CRITERIA]
    assert rows == PairCountingScorer().score_batch(CRITERIA, edited)


def test_instruction_and_criterion_text_are_part_of_the_key(cache) -> None:
    inner = PairCountingScorer()
    scorer = CachedScorer(inner, cache)
    scorer.score_batch(CRITERIA, PAGES)
    scorer.score_batch([Criterion("mtx", CRITERIA[0].text, instruction="Be strict.")], PAGES)
    scorer.score_batch([Criterion("mtx", CRITERIA[0].text + "?")], PAGES)
    assert len(inner.pairs) == 12


def test_a_different_model_never_reuses_scores(cache) -> None:
    class Other(PairCountingScorer):
        name = "another-model"

    CachedScorer(PairCountingScorer(), cache).score_batch(CRITERIA, PAGES)
    other = Other()
    CachedScorer(other, cache).score_batch(CRITERIA, PAGES)
    assert len(other.pairs) == 6


def test_document_relative_scorers_are_keyed_by_the_whole_document(cache) -> None:
    # BM25's scores depend on the other pages: the same page in another document misses.
    scorer = CachedScorer(BM25Scorer(), cache)
    assert not scorer.pointwise
    full = scorer.score_batch(CRITERIA, PAGES)
    assert full == BM25Scorer().score_batch(CRITERIA, PAGES)
    shorter = scorer.score_batch(CRITERIA, PAGES[:2])
    assert shorter == BM25Scorer().score_batch(CRITERIA, PAGES[:2])


def test_memory_cache_evicts_least_recently_used() -> None:
    cache = MemoryCache(max_entries=2)
    cache.put_many({"a": b"1", "b": b"2"})
    cache.get_many(["a"])  # a is now the most recent
    cache.put_many({"c": b"3"})
    assert set(cache.get_many(["a", "b", "c"])) == {"a", "c"}
    assert cache.stats().entries == 2


def test_sqlite_cache_persists_limits_and_clears(tmp_path: Path) -> None:
    path = tmp_path / "c.sqlite"
    SQLiteCache(path).put_many({"k": b"v"})
    reopened = SQLiteCache(path, max_entries=10)
    assert reopened.get_many(["k"]) == {"k": b"v"}
    reopened.put_many({f"x{i}": b"." for i in range(30)})
    assert reopened.stats().entries <= 10
    reopened.clear()
    assert reopened.stats().entries == 0
    assert reopened.get_many(["k"]) == {}


def test_sqlite_cache_is_safe_under_concurrent_use(tmp_path: Path) -> None:
    cache = SQLiteCache(tmp_path / "c.sqlite")
    second_handle = SQLiteCache(tmp_path / "c.sqlite")  # as another process would open it
    errors: list[BaseException] = []

    def work(n: int, target: SQLiteCache) -> None:
        try:
            for i in range(50):
                target.put_many({f"{n}-{i}": str(i).encode()})
                assert target.get_many([f"{n}-{i}"]) == {f"{n}-{i}": str(i).encode()}
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [
        threading.Thread(target=work, args=(n, cache if n % 2 else second_handle)) for n in range(6)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert cache.stats().entries == 300


def test_keys_separate_parts_unambiguously() -> None:
    assert cache_key("ab", "c") != cache_key("a", "bc")
    assert cache_key(None, "x") != cache_key("", "x")


@pytest.mark.parametrize("bad", [0, -1, True, 1.5])
def test_limits_are_validated(bad, tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="max_entries"):
        MemoryCache(bad)
    with pytest.raises(InvalidInputError, match="max_entries"):
        SQLiteCache(tmp_path / "x.sqlite", max_entries=bad)


def test_cached_scorer_works_inside_the_compressor() -> None:
    inner = PairCountingScorer()
    compressor = Compressor(CachedScorer(inner), token_counter="whitespace")
    a = compressor.compress(PAGES, CRITERIA)
    b = compressor.compress(PAGES, CRITERIA)
    assert [s.kept_indices for s in a.selections] == [s.kept_indices for s in b.selections]
    assert len(inner.pairs) == 6
