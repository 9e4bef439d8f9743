"""The compressor end to end: selection, reporting, failure handling, sync and async."""

from __future__ import annotations

import copy
import json
import logging

import anyio
import pytest

from ctxcompress import (
    DEFAULT_POLICY,
    Compressor,
    Criterion,
    Hybrid,
    InvalidInputError,
    Page,
    ScorerOutputError,
    Scores,
    ScoringError,
    Threshold,
    TokenBudget,
    TopK,
    WhitespaceTokenCounter,
    classify,
    select_relevant_pages,
)

from .scorers import FailingScorer, KeywordScorer, NaNScorer, ProtocolOnlyScorer

PAGES = [
    "metformin trial failed after six months",
    "billing statement and copay",
    "insulin started; metformin stopped",
    "appointment reminder",
]


def compressor(**kw):
    kw.setdefault("token_counter", WhitespaceTokenCounter())
    return Compressor(kw.pop("scorer", KeywordScorer()), kw.pop("policy", Threshold(0.5)), **kw)


def test_keeps_what_the_policy_allows_and_reports_it() -> None:
    result = compressor().compress(PAGES, ["metformin failure", "appointment date"])
    sel = result["c0"]
    assert sel.kept_indices == (0, 2)
    assert [sp.score for sp in sel.kept] == [0.9, 0.9]
    assert sel.chars_total == sum(len(p) for p in PAGES)
    assert sel.chars_kept == len(PAGES[0]) + len(PAGES[2])
    assert sel.tokens_total == sum(len(p.split()) for p in PAGES)
    assert sel.tokens_kept == len(PAGES[0].split()) + len(PAGES[2].split())
    assert sel.compression_ratio == pytest.approx(sel.chars_total / sel.chars_kept)
    assert [d.kept for d in sel.decisions] == [True, False, True, False]
    assert all(d.rule for d in sel.decisions)
    assert result["c1"].kept_indices == (3,)
    assert result.union.kept_indices == (0, 2, 3)
    assert result.union.criteria_by_page == {0: ("c0",), 2: ("c0",), 3: ("c1",)}


def test_scorer_batches_across_criteria() -> None:
    scorer = KeywordScorer()
    compressor(scorer=scorer).compress(PAGES, [f"metformin {i}" for i in range(20)])
    assert [len(ids) for ids, _ in scorer.calls] == [16, 4]  # criteria_per_call=16


def test_output_order_by_score_or_document() -> None:
    class Graded(KeywordScorer):
        def _score(self, criteria, pages):
            return Scores.of([[0.2, 0.9, 0.5, 0.7] for _ in criteria])

    doc = compressor(scorer=Graded(), policy=TopK(3)).compress(PAGES, "q")["c0"]
    by_score = compressor(scorer=Graded(), policy=TopK(3), order="score").compress(PAGES, "q")["c0"]
    assert doc.kept_indices == (1, 2, 3)
    assert by_score.kept_indices == (1, 3, 2)


def test_token_budget_and_union_budget() -> None:
    result = compressor(policy=TokenBudget(6), union_max_tokens=5).compress(PAGES, ["metformin"])
    sel = result["c0"]
    assert sel.tokens_kept <= 6 and sel.truncated_by_budget
    assert result.union.tokens_kept <= 5


def test_inputs_are_not_mutated() -> None:
    pages = [Page(text=t, index=i, metadata={"k": [1]}) for i, t in enumerate(PAGES)]
    snapshot = copy.deepcopy(pages)
    criteria = [Criterion("a", "metformin")]
    compressor().compress(pages, criteria)
    assert pages == snapshot and [dict(p.metadata) for p in pages] == [{"k": [1]}] * 4
    with pytest.raises(TypeError):
        pages[0].metadata["k"] = 2  # type: ignore[index]


def test_on_error_raise_is_the_default() -> None:
    with pytest.raises(ScoringError, match="exploded"):
        compressor(scorer=FailingScorer()).compress(PAGES, ["boom", "metformin"])


def test_on_error_keep_fails_open_per_criterion(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="ctxcompress"):
        result = compressor(scorer=FailingScorer(), on_error="keep").compress(
            PAGES, ["boom now", "metformin"]
        )
    failed, ok = result["c0"], result["c1"]
    assert failed.failed and "exploded" in (failed.error or "")
    assert failed.kept_indices == (0, 1, 2, 3)
    assert all(sp.score is None for sp in failed.kept)
    assert all("scoring failed" in d.rule for d in failed.decisions)
    assert ok.kept_indices == (0, 2) and not ok.failed  # the good criterion was rescored alone
    assert result.failed_criteria == ("c0",)
    assert "keeping all 4 pages" in caplog.text
    assert json.loads(json.dumps(result.to_dict()))["failed_criteria"] == ["c0"]


def test_nan_scores_raise_a_clear_error() -> None:
    with pytest.raises(ScorerOutputError, match=r"nan.*page 0"):
        compressor(scorer=NaNScorer()).compress(PAGES, "q")


def test_protocol_only_scorers_are_validated_too() -> None:
    with pytest.raises(ScorerOutputError, match="3 scores for 4 pages"):
        compressor(scorer=ProtocolOnlyScorer()).compress(PAGES, "q")


@pytest.mark.parametrize(
    ("document", "criteria", "match"),
    [
        ("", "q", "empty"),
        ([], "q", "no pages"),
        (["  ", ""], "q", "blank"),
        (PAGES, "", "non-empty"),
        (PAGES, [], "no criteria"),
        ([1, 2], "q", "page 0 must be a str"),
        (PAGES, [Criterion("a", "x"), Criterion("a", "y")], "duplicate criterion id"),
        ([Page("x", index=3)], "q", "index"),
    ],
)
def test_bad_input_is_named(document, criteria, match: str) -> None:
    with pytest.raises(InvalidInputError, match=match):
        compressor().compress(document, criteria)


def test_bad_settings_are_named() -> None:
    with pytest.raises(InvalidInputError, match="order"):
        compressor(order="random")
    with pytest.raises(InvalidInputError, match="on_error"):
        compressor(on_error="ignore")
    with pytest.raises(InvalidInputError, match="policy"):
        Compressor(KeywordScorer(), policy=0.5)  # type: ignore[arg-type]


def test_a_string_document_is_split_into_pages() -> None:
    result = compressor().compress("metformin page\fother page", "metformin")
    assert len(result.pages) == 2 and result["c0"].kept_indices == (0,)


def test_progress_is_reported_in_pairs() -> None:
    seen: list[tuple[int, int]] = []
    compressor(progress=lambda d, t: seen.append((d, t)), criteria_per_call=2).compress(
        PAGES, ["a", "b", "c"]
    )
    assert seen == [(8, 12), (12, 12)]


def test_async_matches_sync() -> None:
    criteria = ["metformin", "appointment", "boom"]
    c = compressor(scorer=FailingScorer(), on_error="keep")
    sync = c.compress(PAGES, criteria)
    result = anyio.run(c.acompress, PAGES, criteria)
    assert result.to_dict() == sync.to_dict()


def test_async_raise() -> None:
    with pytest.raises(ScoringError):
        anyio.run(compressor(scorer=FailingScorer()).acompress, PAGES, "boom")


def test_default_compressor_needs_no_configuration(record_path) -> None:
    c = Compressor()
    assert c.policy == DEFAULT_POLICY
    result = c.compress(record_path.read_text(), "QuantiFERON tuberculosis screening negative")
    assert 12 in result["c0"].kept_indices  # the TB lab report (page 13)


def test_select_relevant_pages_one_off() -> None:
    sel = select_relevant_pages(
        PAGES, "metformin", scorer=KeywordScorer(), threshold=0.5, token_counter="whitespace"
    )
    assert sel.kept_indices == (0, 2)
    with pytest.raises(InvalidInputError, match="not both"):
        select_relevant_pages(PAGES, "q", policy=TopK(1), top_k=2)


def test_min_keep_via_one_off_function() -> None:
    sel = select_relevant_pages(
        PAGES,
        "zebra",
        scorer=KeywordScorer(),
        threshold=0.5,
        min_keep=1,
        token_counter="whitespace",
    )
    assert len(sel.kept) == 1 and "min_keep" in sel.decisions[0].rule


def test_classify_multi_label() -> None:
    result = classify(
        "Please refund my order, the item arrived broken",
        {"refund": "refund request", "spam": "unsolicited advertisement", "broken": "broken item"},
        threshold=0.5,
        scorer=KeywordScorer(),
    )
    assert result.positive == ("refund", "broken")
    assert result["spam"].probability == pytest.approx(0.05)
    assert result.to_dict()["labels"]["refund"]["decision"] is True
    with pytest.raises(InvalidInputError, match="threshold"):
        classify("x", {"a": "b"}, threshold=1.5)
    with pytest.raises(InvalidInputError, match="labels"):
        classify("x", {})


def test_hybrid_repr_in_result() -> None:
    result = compressor(policy=Hybrid(top_k=2, threshold=0.3)).compress(PAGES, "metformin")
    assert result.policy == "Hybrid(top_k=2, threshold=0.3)"
    assert result.scorer == "keyword" and result.token_counter == "whitespace"
