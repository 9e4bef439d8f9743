"""The default scorer's fusion features, computed without the model (pure numpy)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ctxcompress._scorers._default._scorer import (
    FEATURES,
    FeatureInputs,
    asks_quantity,
    digit_density,
    fusion_features,
    load_fusion_params,
)

PAGES = [
    "Table of contents and a forward-looking statements notice.",
    "Consolidated statements of cash flows: purchases of property 1,577 1,373 1,420.",
    "Management's discussion of liquidity and capital resources.",
    "Exhibit index.",
]


def inputs(
    cosine: list[float], *, asks: bool = True, maxsim: list[float] | None = None
) -> FeatureInputs:
    n = len(cosine)
    return FeatureInputs(
        cosine=np.asarray(cosine),
        bm25_z=np.zeros(n),
        coverage=np.zeros(n),
        span_coverage=np.zeros(n),
        digit_density=digit_density(PAGES[:n]),
        asks_quantity=asks,
        maxsim=np.asarray(maxsim if maxsim is not None else [0.0] * n),
    )


def test_a_page_next_to_the_best_match_inherits_its_standing() -> None:
    values = FEATURES["cosine_z_neighbours"](inputs([0.1, 0.9, 0.1, 0.1]))
    best = FEATURES["cosine_z"](inputs([0.1, 0.9, 0.1, 0.1]))[1]
    assert values[0] == pytest.approx(best) and values[2] == pytest.approx(best)
    assert values[1] < best  # the page itself only sees its weaker neighbours
    assert values[3] < best


def test_neighbours_of_a_single_page_are_neutral() -> None:
    assert FEATURES["cosine_z_neighbours"](inputs([0.7])).tolist() == [0.0]


@pytest.mark.parametrize(
    ("criterion", "expected"),
    [
        ("What is the FY2018 capital expenditure amount (in USD millions)?", True),
        ("How much did revenue grow?", True),
        ("What was the operating margin?", True),
        ("Is there a negative tuberculosis test?", False),
        ("Receiving Party shall not disclose the fact that the Agreement was agreed.", False),
    ],
)
def test_asks_quantity(criterion: str, expected: bool) -> None:
    assert asks_quantity(criterion) is expected


def test_figures_count_only_when_the_criterion_asks_for_one() -> None:
    density = digit_density(PAGES)
    assert density.argmax() == 1 and density[3] == 0.0
    asked = FEATURES["digit_density_if_quantity"](inputs([0.5] * 4, asks=True))
    not_asked = FEATURES["digit_density_if_quantity"](inputs([0.5] * 4, asks=False))
    assert asked.tolist() == density.tolist()
    assert not_asked.tolist() == [0.0] * 4


def test_log_pages_is_the_documents_length_on_every_page() -> None:
    assert FEATURES["log_pages"](inputs([0.2, 0.3, 0.4])).tolist() == [math.log(3)] * 3


def test_the_shipped_feature_set_builds_one_column_per_feature() -> None:
    params = load_fusion_params()
    x = fusion_features(params.features, inputs([0.2, 0.6, 0.4, 0.1]))
    assert x.shape == (4, len(params.features))
    assert np.isfinite(x).all()


def test_the_token_level_score_enters_raw_and_standardised_within_the_document() -> None:
    features = inputs([0.2, 0.2, 0.2, 0.2], maxsim=[0.3, 0.9, 0.3, 0.3])
    assert list(FEATURES["maxsim"](features)) == [0.3, 0.9, 0.3, 0.3]
    z = FEATURES["maxsim_z"](features)
    assert z[1] > 0 > z[0] and abs(float(z.mean())) < 1e-9


def test_the_token_level_gap_is_the_distance_below_the_documents_best_page() -> None:
    features = inputs([0.2, 0.2, 0.2, 0.2], maxsim=[0.3, 0.9, 0.5, 0.3])
    assert FEATURES["maxsim_gap"](features) == pytest.approx([-0.6, 0.0, -0.4, -0.6])
