"""The classifier: exclusive labels, routing, screening, near-duplicates, metrics, CLI.

Most tests use the keyword test scorer (no model); the ones marked by the module-level
``default`` fixture use the embedded MiniLM and its shipped calibration.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from ctxcompress import (
    InvalidInputError,
    classify,
    classify_many,
    duplicate_probability,
    find_duplicates,
    route,
    screen,
)
from ctxcompress._classification._classify import exclusive_probabilities
from ctxcompress._classification._duplicates import nearest_pairs
from ctxcompress._classification._evaluate import classification_report, load_items, score_items
from ctxcompress._scorers._default._single_text import (
    CLASSIFIER_FEATURES,
    load_classifier_params,
)
from ctxcompress._scorers._registry import shared_default_scorer

from .scorers import KeywordScorer

LABELS = {"refund": "refund request", "spam": "unsolicited ads", "broken": "broken item"}


def test_exclusive_probabilities_sum_below_one_and_keep_the_top() -> None:
    result = classify(
        "Please refund my order, the item arrived broken",
        LABELS,
        scorer=KeywordScorer(),
        exclusive=True,
    )
    total = sum(d.probability for d in result.labels)
    assert total < 1.0
    assert result.none_probability == pytest.approx(1.0 - total)
    # Two labels at 0.9 each: neither is "the one" with probability 0.5 or more.
    assert result.top.label == "refund" and result.positive == ()
    single = classify("refund please", LABELS, scorer=KeywordScorer(), exclusive=True)
    assert single.positive == ("refund",) and single.top.probability > 0.8
    assert single.to_dict()["top"] == "refund" and single.to_dict()["exclusive"] is True
    # Multi-label stays the default.
    assert classify("refund, broken", LABELS, scorer=KeywordScorer()).positive == (
        "refund",
        "broken",
    )


def test_exclusive_math() -> None:
    p = exclusive_probabilities([0.9, 0.5, 0.1])
    odds = np.array([9.0, 1.0, 1 / 9])
    assert p == pytest.approx(list(odds / (1 + odds.sum())))
    assert sum(p) < 1 and p[0] > p[1] > p[2]


def test_route_and_screen() -> None:
    docs = ["refund for order 7", "cheap pills, unsolicited offer", "hello"]
    routing = route(docs, {"billing": "refund", "junk": "unsolicited"}, scorer=KeywordScorer())
    assert routing.by_destination == {"billing": [0], "junk": [1]}
    assert routing.unrouted == [2]
    assert json.loads(json.dumps(routing.to_dict()))["unrouted"] == [2]
    flagged = screen(
        "unsolicited offer!", {"ads": "unsolicited", "pii": "ssn"}, scorer=KeywordScorer()
    )
    assert flagged.flagged == ("ads",) and not flagged.passed
    assert screen("fine text", {"ads": "unsolicited"}, scorer=KeywordScorer()).passed
    with pytest.raises(InvalidInputError, match="policies"):
        screen("x", {}, scorer=KeywordScorer())
    with pytest.raises(InvalidInputError, match="text 1"):
        classify_many(["ok", " "], LABELS, scorer=KeywordScorer())


def test_nearest_pairs_scale_with_neighbours_not_pairs() -> None:
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(3000, 16)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    vectors[17] = vectors[2900]  # one exact duplicate far apart in the list
    pairs = nearest_pairs(vectors, neighbours=5, min_cosine=-1.0)
    assert len(pairs) <= 3000 * 5
    assert (17, 2900) in {(i, j) for i, j, _ in pairs}
    assert all(i < j for i, j, _ in pairs)
    strict = nearest_pairs(vectors, neighbours=5, min_cosine=0.99)
    assert [(i, j) for i, j, _ in strict] == [(17, 2900)]


def test_find_duplicates_scores_only_candidates() -> None:
    texts = ["alpha report", "alpha report copy", "beta note", "gamma memo"]
    vectors = np.eye(4, dtype=np.float32)
    vectors[1] = vectors[0]
    scorer = KeywordScorer()
    found = find_duplicates(
        texts,
        scorer=scorer,
        embed=lambda items: vectors[: len(items)],
        neighbours=1,
        min_cosine=0.9,
    )
    assert [(d.first, d.second) for d in found] == [(0, 1)]
    assert found[0].probability == pytest.approx(0.9)
    assert len(scorer.calls) == 2  # the one candidate pair, in both directions
    with pytest.raises(InvalidInputError, match="neighbours"):
        find_duplicates(texts, scorer=scorer, neighbours=0)


def test_report_metrics() -> None:
    probabilities = [{"a": 0.9, "b": 0.2}, {"a": 0.1, "b": 0.7}, {"a": 0.6, "b": 0.4}]
    gold = [["a"], ["b"], ["b"]]
    report = classification_report(probabilities, gold, thresholds=(0.5,))
    assert report["top1"] == pytest.approx(2 / 3)
    # a: 1 TP, 1 FP -> F1 2/3; b: 1 TP, 1 FN -> 2/3.
    assert report["thresholds"][0]["macro_f1"] == pytest.approx(2 / 3)
    assert report["auroc"] == pytest.approx(8 / 9)
    assert 0.0 <= report["ece"] <= 1.0 and report["best"]["macro_f1"] >= 2 / 3


def test_load_items_names_the_bad_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text('{"text": "x", "labels": {"a": "b"}, "gold": ["a"]}\n{"text": "y"}\n')
    with pytest.raises(InvalidInputError, match=r"bad\.jsonl:2"):
        load_items(path)
    path.write_text('{"text": "x", "labels": {"a": "b"}, "gold": ["c"]}\n')
    with pytest.raises(InvalidInputError, match="unknown labels"):
        load_items(path)


def test_shipped_classifier_record() -> None:
    params = load_classifier_params()
    assert all(f in CLASSIFIER_FEATURES["labels"] for f in params.labels.features)
    assert all(f in CLASSIFIER_FEATURES["pairs"] for f in params.pairs.features)
    assert {"agnews", "mrpc", "stsb", "mtsamples-specialty"} <= set(params.held_out)
    assert "leave-one-set-out" in params.fitted_on


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ctxcompress", *args], capture_output=True, text=True, timeout=120
    )


def _write_jsonl(path: Path, rows: list[dict[str, object]]) -> None:
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")


def _platt_calibrated(task: str, data: Path, out: Path) -> dict[str, Any]:
    """``ctxcompress calibrate --task TASK`` with BM25 and Platt scaling; the saved JSON."""
    proc = _cli(
        "calibrate", "--task", task, "--data", str(data), "--scorer", "bm25",
        "--method", "platt", "--out", str(out), "--folds", "3",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    saved: dict[str, Any] = json.loads(out.read_text())
    return saved


def test_cli_eval_and_calibrate_classify(tmp_path: Path) -> None:
    data = tmp_path / "tickets.jsonl"
    labels = {"refund": "refund request", "spam": "unsolicited advertising"}
    rows = [
        {"id": str(i), "text": text, "labels": labels, "gold": gold}
        for i, (text, gold) in enumerate(
            [
                ("refund my order please", ["refund"]),
                ("I want a refund", ["refund"]),
                ("unsolicited advertising for pills", ["spam"]),
                ("buy cheap watches unsolicited", ["spam"]),
                ("where is my parcel", []),
                ("refund and unsolicited mail", ["refund", "spam"]),
            ]
            * 3
        )
    ]
    _write_jsonl(data, rows)
    out = tmp_path / "cal.json"
    assert _platt_calibrated("classify", data, out)["fitted_on"]["task"] == "classify"
    report = tmp_path / "report.json"
    proc = _cli(
        "eval", "--task", "classify", "--data", str(data), "--scorer", "bm25",
        "--calibrator", str(out), "--thresholds", "0.4,0.5", "--json", str(report),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "macro-F1" in proc.stdout and "AUROC" in proc.stdout
    saved = json.loads(report.read_text())
    assert [r["threshold"] for r in saved["thresholds"]] == [0.4, 0.5]
    assert saved["scorer"] == "bm25+platt"
    proc = _cli("eval", "--task", "classify", "--data", str(tmp_path), "--scorer", "bm25")
    assert proc.returncode == 2 and "JSONL" in proc.stderr
    proc = _cli(
        "classify", "refund my order", "--label", "refund=refund request",
        "--label", "spam=unsolicited advertising", "--scorer", "bm25", "--calibrator",
        str(out), "--exclusive",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    answer = json.loads(proc.stdout)
    assert answer["exclusive"] is True and answer["top"] == "refund"
    assert answer["scorer"] == "bm25+platt"


# -- with the embedded model ---------------------------------------------------------------


def _needs_model() -> None:
    try:
        from ctxcompress._scorers._default._embedded import minilm_model_dir

        minilm_model_dir()
    except Exception as exc:
        pytest.skip(f"embedded model unavailable: {exc}")


NEWS = {
    "World": "world news: international affairs, politics, governments, elections, wars",
    "Sports": "sports news: games, teams, athletes, matches and scores",
    "Business": "business news: companies, markets, the economy, earnings, trade",
    "Sci/Tech": "science and technology news: research, computers, the internet, gadgets",
}


def test_default_classifies_at_a_fixed_threshold() -> None:
    _needs_model()
    result = classify(
        "The striker scored twice as the home team won the cup final 3-1 on Sunday.", NEWS
    )
    assert result.positive == ("Sports",)
    assert result["Sports"].probability >= 0.5 > result["Business"].probability
    exclusive = classify(
        "Shares of the chipmaker fell 8% after quarterly earnings missed forecasts.",
        NEWS,
        exclusive=True,
    )
    assert exclusive.top.label == "Business"
    assert sum(d.probability for d in exclusive.labels) <= 1.0


def test_default_scorer_is_built_once_and_shared_across_threads() -> None:
    _needs_model()
    from ctxcompress._scorers._registry import shared_default_scorer

    first = shared_default_scorer()
    texts = [f"The team won match number {i} of the season." for i in range(8)]
    results: dict[int, float] = {}

    def work(i: int) -> None:
        results[i] = classify(texts[i], NEWS)["Sports"].probability

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert shared_default_scorer() is first
    alone = classify_many(texts, NEWS, scorer=first)
    assert [results[i] for i in range(8)] == pytest.approx(
        [c["Sports"].probability for c in alone], abs=1e-6
    )


def test_default_near_duplicates() -> None:
    _needs_model()
    a = "The company reported a sharp rise in quarterly profit on strong sales in Asia."
    b = "Quarterly profit rose sharply at the company, helped by strong Asian sales."
    c = "Heavy rain is expected across the north of the country this weekend."
    assert duplicate_probability(a, b) == pytest.approx(duplicate_probability(b, a))
    assert duplicate_probability(a, b) >= 0.5 > duplicate_probability(a, c)
    found = find_duplicates([a, c, b])
    assert [(d.first, d.second) for d in found] == [(0, 2)]


def test_duplicates_task_scores_references_as_duplicate_probability(tmp_path: Path) -> None:
    """Near-duplicate data in the classification format (the description of ``duplicate``
    is the reference text): ``--task duplicates`` asks "does the text say the same?", as
    :func:`duplicate_probability` does; ``classify()`` asks "is the text about it?"."""
    _needs_model()
    text = "The company reported a sharp rise in quarterly profit on strong sales in Asia."
    pairs = [
        ("Quarterly profit rose sharply at the company, helped by strong Asian sales.", True),
        ("The company reported a sharp fall in quarterly profit on weak sales in Europe.", False),
        ("Heavy rain is expected across the north of the country this weekend.", False),
    ]
    rows = [
        {"id": str(i), "text": text, "labels": {"duplicate": ref}, "gold": ["duplicate"] * dup}
        for i, (ref, dup) in enumerate(pairs)
    ]
    data = tmp_path / "pairs.jsonl"
    _write_jsonl(data, rows)
    items = load_items(data)
    scorer = shared_default_scorer()
    as_duplicates = [p["duplicate"] for p in score_items(scorer, items, duplicates=True)]
    as_labels = [p["duplicate"] for p in score_items(scorer, items)]
    assert as_duplicates == pytest.approx([duplicate_probability(text, r) for r, _ in pairs])
    assert as_duplicates[0] >= 0.5 > as_duplicates[1]
    # The label model reads the reworded opposite as "about the same thing".
    assert as_labels[1] > as_duplicates[1]
    out = tmp_path / "cal.json"
    assert _platt_calibrated("duplicates", data, out)["fitted_on"]["task"] == "duplicates"
    proc = _cli("eval", "--task", "duplicates", "--data", str(data), "--thresholds", "0.5")
    assert proc.returncode == 0, proc.stderr
    assert "macro-F1" in proc.stdout
