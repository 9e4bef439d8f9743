"""Cascade: the second stage scores only the first stage's survivors; pruned pages say so."""

from __future__ import annotations

import anyio
import pytest

from ctxcompress import BM25Scorer, Cascade, Compressor, Criterion, InvalidInputError, ScoringError

from .scorers import PairCountingScorer


def _document(n_pages: int = 150) -> list[str]:
    topics = ["methotrexate liver", "tuberculosis screening", "billing copay", "imaging knee"]
    return [
        f"Page {i}: notes about {topics[i % len(topics)]} and visit {i} of the patient record."
        for i in range(n_pages)
    ]


def _criteria(n: int = 80) -> list[Criterion]:
    topics = ["methotrexate trial", "tuberculosis test", "copay billing", "knee imaging"]
    return [Criterion(f"c{i}", f"{topics[i % len(topics)]} question {i}") for i in range(n)]


def test_second_stage_scores_at_most_keep_pages_per_criterion() -> None:
    second = PairCountingScorer()
    cascade = Cascade(BM25Scorer(), second, keep=10)
    pages, criteria = _document(), _criteria()
    rows = cascade.score_batch(criteria, pages)
    assert len(rows) == 80 and all(len(r) == 150 for r in rows)
    assert len(second.pairs) <= 80 * 10
    per_criterion: dict[str, int] = {}
    for criterion_text, _ in second.pairs:
        per_criterion[criterion_text] = per_criterion.get(criterion_text, 0) + 1
    assert max(per_criterion.values()) <= 10


def test_survivors_get_second_stage_scores_and_pruned_pages_keep_first_stage_ones() -> None:
    first, second = BM25Scorer(), PairCountingScorer()
    pages, criteria = _document(40), _criteria(3)
    first_rows = first.score_batch(criteria, pages)
    second_rows = PairCountingScorer().score_batch(criteria, pages)
    cascade = Cascade(first, second, keep=5)
    scores = cascade.scores(criteria, pages)
    rows = scores.rows
    for ci in range(3):
        survivors = cascade.survivors(first_rows[ci])
        assert len(survivors) == 5
        for pi in range(40):
            if pi in survivors:
                assert rows[ci][pi] == second_rows[ci][pi]
                assert scores.note(ci, pi) is None
            else:
                assert rows[ci][pi] == first_rows[ci][pi]
                note = scores.note(ci, pi)
                assert note is not None and note.text is not None and "pruned" in note.text
                assert note.flags == ("pruned",)


def test_keep_threshold_and_both_limits() -> None:
    cascade = Cascade(BM25Scorer(), PairCountingScorer(), keep_threshold=0.5)
    assert cascade.survivors([0.9, 0.2, 0.5, 0.7]) == [0, 3, 2]
    both = Cascade(BM25Scorer(), PairCountingScorer(), keep=2, keep_threshold=0.5)
    assert both.survivors([0.9, 0.2, 0.5, 0.7]) == [0, 3]


def test_async_path_matches_the_sync_one() -> None:
    pages, criteria = _document(30), _criteria(4)
    sync = Cascade(BM25Scorer(), PairCountingScorer(), keep=4).scores(criteria, pages)
    cascade = Cascade(BM25Scorer(), PairCountingScorer(), keep=4)
    assert anyio.run(cascade.ascores, criteria, pages) == sync


def test_the_compressor_records_which_pages_were_pruned() -> None:
    pages = _document(20)
    result = Compressor(
        Cascade(BM25Scorer(), PairCountingScorer(), keep=3), token_counter="whitespace"
    ).compress(pages, ["methotrexate liver"])
    decisions = result.selections[0].decisions
    assert sum(d.note is not None for d in decisions) == 17
    assert all("pruned" in d.note for d in decisions if d.note is not None)
    assert sum(d.flags == ("pruned",) for d in decisions) == 17
    as_json = result.selections[0].to_dict()["decisions"]
    assert sum(d["note"] is not None for d in as_json) == 17


def test_bad_configurations_are_refused() -> None:
    with pytest.raises(InvalidInputError, match="keep"):
        Cascade(BM25Scorer(), PairCountingScorer())
    with pytest.raises(InvalidInputError, match="keep must be"):
        Cascade(BM25Scorer(), PairCountingScorer(), keep=0)
    with pytest.raises(InvalidInputError, match="keep_threshold"):
        Cascade(BM25Scorer(), PairCountingScorer(), keep_threshold=1.5)
    with pytest.raises(InvalidInputError, match="pointwise"):
        Cascade(PairCountingScorer(), BM25Scorer(), keep=3)


@pytest.mark.parametrize("concurrency", [1, 4])
def test_concurrent_second_stage_calls_give_the_same_scores(concurrency: int) -> None:
    pages, criteria = _document(30), _criteria(6)
    want = Cascade(BM25Scorer(), PairCountingScorer(), keep=5).scores(criteria, pages)
    cascade = Cascade(BM25Scorer(), PairCountingScorer(), keep=5, concurrency=concurrency)
    assert cascade.scores(criteria, pages) == want
    assert anyio.run(cascade.ascores, criteria, pages) == want


def test_a_failing_second_stage_raises_its_own_error() -> None:
    class Broken(PairCountingScorer):
        def _score(self, criteria, pages):  # type: ignore[no-untyped-def]
            raise ScoringError("second stage down")

    cascade = Cascade(BM25Scorer(), Broken(), keep=3, concurrency=3)
    pages, criteria = _document(10), _criteria(4)
    with pytest.raises(ScoringError, match="second stage down"):
        cascade.score_batch(criteria, pages)
    with pytest.raises(ScoringError, match="second stage down"):
        anyio.run(cascade.ascore_batch, criteria, pages)
