"""Calibrators: fitting, JSON round trips, and refusing a calibrator of another scorer."""

from __future__ import annotations

import json
import math
import random
from pathlib import Path

import numpy as np
import pytest

from ctxcompress import (
    BM25Scorer,
    CalibratedScorer,
    Calibrator,
    InvalidInputError,
    fit_calibrator,
    load_calibrator,
)


def synthetic(a: float, b: float, n: int = 20000, seed: int = 0) -> tuple[list[float], list[int]]:
    rng = random.Random(seed)
    scores = [rng.random() for _ in range(n)]
    labels = [int(rng.random() < 1 / (1 + math.exp(-(a * s + b)))) for s in scores]
    return scores, labels


def test_platt_recovers_known_parameters() -> None:
    cal = fit_calibrator(*synthetic(6.0, -4.0), "platt", "bm25")
    assert cal.params["a"] == pytest.approx(6.0, abs=0.5)
    assert cal.params["b"] == pytest.approx(-4.0, abs=0.4)


def test_temperature_fits_only_a_scale() -> None:
    rng = random.Random(1)
    probs = [rng.uniform(0.01, 0.99) for _ in range(5000)]
    # Overconfident scores: the truth is a softened version of them (temperature 2).
    labels = [int(rng.random() < 1 / (1 + math.exp(-math.log(p / (1 - p)) / 2))) for p in probs]
    cal = fit_calibrator(probs, labels, "temperature", "x")
    assert cal.params["b"] == 0.0
    assert cal.params["a"] == pytest.approx(0.5, abs=0.1)
    assert fit_calibrator(probs, labels, "affine", "x").params["b"] != 0.0


def test_isotonic_is_monotone_and_matches_rates() -> None:
    scores = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6]
    labels = [0, 1, 0, 0, 1, 1]
    cal = fit_calibrator(scores, labels, "isotonic", "x")
    out = cal(scores)
    assert out == sorted(out)
    # PAV pools (0.2, 0.3, 0.4) -> 1/3, keeps 0.1 -> 0 and (0.5, 0.6) -> 1.
    assert out[0] == 0.0 and out[2] == pytest.approx(1 / 3) and out[5] == 1.0


def test_json_round_trip(tmp_path: Path) -> None:
    for method in ("platt", "isotonic", "affine", "temperature"):
        cal = fit_calibrator(
            *synthetic(3.0, -2.0, n=500), method, "bm25", fitted_on={"dataset": "x"}
        )
        path = tmp_path / f"{method}.json"
        cal.save(path)
        loaded = load_calibrator(path)
        assert loaded == cal
        grid = np.linspace(0, 1, 11)
        assert loaded(grid) == cal(grid)
        data = json.loads(path.read_text())
        assert data["format"] == "ctxcompress-calibrator" and data["scorer_id"] == "bm25"
        assert data["fitted_on"]["dataset"] == "x" and data["fitted_on"]["n"] == 500


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("not json", "not JSON"),
        ('{"format": "x"}', "not a ctxcompress calibrator"),
        ('{"format": "ctxcompress-calibrator", "method": "magic"}', "unknown calibration method"),
        ('{"format": "ctxcompress-calibrator", "method": "platt", "params": {"a": 1}}', "params"),
        (
            '{"format": "ctxcompress-calibrator", "method": "platt", "params": {"a": 1, "b": 0}}',
            "scorer_id",
        ),
    ],
)
def test_bad_calibrator_files(text: str, match: str) -> None:
    with pytest.raises(InvalidInputError, match=match):
        Calibrator.from_json(text)


def test_bad_fit_inputs() -> None:
    with pytest.raises(InvalidInputError, match="equal-length"):
        fit_calibrator([0.1, 0.2], [1], "platt", "x")
    with pytest.raises(InvalidInputError, match="0/1"):
        fit_calibrator([0.1, 0.2], [1, 2], "platt", "x")
    with pytest.raises(InvalidInputError, match="unknown calibration method"):
        fit_calibrator([0.1, 0.2], [1, 0], "magic", "x")  # type: ignore[arg-type]


def test_calibrated_scorer_applies_and_refuses_other_scorers() -> None:
    cal = Calibrator("platt", "bm25", {"a": 0.0, "b": 0.0})
    scorer = CalibratedScorer(BM25Scorer(), cal)
    assert scorer.name == "bm25+platt"
    assert scorer.score("q", ["a q", "b"]) == [0.5, 0.5]
    other = Calibrator("platt", "remote:cohere/rerank-v3.5", {"a": 1.0, "b": 0.0})
    with pytest.raises(InvalidInputError, match="fitted for scorer 'remote:cohere"):
        CalibratedScorer(BM25Scorer(), other)


def test_calibrated_scorer_passes_the_inner_scorers_notes_through() -> None:
    from ctxcompress import Compressor, CrossEncoderScorer, TopK

    model = Path(__file__).parent / "fixtures" / "tiny-bert-cross-encoder"
    inner = CrossEncoderScorer(model, providers="cpu")
    calibrator = fit_calibrator([0.1, 0.2, 0.8, 0.9], [0, 0, 1, 1], "platt", scorer_id=inner.name)
    scorer = CalibratedScorer(inner, calibrator)
    long_page = " ".join(["tuberculosis screening was negative"] * 100)
    result = Compressor(scorer, TopK(2), "whitespace").compress(
        ["QuantiFERON negative", long_page], "tuberculosis"
    )
    assert result.selections[0].decisions[1].note is not None
    assert "windows" in result.selections[0].decisions[1].note
