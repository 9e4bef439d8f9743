"""Metrics against hand-computed values; loaders; thresholds; the eval CLI end to end."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from ctxcompress import InvalidInputError
from ctxcompress._evaluation import _metrics as m
from ctxcompress.evaluation import (
    ScoredCriterion,
    calibrate_cross_validated,
    choose_threshold,
    cross_validated_threshold,
    evaluate,
    folds_by_document,
    load_dataset,
)


def sc(
    cid: str,
    scores: list[float],
    relevant: set[int],
    chars: list[int] | None = None,
    doc: str = "d",
) -> ScoredCriterion:
    return ScoredCriterion(
        cid, doc, tuple(scores), frozenset(relevant), tuple(chars or [100] * len(scores))
    )


# The --json keys issue 7 names as a contract for other tools.
STABLE_KEYS = (
    "recall_at_k",
    "chars_kept_at_k",
    "k_for_recall_90",
    "mrr",
    "ndcg_at_10",
    "ece",
    "n_criteria",
)

# Two criteria over 4 pages. A: relevant {1, 3}, ranking [1, 0, 3, 2].
# B: relevant {2}, ranking [0, 2, 1, 3] (tie 0.5/0.5 broken by page order).
A = sc("a", [0.8, 0.9, 0.1, 0.3], {1, 3}, [100, 200, 300, 400])
B = sc("b", [0.5, 0.2, 0.5, 0.1], {2})
NONE = sc("n", [0.7, 0.1, 0.1, 0.1], set())
ITEMS = [A, B, NONE]


def test_ranking_is_best_first_with_ties_in_page_order() -> None:
    c = m.ScoredCriterion("c", "d", (0.5, 0.9, 0.5, 0.9, 0.1), frozenset({1}), (1,) * 5)
    assert c.ranking() == (1, 3, 0, 2, 4)
    assert c.ranking() is c.ranking()  # sorted once, however many Ks ask


def test_recall_at_k() -> None:
    assert m.recall_at_k(ITEMS, 1) == pytest.approx((1 / 2 + 0) / 2)
    assert m.recall_at_k(ITEMS, 2) == pytest.approx((1 / 2 + 1) / 2)
    assert m.recall_at_k(ITEMS, 3) == pytest.approx(1.0)


def test_chars_kept_at_k() -> None:
    # A top-1 = page 1 (200 of 1000 chars); B top-1 = page 0 (100 of 400).
    assert m.chars_kept_at_k(ITEMS, 1) == pytest.approx((0.2 + 0.25) / 2)


def test_tokens_kept_at_k() -> None:
    with_tokens = [
        ScoredCriterion("t", "d", (0.9, 0.1), frozenset({0}), (10, 10), None, (3, 1)),
        ScoredCriterion("u", "d", (0.1, 0.9), frozenset({0}), (10, 10), None, (1, 1)),
    ]
    assert m.tokens_kept_at_k(with_tokens, 1) == pytest.approx((3 / 4 + 1 / 2) / 2)
    assert math.isnan(m.tokens_kept_at_k(ITEMS, 1))  # no token counts: undefined, not zero


def test_mrr_and_ndcg() -> None:
    assert m.mrr(ITEMS) == pytest.approx((1 / 1 + 1 / 2) / 2)
    dcg_a = 1 / math.log2(2) + 1 / math.log2(4)
    idcg_a = 1 / math.log2(2) + 1 / math.log2(3)
    dcg_b = 1 / math.log2(3)
    assert m.ndcg_at_k(ITEMS, 10) == pytest.approx((dcg_a / idcg_a + dcg_b / 1.0) / 2)


def test_k_for_recall() -> None:
    assert m.k_for_recall(ITEMS, 0.75) == 2
    assert m.k_for_recall(ITEMS, 0.9) == 3
    assert m.k_for_recall([NONE], 0.9) is None


def test_ece_and_reliability() -> None:
    # 12 pairs. Bins: 0.1 (5 pairs, 0 relevant... )
    items = [sc("x", [0.05, 0.05, 0.95, 0.95], {2, 3}), sc("y", [0.55, 0.55], {0})]
    table = m.reliability_table(items)
    assert table[0]["n"] == 2 and table[0]["observed_rate"] == 0.0
    assert table[5]["n"] == 2 and table[5]["observed_rate"] == 0.5
    assert table[9]["n"] == 2 and table[9]["observed_rate"] == 1.0
    expected = (2 * 0.05 + 2 * 0.05 + 2 * 0.05) / 6
    assert m.ece(items) == pytest.approx(expected)


def test_threshold_stats_and_no_evidence_keep_rate() -> None:
    stats = m.threshold_stats(ITEMS, 0.5)
    # kept: A {0, 1}, B {0, 2}, NONE {0}; relevant kept: A 1, B 1 of 3 evidence pages.
    assert stats["precision"] == pytest.approx(2 / 5)
    assert stats["recall"] == pytest.approx(2 / 3)
    assert stats["no_evidence_keep_rate"] == 1.0 and stats["no_evidence_pages_kept"] == 1.0


def test_wilson_bound() -> None:
    assert m.wilson_lower_bound(90, 100, 0.95) == pytest.approx(0.8396, abs=1e-3)
    assert m.wilson_lower_bound(0, 10) < 0.01


def test_report_keys_are_stable() -> None:
    report = evaluate(ITEMS)
    for key in STABLE_KEYS:
        assert key in report
    assert report["n_criteria"] == 3
    assert set(report["recall_at_k"]) == {"1", "3", "5", "10", "20"}
    json.dumps(report)  # serialisable: no NaN objects


def test_choose_threshold() -> None:
    choice = choose_threshold(ITEMS, 2 / 3)
    # Evidence scores, best first: 0.9 (A1), 0.5 (B2), 0.3 (A3). 2 of 3 -> threshold 0.5.
    assert choice.threshold == 0.5 and choice.recall == pytest.approx(2 / 3)
    assert choice.recall_lower_bound < choice.recall
    assert "evidence pages" in choice.statement()
    assert choose_threshold(ITEMS, 1.0).threshold == 0.3
    with pytest.raises(InvalidInputError, match="target recall"):
        choose_threshold(ITEMS, 0)


def many(n_docs: int = 20) -> list[ScoredCriterion]:
    items = []
    for d in range(n_docs):
        for c in range(3):
            scores = [((d * 7 + c * 3 + p * 5) % 10) / 10 for p in range(8)]
            relevant = {max(range(8), key=lambda p: scores[p])} if c < 2 else set()
            items.append(sc(f"d{d}c{c}", scores, relevant, doc=f"doc{d}"))
    return items


def test_folds_never_split_a_document() -> None:
    items = many()
    folds = folds_by_document(items, 5)
    assert sorted(i for f in folds for i in f) == sorted(c.id for c in items)
    for fold in folds:
        docs = {c.doc_id for c in items if c.id in fold}
        others = {c.doc_id for c in items if c.id not in fold}
        assert not docs & others


def test_cross_validated_threshold_and_calibration() -> None:
    items = many()
    result = cross_validated_threshold(items, 0.9)
    assert result["held_out_recall"] >= 0.9 and 0 <= result["chars_kept"] <= 1
    held, final = calibrate_cross_validated(items, "isotonic", "x")
    assert [c.id for c in held] == [c.id for c in items]
    assert final.scorer_id == "x" and final.fitted_on["n"] == 20 * 3 * 8


def write_page_selection(root: Path) -> Path:
    root.mkdir()
    docs = [
        {
            "doc_id": "d1",
            "pages": ["the cat sat on the mat", "dogs bark loudly", "a cat and a dog"],
        },
        {"doc_id": "d2", "pages": ["tax filing deadline", "revenue grew ten percent", "weather"]},
    ]
    crits = [
        {"id": "q1", "doc_id": "d1", "criterion": "the cat sat on a mat", "relevant_pages": [0]},
        {"id": "q2", "doc_id": "d2", "criterion": "did revenue grow", "relevant_pages": [1]},
        {
            "id": "q3",
            "doc_id": "d2",
            "criterion": "is there a penalty clause",
            "relevant_pages": [],
            "label": "NotMentioned",
        },
    ]
    (root / "documents.jsonl").write_text("".join(json.dumps(d) + "\n" for d in docs))
    (root / "criteria.jsonl").write_text("".join(json.dumps(c) + "\n" for c in crits))
    return root


def write_beir(root: Path) -> Path:
    (root / "qrels").mkdir(parents=True)
    corpus = [
        {"_id": "1", "title": "Cats", "text": "cats purr"},
        {"_id": "2", "title": "", "text": "dogs bark"},
    ]
    (root / "corpus.jsonl").write_text("".join(json.dumps(c) + "\n" for c in corpus))
    (root / "queries.jsonl").write_text(json.dumps({"_id": "q", "text": "do dogs bark"}) + "\n")
    (root / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq\t2\t1\n")
    return root


def test_loaders(tmp_path: Path) -> None:
    ps = load_dataset(write_page_selection(tmp_path / "ps"))
    assert len(ps.criteria) == 3 and ps.criteria[2].relevant == frozenset()
    beir = load_dataset(write_beir(tmp_path / "beir"))
    assert beir.documents["corpus"].pages == ("Cats\ncats purr", "dogs bark")
    assert beir.criteria[0].relevant == frozenset({1})
    with pytest.raises(InvalidInputError, match="neither"):
        load_dataset(tmp_path)
    with pytest.raises(InvalidInputError, match="split"):
        load_dataset(tmp_path / "beir", split="train")


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ctxcompress", *args], capture_output=True, text=True, timeout=120
    )


def test_eval_cli_writes_json_keys_and_png(tmp_path: Path) -> None:
    data = write_page_selection(tmp_path / "ps")
    proc = cli(
        "eval",
        "--data",
        str(data),
        "--scorer",
        "bm25",
        "--json",
        str(tmp_path / "r.json"),
        "--plot",
        str(tmp_path / "r.png"),
    )
    assert proc.returncode == 0, proc.stderr
    assert "| Recall@K |" in proc.stdout and "| tokens kept |" in proc.stdout
    report = json.loads((tmp_path / "r.json").read_text())
    for key in STABLE_KEYS:
        assert key in report
    assert report["recall_at_k"]["1"] == 1.0
    assert 0 < report["tokens_kept_at_k"]["1"] < 1
    assert (tmp_path / "r.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_calibrate_then_eval_and_threshold_cli(tmp_path: Path) -> None:
    data = write_page_selection(tmp_path / "ps")
    out = tmp_path / "cal.json"
    proc = cli(
        "calibrate",
        "--data",
        str(data),
        "--scorer",
        "bm25",
        "--method",
        "platt",
        "--out",
        str(out),
        "--folds",
        "2",
    )
    assert proc.returncode == 0, proc.stderr
    assert "cross-validated by document" in proc.stdout
    assert json.loads(out.read_text())["scorer_id"] == "bm25"
    evaluated = cli("eval", "--data", str(data), "--scorer", "bm25", "--calibrator", str(out))
    assert evaluated.returncode == 0 and "bm25+platt" in evaluated.stdout
    threshold = cli(
        "threshold",
        "--data",
        str(data),
        "--target-recall",
        "0.9",
        "--folds",
        "2",
        "--json",
        str(tmp_path / "t.json"),
    )
    assert threshold.returncode == 0, threshold.stderr
    assert "held-out recall" in threshold.stdout
    assert "threshold" in json.loads((tmp_path / "t.json").read_text())


def test_eval_cli_errors(tmp_path: Path) -> None:
    assert cli("eval", "--data", str(tmp_path / "missing")).returncode == 2
    data = write_page_selection(tmp_path / "ps")
    cal = tmp_path / "other.json"
    cal.write_text(
        json.dumps(
            {
                "format": "ctxcompress-calibrator",
                "version": 1,
                "method": "platt",
                "scorer_id": "remote:cohere/x",
                "params": {"a": 1, "b": 0},
            }
        )
    )
    proc = cli("eval", "--data", str(data), "--calibrator", str(cal))
    assert proc.returncode == 2 and "fitted for scorer" in proc.stderr
