"""Passage pruning: passages with exact offsets, the pruner's choices, and the compressor
keeping only the passages that matter while its budgets count what is sent."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import anyio
import pytest

from ctxcompress import (
    ELISION,
    BaseScorer,
    Compressor,
    Criterion,
    InvalidInputError,
    Page,
    PassagePruner,
    Scores,
    TokenBudget,
    TopK,
    WhitespaceTokenCounter,
    split_passages,
)
from ctxcompress._evaluation._data import EvalCriterion, Evidence
from ctxcompress._evaluation._evidence import criterion_evidence_recall, match_evidence
from ctxcompress._types import kept_text, merge_spans

from .scorers import KeywordScorer

PROSE = (
    "The lease starts in March. Rent is due monthly.\n"
    "The tenant pays the utilities. Pets are not allowed on the premises.\n"
    "Either party may end the lease with thirty days notice."
)
TABLE = (
    "Consolidated statement of income\n"
    "(in millions) 2023 2022\n"
    "Revenue  1,200  1,100\n"
    "Cost of sales  700  650\n"
    "Net income attributable to the company and its\n"
    "non-controlling interests  300  280\n"
    "\n"
    "The figures above are audited."
)


def counter() -> WhitespaceTokenCounter:
    return WhitespaceTokenCounter()


def texts(text: str) -> list[str]:
    return [text[p.start : p.end] for p in split_passages(text)]


# -- passages ---------------------------------------------------------------------------


def test_passages_are_exact_ordered_ranges_of_the_page() -> None:
    for text in (PROSE, TABLE, "  padded sentence here.  \n\n  Another one follows.  "):
        passages = split_passages(text)
        assert passages
        previous = 0
        for p in passages:
            assert previous <= p.start < p.end <= len(text)
            assert text[p.start : p.end] == text[p.start : p.end].strip()
            previous = p.end
        # Every non-space character of the page is in some passage.
        covered = "".join(text[p.start : p.end] for p in passages)
        assert sorted(covered.replace(" ", "").replace("\n", "")) == sorted(
            text.replace(" ", "").replace("\n", "")
        )


def test_prose_is_cut_into_sentences() -> None:
    assert texts(PROSE) == [
        "The lease starts in March.",
        "Rent is due monthly.",
        "The tenant pays the utilities.",
        "Pets are not allowed on the premises.",
        "Either party may end the lease with thirty days notice.",
    ]


def test_a_table_row_is_never_cut_and_points_to_its_header() -> None:
    passages = split_passages(TABLE)
    kinds = [(p.kind, TABLE[p.start : p.end]) for p in passages]
    assert kinds[0] == ("header", "Consolidated statement of income")
    rows = [t for k, t in kinds if k == "row"]
    assert rows == [
        "(in millions) 2023 2022",
        "Revenue  1,200  1,100",
        "Cost of sales  700  650",
        # A row label wrapped over two lines stays with the line of its figures.
        "Net income attributable to the company and its\nnon-controlling interests  300  280",
    ]
    header = passages[0]
    assert all(p.header == (header.start, header.end) for p in passages if p.kind == "row")
    assert kinds[-1] == ("prose", "The figures above are audited.")


def test_pipe_tables_and_rows_longer_than_the_limit_stay_whole() -> None:
    row = "| item | " + " | ".join(f"value {i}" for i in range(80)) + " |"
    text = f"| name | amount |\n|---|---|\n{row}\n"
    assert row in texts(text)
    assert len(row) > 600


def test_whitespace_page_has_no_passages_and_one_sentence_has_one() -> None:
    assert split_passages("   \n\t \n ") == ()
    assert split_passages("") == ()
    assert texts("  Just one sentence here  ") == ["Just one sentence here"]


def test_a_200000_character_page_splits_into_bounded_passages() -> None:
    rng = random.Random(3)
    words = ["lease", "tenant", "rent", "notice", "party", "premises", "term"]
    sentences = [
        " ".join(rng.choices(words, k=rng.randint(5, 30))).capitalize() + "." for _ in range(12_000)
    ]
    text = " ".join(sentences)[:200_000]
    passages = split_passages(text, max_chars=300)
    assert len(text) == 200_000
    assert all(len(p) <= 300 for p in passages)
    assert sum(len(p) for p in passages) >= 0.95 * len(text)
    # One run with no spaces at all is cut hard.
    assert [len(p) for p in split_passages("x" * 1000, max_chars=400)] == [400, 400, 200]


def test_max_chars_is_checked() -> None:
    with pytest.raises(InvalidInputError, match="max_chars"):
        split_passages("text", max_chars=5)


# -- the pruner ---------------------------------------------------------------------------


def test_pruner_options_are_checked() -> None:
    for bad in (
        {"threshold": 1.5},
        {"threshold": True},
        {"context": -1},
        {"min_keep": 0},
        {"max_chars": 10},
    ):
        with pytest.raises(InvalidInputError, match="PassagePruner"):
            PassagePruner(**bad)
    with pytest.raises(InvalidInputError, match="prune"):
        Compressor(KeywordScorer(), prune="sentences")


def test_a_high_page_score_keeps_more_of_the_page() -> None:
    page = Page(PROSE, 0)
    pruner = PassagePruner(threshold=0.5, context=0)
    passages = pruner.passages(page)
    scores = [0.1, 0.9, 0.3, 0.2, 0.1]
    low = pruner.keep(page, passages, scores, page_score=0.0)
    high = pruner.keep(page, passages, scores, page_score=0.9)
    assert low == ((passages[1].start, passages[1].end),)
    assert sum(b - a for a, b in high) > sum(b - a for a, b in low)


def test_kept_text_marks_every_cut_and_merges_neighbours() -> None:
    text = "aaa bbb ccc ddd"
    assert kept_text(text, ((4, 7),)) == f"{ELISION} bbb {ELISION}"
    assert kept_text(text, ((0, 3), (8, 11))) == f"aaa {ELISION} ccc {ELISION}"
    assert kept_text(text, ((0, len(text)),)) == text
    assert merge_spans(((0, 3), (8, 11)), ((2, 5), (11, 15))) == ((0, 5), (8, 15))


# -- the compressor -----------------------------------------------------------------------
# KeywordScorer gives 0.9 to a page or passage with the criterion's word, 0.05 elsewhere:
# a kept page's bar is 0.9 * (1 - 0.9) = 0.09 of its best passage, which 0.05 / 0.9 misses.

DOC = [
    "Rent is due on the first day of each month. The tenant pays the utilities. "
    "Pets are not allowed. Smoking is not allowed. Parking is included.",
    "Either party may end the lease with thirty days notice. Notice must be written. "
    "The deposit is returned within ten days. Keys are returned at the end.",
    "Appendix with the floor plan. Room sizes are approximate. Photos are attached.",
    TABLE,
    "   \n  ",
]


def test_pruning_keeps_the_policys_pages_and_only_their_passing_passages() -> None:
    plain = Compressor(KeywordScorer(), TopK(2), counter()).compress(DOC, ["rent", "notice"])
    pruned = Compressor(
        KeywordScorer(), TopK(2), counter(), prune=PassagePruner(threshold=0.9, context=0)
    ).compress(DOC, ["rent", "notice"])
    for criterion in ("c0", "c1"):
        before, after = plain[criterion], pruned[criterion]
        assert after.kept_indices == before.kept_indices  # never drops a page
        for sp in after.kept:
            assert sp.spans == tuple(sorted(sp.spans))
            for a, b in sp.spans:
                assert sp.page.text[a:b] in sp.kept_text  # offsets are exact
        assert after.chars_kept < before.chars_kept
        assert after.tokens_kept < before.tokens_kept
        assert after.chars_kept == sum(len(sp.kept_text) for sp in after.kept)
    rent = pruned["c0"].kept[0]
    assert rent.page.index == 0
    assert rent.kept_text == f"Rent is due on the first day of each month. {ELISION}"
    assert rent.pruned
    notice = pruned["c1"].kept[1]
    assert notice.kept_text == (
        f"Either party may end the lease with thirty days notice. Notice must be written. {ELISION}"
    )
    assert pruned["c1"].context() == "\n\n".join(sp.kept_text for sp in pruned["c1"].kept)


def test_a_kept_row_takes_its_table_header_along() -> None:
    pruner = PassagePruner(threshold=0.9, context=0, whole_tables=False)
    result = Compressor(KeywordScorer(), TopK(1), counter(), prune=pruner).compress(DOC, ["cost"])
    (sp,) = result["c0"].kept
    assert sp.page.index == 3
    assert sp.kept_text == (
        f"Consolidated statement of income {ELISION} Cost of sales  700  650 {ELISION}"
    )


def test_a_kept_row_takes_its_whole_table_along_by_default() -> None:
    """A statement's answer is the table: one matching row keeps every row of its table
    and its header, and the prose after the table is still cut."""
    pruner = PassagePruner(threshold=0.9, context=0)
    result = Compressor(KeywordScorer(), TopK(1), counter(), prune=pruner).compress(DOC, ["cost"])
    (sp,) = result["c0"].kept
    assert sp.page.index == 3
    assert sp.kept_text == TABLE.split("\n\n")[0] + f" {ELISION}"
    for a, b in sp.spans:
        assert TABLE[a:b] in sp.kept_text


def test_tables_are_runs_of_rows_and_a_header_after_a_row_starts_the_next() -> None:
    from ctxcompress._passages import Passage
    from ctxcompress._pruning import keep_passages

    kinds = ["prose", "header", "row", "row", "header", "row", "prose", "row"]
    passages = [Passage(i * 10, i * 10 + 5, kind) for i, kind in enumerate(kinds)]  # type: ignore[arg-type]
    scores = [0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0]
    assert keep_passages(passages, scores, 0.5) == [3]
    assert keep_passages(passages, scores, 0.5, whole_tables=True) == [1, 2, 3]
    scores[5] = 1.0
    assert keep_passages(passages, scores, 0.5, whole_tables=True) == [1, 2, 3, 4, 5]
    assert PassagePruner().whole_tables and "whole_tables=True" in PassagePruner().describe()
    with pytest.raises(InvalidInputError, match="whole_tables"):
        PassagePruner(whole_tables="yes")  # type: ignore[arg-type]


def test_pages_without_a_choice_are_sent_whole() -> None:
    # A page of one passage, and a page of whitespace, kept by the policy.
    pages = ["Rent is due monthly and nothing else is said here", "   \n  "]
    result = Compressor(KeywordScorer(), TopK(2), counter(), prune="passages").compress(
        pages, ["rent"]
    )
    assert [sp.spans for sp in result["c0"].kept] == [((0, len(pages[0])),), ((0, 6),)]
    assert [sp.kept_text for sp in result["c0"].kept] == pages
    assert not any(sp.pruned for sp in result["c0"].kept)


def test_a_200000_character_page_is_pruned() -> None:
    sentence = "The weather was mild and nothing happened that day. "
    page = (sentence * 1923 + "The rent is due monthly. " + sentence * 2000)[:200_000]
    assert len(page) == 200_000
    result = Compressor(
        KeywordScorer(), TopK(1), counter(), prune=PassagePruner(threshold=0.9, context=0)
    ).compress([page, "other page"], ["rent"])
    (sp,) = result["c0"].kept
    assert sp.kept_text == f"{ELISION} The rent is due monthly. {ELISION}"
    assert page[sp.spans[0][0] : sp.spans[0][1]] == "The rent is due monthly."


def test_the_token_budget_counts_what_is_sent_and_is_never_exceeded() -> None:
    # Whole pages of ~25 words: a 30-token budget fits one; pruned, both rent pages fit.
    pages = [DOC[0], DOC[0].replace("Rent", "Rent again"), DOC[2]]
    plain = Compressor(KeywordScorer(), TokenBudget(30), counter()).compress(pages, ["rent"])
    assert plain["c0"].kept_indices == (0,)
    pruned = Compressor(
        KeywordScorer(),
        TokenBudget(30),
        counter(),
        prune=PassagePruner(threshold=0.9, context=0),
    ).compress(pages, ["rent"])
    sel = pruned["c0"]
    assert sel.kept_indices[:2] == (0, 1)
    assert sel.tokens_kept <= 30
    assert sel.tokens_kept == sum(counter().count(sp.kept_text) for sp in sel.kept)


@pytest.mark.parametrize("budget", [5, 12, 20, 40, 80, 200])
def test_budgets_hold_with_pruning_whatever_they_are(budget: int) -> None:
    criteria = ["rent", "notice", "cost", "pets", "room"]
    result = Compressor(
        KeywordScorer(),
        TokenBudget(budget),
        counter(),
        prune=PassagePruner(threshold=0.9, context=1),
        union_max_tokens=budget,
    ).compress(DOC, criteria)
    for sel in result.selections:
        assert sel.tokens_kept <= budget
        assert sel.tokens_kept == sum(counter().count(sp.kept_text) for sp in sel.kept)
    union = result.union
    assert union.tokens_kept <= budget
    sent = [counter().count(union.kept_text(i)) for i in union.kept_indices]
    assert union.tokens_kept == sum(sent)


def test_the_union_merges_spans_across_criteria() -> None:
    result = Compressor(
        KeywordScorer(), TopK(1), counter(), prune=PassagePruner(threshold=0.9, context=0)
    ).compress(DOC, ["rent", "pets"])
    rent, pets = result["c0"].kept[0], result["c1"].kept[0]
    assert rent.page.index == pets.page.index == 0
    union = result.union
    assert union.kept_indices == (0,)
    assert union.spans[0] == merge_spans(rent.spans, pets.spans)
    assert union.criteria_by_page == {0: ("c0", "c1")}
    assert union.kept_text(0) == (
        f"Rent is due on the first day of each month. {ELISION} Pets are not allowed. {ELISION}"
    )
    assert union.chars_kept == len(union.kept_text(0))
    assert union.context() == union.kept_text(0)
    as_json = json.loads(json.dumps(result.to_dict()))
    assert as_json["union"]["spans"] == {"0": [list(s) for s in union.spans[0]]}
    assert as_json["criteria"][0]["kept"][0]["spans"] == [list(s) for s in rent.spans]


def test_async_pruning_matches_sync() -> None:
    make = lambda: Compressor(  # noqa: E731
        KeywordScorer(), TopK(2), counter(), prune=PassagePruner(threshold=0.9)
    )
    sync = make().compress(DOC, ["rent", "notice"])
    result = anyio.run(make().acompress, DOC, ["rent", "notice"])
    assert result.to_dict() == sync.to_dict()


class PassageFailingScorer(KeywordScorer):
    """Scores pages; fails on a pseudo-document of passages (every text a few words)."""

    name = "passage-failing"

    def _score(self, criteria: Sequence[Criterion], pages: Sequence[Page]) -> Scores:
        if all(len(p.text.split()) < 12 for p in pages):
            raise RuntimeError("passage backend down")
        return super()._score(criteria, pages)


def test_a_failed_passage_scoring_raises_or_sends_the_page_whole() -> None:
    with pytest.raises(Exception, match="passage backend down"):
        Compressor(PassageFailingScorer(), TopK(1), counter(), prune="passages").compress(
            DOC, ["rent"]
        )
    result = Compressor(
        PassageFailingScorer(), TopK(1), counter(), prune="passages", on_error="keep"
    ).compress(DOC, ["rent"])
    (sp,) = result["c0"].kept
    assert not sp.pruned
    assert sp.note is not None and "passage scoring failed" in sp.note


class OtherScorer(BaseScorer):
    name = "other"

    def __init__(self) -> None:
        self.calls = 0

    def _score(self, criteria: Sequence[Criterion], pages: Sequence[Page]) -> Scores:
        self.calls += 1
        return Scores.of([[1.0 if i == 0 else 0.0 for i in range(len(pages))] for _ in criteria])


def test_the_pruner_may_bring_its_own_scorer() -> None:
    other = OtherScorer()
    result = Compressor(
        KeywordScorer(),
        TopK(1),
        counter(),
        prune=PassagePruner(threshold=0.9, context=0, scorer=other),
    ).compress(DOC, ["notice"])
    assert other.calls == 1
    assert result["c0"].kept[0].kept_text.startswith("Either party may end the lease")


# -- evidence recall ----------------------------------------------------------------------


def test_evidence_recall_counts_words_in_order_in_what_was_kept() -> None:
    page = "Alpha beta gamma. Delta epsilon zeta. Eta theta."
    # Other whitespace and case than the page, as FinanceBench's own extraction has.
    item = EvalCriterion(
        "q", "d", "?", frozenset({0}), evidence=(Evidence(0, "DELTA\nepsilon  zeta eta"),)
    )
    (match,) = match_evidence(item, [page])
    assert len(match.found) == 4
    assert criterion_evidence_recall([match], {0: None}) == 1.0
    assert criterion_evidence_recall([match], {}) == 0.0
    delta = page.index("Delta")
    assert criterion_evidence_recall([match], {0: ((delta, delta + 20),)}) == 0.75
    # An item none of whose words are on the page says nothing.
    missing = EvalCriterion("q", "d", "?", frozenset({0}), evidence=(Evidence(0, "omega"),))
    assert criterion_evidence_recall(match_evidence(missing, [page]), {0: None}) is None


# -- the command line -----------------------------------------------------------------------


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ctxcompress", *args], capture_output=True, text=True, timeout=120
    )


def test_compress_prune_passages_sends_spans(tmp_path: Path) -> None:
    doc = tmp_path / "lease.txt"
    doc.write_text("\f".join(DOC[:3]), encoding="utf-8")
    proc = cli(
        "compress", str(doc), "--criterion", "rent due", "--scorer", "bm25", "--top-k", "1",
        "--prune", "passages", "--tokenizer", "whitespace", "--format", "json",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    (kept,) = out["criteria"][0]["kept"]
    (span,) = [tuple(s) for s in kept["spans"]][:1]
    assert DOC[0][span[0] : span[1]].startswith("Rent is due")
    assert out["criteria"][0]["chars_kept"] < len(DOC[0])
    text = cli(
        "compress", str(doc), "--criterion", "rent due", "--scorer", "bm25", "--top-k", "1",
        "--prune", "passages", "--format", "text",
    )  # fmt: skip
    assert ELISION in text.stdout and "Rent is due" in text.stdout


def test_eval_reports_evidence_recall_pages_and_pruned(tmp_path: Path) -> None:
    root = tmp_path / "data"
    root.mkdir()
    docs = [{"doc_id": "d", "pages": DOC[:3]}]
    start = DOC[1].index("Either")
    crits = [
        {
            "id": "q",
            "doc_id": "d",
            "criterion": "how is the lease ended with notice",
            "relevant_pages": [1],
            "evidence": [
                {"page": 1, "text": DOC[1][start : start + 55], "start": start, "end": start + 55}
            ],
        }
    ]
    (root / "documents.jsonl").write_text("".join(json.dumps(d) + "\n" for d in docs))
    (root / "criteria.jsonl").write_text("".join(json.dumps(c) + "\n" for c in crits))
    proc = cli(
        "eval", "--data", str(root), "--scorer", "bm25", "--prune", "passages",
        "--json", str(tmp_path / "r.json"), "--no-progress",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "evidence recall (pruned)" in proc.stdout
    report = json.loads((tmp_path / "r.json").read_text())["evidence"]
    pages, pruned = report["pages"]["curve"], report["pruned"]["curve"]
    assert [r["k"] for r in pages] == [1, 2, 3]
    assert pages[0]["evidence_recall"] == 1.0 and pruned[0]["evidence_recall"] == 1.0
    assert pruned[0]["chars_sent"] < pages[0]["chars_sent"]
    assert report["pages"]["k_for_evidence_recall_90"] == 1


def test_a_pruned_page_is_sent_whole_when_its_markers_cost_more_tokens_than_they_save() -> None:
    # A counter that charges 50 tokens for an elision marker: pruning never pays, so every
    # kept page goes whole and the budget counts exactly what is sent.
    from ctxcompress import WhitespaceTokenCounter

    class MarkerHeavy(WhitespaceTokenCounter):
        name = "marker-heavy"

        def count(self, text: str) -> int:
            return super().count(text) + 50 * text.count("[…]")

    pages = [
        "The patient failed methotrexate after six months. Parking was validated. "
        "The weather was mild. Lunch was served at noon. The lobby was quiet.",
        "Billing statement: copay due.",
    ]
    result = Compressor("bm25", TopK(1), MarkerHeavy(), prune="passages").compress(
        pages, "methotrexate failed"
    )
    (kept,) = result.selections[0].kept
    assert kept.kept_text == pages[0]
    counter = MarkerHeavy()
    assert result.selections[0].tokens_kept == sum(
        counter.count(sp.kept_text) for sp in result.selections[0].kept
    )
