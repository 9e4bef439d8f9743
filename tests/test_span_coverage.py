"""span_coverage: the criterion's terms must occur together (within one clause-sized span)."""

from __future__ import annotations

import pytest

from ctxcompress import InvalidInputError
from ctxcompress._scorers._bm25 import _Index, span_coverage

FILLER = " ".join(f"filler{i}" for i in range(40))  # 40 distinct non-stopword terms

PAGES = [
    # Both terms in one clause.
    "The recipient shall not reverse engineer the prototype.",
    # Both terms on the page, forty terms apart.
    f"Reverse the charges. {FILLER} Engineer the rollout.",
    # One of the two terms.
    "Engineer the rollout.",
    "Nothing relevant here.",
]


def test_terms_together_beat_terms_far_apart() -> None:
    index = _Index.build(PAGES)
    together, apart, one, none = span_coverage(index, "reverse engineer", span=16)
    assert together == pytest.approx(1.0)
    # The distant page has both terms but never inside one span: only the heavier one counts.
    assert apart < together and apart == pytest.approx(max(one, 1 - one))
    assert 0.0 < one < 1.0
    assert none == 0.0


def test_a_wide_enough_span_sees_both_terms() -> None:
    index = _Index.build(PAGES)
    assert span_coverage(index, "reverse engineer", span=64)[1] == pytest.approx(1.0)


def test_shares_are_idf_weighted() -> None:
    # "prototype" is on one page, "engineer" on three: the rarer term weighs more.
    index = _Index.build(PAGES)
    scores = span_coverage(index, "engineer prototype")
    assert scores[2] < 0.5 < scores[0] and scores[0] == pytest.approx(1.0)


def test_a_query_of_stopwords_covers_nothing() -> None:
    index = _Index.build(PAGES)
    assert span_coverage(index, "the of and") == [0.0] * len(PAGES)


def test_span_must_be_positive() -> None:
    with pytest.raises(InvalidInputError, match="span"):
        span_coverage(_Index.build(PAGES), "reverse", span=0)
