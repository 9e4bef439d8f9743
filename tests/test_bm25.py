"""BM25: ranks by term evidence, maps to probabilities as documented, batches across criteria."""

from __future__ import annotations

import math

import pytest

from ctxcompress import BM25Scorer, Criterion, InvalidInputError
from ctxcompress._scorers._bm25 import BIAS, COVERAGE_WEIGHT, tokenize


def test_relevant_pages_rank_first(small_pages: list[str]) -> None:
    scores = BM25Scorer().score("failed trial of metformin", small_pages)
    ranked = sorted(range(len(scores)), key=lambda i: -scores[i])
    assert set(ranked[:2]) == {1, 3}
    assert all(0.0 <= s <= 1.0 for s in scores)


def test_no_shared_term_means_a_small_probability(small_pages: list[str]) -> None:
    scores = BM25Scorer().score("zebra xylophone", small_pages)
    assert max(scores) < 0.02
    assert 1 / (1 + math.exp(-BIAS)) < 0.02  # the documented floor


def test_full_coverage_of_rare_terms_is_likely() -> None:
    pages = ["unrelated text about billing"] * 9 + ["quantiferon negative result"]
    scores = BM25Scorer().score("quantiferon negative", pages)
    assert scores[9] > 0.5 > max(scores[:9])
    assert COVERAGE_WEIGHT > 0


def test_batch_equals_one_by_one(small_pages: list[str]) -> None:
    scorer = BM25Scorer()
    criteria = ["metformin failed", "insurance card appointment", "billing copay"]
    batch = scorer.score_batch(criteria, small_pages)
    assert batch == [scorer.score(c, small_pages) for c in criteria]


def test_instruction_adds_terms() -> None:
    pages = ["alpha beta", "gamma delta", "epsilon zeta"]
    plain = BM25Scorer().score(Criterion("q", "alpha"), pages)
    with_instruction = BM25Scorer().score(Criterion("q", "alpha", instruction="gamma"), pages)
    assert with_instruction[1] > plain[1]


def test_single_page_scores_from_coverage_alone() -> None:
    [high] = BM25Scorer().score("refund request", ["customer asks for a refund request"])
    [low] = BM25Scorer().score("refund request", ["weather is sunny"])
    assert high > 0.5 > low


def test_tokenize_stems_plurals_and_drops_stopwords() -> None:
    assert tokenize("The trials of therapies") == ["trial", "therapy"]


def test_raw_scores_are_plain_bm25() -> None:
    raw = BM25Scorer().raw_scores("metformin", ["metformin metformin", "nothing here", "x y"])
    assert raw[0] > 0 and raw[1] == 0 and raw[2] == 0


def test_bad_parameters() -> None:
    with pytest.raises(InvalidInputError, match="k1"):
        BM25Scorer(k1=-1)
    with pytest.raises(InvalidInputError, match="b must"):
        BM25Scorer(b=2)
