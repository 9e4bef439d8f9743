"""Policies: unit cases, and properties that must hold for every input (hypothesis)."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ctxcompress import Hybrid, InvalidPolicyError, Threshold, TokenBudget, TopK
from ctxcompress._policies import Candidate, select_union


def cands(*scores: float, tokens: int = 10) -> list[Candidate]:
    return [Candidate(i, s, tokens) for i, s in enumerate(scores)]


candidate_lists = st.lists(
    st.tuples(st.floats(0, 1, allow_nan=False), st.integers(0, 500)), min_size=0, max_size=40
).map(lambda xs: [Candidate(i, s, t) for i, (s, t) in enumerate(xs)])


def kept(policy, candidates):
    return {d.index for d in policy.select(candidates).decisions if d.kept}


def test_threshold_keeps_scores_at_or_above() -> None:
    assert kept(Threshold(0.5), cands(0.49, 0.5, 0.9)) == {1, 2}


def test_top_k_breaks_ties_by_page_order() -> None:
    out = TopK(2).select(cands(0.7, 0.9, 0.7, 0.7))
    assert out.ranked_kept == (1, 0)


def test_token_budget_skips_a_page_that_does_not_fit_and_reports_it() -> None:
    c = [Candidate(0, 0.9, 60), Candidate(1, 0.8, 50), Candidate(2, 0.7, 30)]
    out = TokenBudget(100).select(c)
    assert out.ranked_kept == (0, 2)
    assert out.truncated_by_budget
    assert "over token budget" in out.decisions[1].rule


def test_hybrid_min_keep_floor_beats_threshold_but_not_budget() -> None:
    assert kept(Hybrid(threshold=0.8, min_keep=1), cands(0.1, 0.3)) == {1}
    c = [Candidate(0, 0.2, 500)]
    assert kept(Hybrid(threshold=0.8, min_keep=1, max_tokens=100), c) == set()


def test_decisions_cover_every_page_in_document_order_with_a_rule() -> None:
    out = Hybrid(top_k=1, threshold=0.2).select(cands(0.1, 0.9, 0.5))
    assert [d.index for d in out.decisions] == [0, 1, 2]
    assert [d.kept for d in out.decisions] == [False, True, False]
    assert "threshold" in out.decisions[0].rule
    assert "top_k" in out.decisions[2].rule


def test_policies_compose_with_and() -> None:
    p = Threshold(0.4) & TopK(5) & TokenBudget(1000) & TopK(3)
    assert p == Hybrid(top_k=3, threshold=0.4, max_tokens=1000)


@pytest.mark.parametrize(
    "build",
    [
        lambda: TopK(0),
        lambda: TopK(-1),
        lambda: TopK(2.5),
        lambda: TopK(True),
        lambda: Threshold(1.5),
        lambda: Threshold(-0.1),
        lambda: Threshold(math.nan),
        lambda: Threshold(None),
        lambda: TokenBudget(0),
        lambda: Hybrid(min_keep=-1),
        lambda: Hybrid(top_k=2, min_keep=3),
        lambda: Threshold("0.4"),
    ],
)
def test_invalid_parameters_raise_naming_the_value(build) -> None:
    with pytest.raises(InvalidPolicyError):
        build()


def test_error_names_the_offending_value() -> None:
    with pytest.raises(InvalidPolicyError, match=r"1\.5"):
        Threshold(1.5)


# --- properties -------------------------------------------------------------------------


@given(candidate_lists, st.floats(0, 1), st.floats(0, 1))
def test_threshold_is_monotone(cs: list[Candidate], a: float, b: float) -> None:
    lo, hi = min(a, b), max(a, b)
    assert kept(Threshold(hi), cs) <= kept(Threshold(lo), cs)


@given(candidate_lists, st.integers(1, 50))
def test_top_k_keeps_exactly_min_k_n_and_the_best(cs: list[Candidate], k: int) -> None:
    out = TopK(k).select(cs)
    assert len(out.ranked_kept) == min(k, len(cs))
    if out.ranked_kept and len(cs) > k:
        worst_kept = min(cs[i].score for i in out.ranked_kept)
        assert all(c.score <= worst_kept for c in cs if c.index not in out.ranked_kept)


@given(
    candidate_lists,
    st.integers(1, 3000),
    st.one_of(st.none(), st.integers(1, 20)),
    st.one_of(st.none(), st.floats(0, 1)),
    st.integers(0, 3),
)
def test_token_budget_is_never_exceeded(
    cs: list[Candidate], budget: int, k: int | None, t: float | None, floor: int
) -> None:
    if k is not None:
        floor = min(floor, k)
    for policy in (
        TokenBudget(budget),
        Hybrid(top_k=k, threshold=t, max_tokens=budget, min_keep=floor),
    ):
        out = policy.select(cs)
        assert sum(cs[i].tokens for i in out.ranked_kept) <= budget
        assert len(out.decisions) == len(cs)


@given(candidate_lists, st.integers(0, 5), st.floats(0, 1))
def test_min_keep_floor(cs: list[Candidate], floor: int, t: float) -> None:
    out = Hybrid(threshold=t, min_keep=floor).select(cs)
    assert len(out.ranked_kept) >= min(floor, len(cs))


@given(
    st.lists(candidate_lists, min_size=1, max_size=5), st.one_of(st.none(), st.integers(1, 2000))
)
def test_union_is_deduplicated_sorted_and_within_budget(
    per_criterion: list[list[Candidate]], budget: int | None
) -> None:
    # Same pages (same token counts) across criteria, as in one document.
    tokens = {}
    for cs in per_criterion:
        for c in cs:
            tokens.setdefault(c.index, c.tokens)
    aligned = [[Candidate(c.index, c.score, tokens[c.index]) for c in cs] for cs in per_criterion]
    union, truncated = select_union(aligned, budget)
    assert union == sorted(set(union))
    every = {c.index for cs in aligned for c in cs}
    assert set(union) <= every
    if budget is None:
        assert set(union) == every and not truncated
    else:
        assert sum(tokens[i] for i in union) <= budget


def test_union_budget_is_shared_fairly() -> None:
    a = [Candidate(i, 0.9, 10) for i in range(5)]
    b = [Candidate(i, 0.9, 10) for i in range(5, 10)]
    union, truncated = select_union([a, b], max_tokens=40)
    assert union == [0, 1, 5, 6]
    assert truncated


def test_ranked_kept_is_what_select_keeps() -> None:
    """The pruner's fast pick agrees with select for every knob (seeded random cases)."""
    import random

    rng = random.Random(5)
    for _ in range(300):
        n = rng.randint(0, 12)
        candidates = [
            Candidate(i, rng.choice([0.0, 0.1, 0.5, 0.5, 0.9, rng.random()]), rng.randint(0, 40))
            for i in range(n)
        ]
        top_k = rng.choice([None, 1, 3, 20])
        policy = Hybrid(
            top_k=top_k,
            threshold=rng.choice([None, 0.0, 0.3, 0.5]),
            max_tokens=rng.choice([None, 1, 50, 200]) if top_k else rng.choice([10, 50, 200]),
            min_keep=rng.choice([0, 1]) if top_k is None or top_k >= 1 else 0,
        )
        assert policy.ranked_kept(candidates) == policy.select(candidates).ranked_kept
