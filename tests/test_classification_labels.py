"""A label's probability is its own: the same alone as among other labels, so that one
policy, one destination or one tag decides at the fixed threshold. Also the argument checks
and scorer unwrapping of ``find_duplicates``.

The model-backed tests use the embedded MiniLM and the shipped ``classifier.json``.
"""

from __future__ import annotations

import numpy as np
import pytest

from ctxcompress import (
    CachedScorer,
    InvalidInputError,
    classify,
    classify_many,
    find_duplicates,
    route,
    screen,
)
from ctxcompress._classification._duplicates import _default_embedder
from ctxcompress._scorers._default._scorer import DefaultScorer
from ctxcompress._scorers._default._single_text import (
    BASE_INPUTS,
    LABEL_INPUTS,
    label_inputs,
    load_classifier_params,
)
from ctxcompress._scorers._registry import shared_default_scorer

from .scorers import KeywordScorer

REFUND = "Please refund my order, it arrived broken"
REFUND_LABEL = {"refund": "the customer asks for their money back"}


def _needs_model() -> None:
    try:
        from ctxcompress._scorers._default._embedded import minilm_model_dir

        minilm_model_dir()
    except Exception as exc:
        pytest.skip(f"embedded model unavailable: {exc}")


def test_shipped_models_use_no_other_label() -> None:
    params = load_classifier_params()
    assert set(params.labels.features) <= set(LABEL_INPUTS)
    assert set(params.pairs.features) <= set(BASE_INPUTS)
    assert params.held_out["mrpc"]["model"] == "pairs"
    assert params.held_out["agnews"]["model"] == "labels"


def test_one_label_means_the_same_alone_and_among_others() -> None:
    _needs_model()
    alone = classify(REFUND, REFUND_LABEL)["refund"].probability
    assert alone >= 0.5
    for other in (
        {"spam": "unsolicited advertising"},
        {"damaged": "the product arrived damaged or broken"},
        {"a": "sports news", "b": "cooking recipes", "c": "a request for a refund"},
    ):
        among = classify(REFUND, {**REFUND_LABEL, **other})["refund"].probability
        assert among == pytest.approx(alone, abs=1e-9)


def test_label_side_ranks_are_shares_read_from_the_label_alone() -> None:
    _needs_model()
    scorer = shared_default_scorer()
    assert isinstance(scorer, DefaultScorer)
    params = load_classifier_params()
    options = {
        "background": params.background_labels,
        "zipf_cap": params.zipf_cap,
        "weight_floor": params.weight_floor,
    }
    texts = [REFUND, "The striker scored twice as the home side won the cup final."]
    refund = "the customer asks for their money back"
    encoder = scorer.bi_encoder.encoder
    alone = label_inputs(encoder, texts, [refund], **options)
    among = label_inputs(encoder, texts, ["sports news", refund], **options)
    assert among[:, 1] == pytest.approx(alone[:, 0], abs=1e-12)
    ranks = among[..., [LABEL_INPUTS.index("cosine_label_rank")]]
    assert ((ranks >= 0) & (ranks <= 1)).all()
    # Each text ranks higher against its own label than the other text does.
    assert ranks[0, 1, 0] > ranks[1, 1, 0] and ranks[1, 0, 0] > ranks[0, 0, 0]


def test_labels_are_decided_independently_in_multi_label_mode() -> None:
    _needs_model()
    labels = {
        "refund": "the customer asks for their money back",
        "damaged": "the product arrived damaged or broken",
        "spam": "unsolicited advertising",
        "shipping": "questions about delivery times",
    }
    texts = [REFUND, "Buy cheap watches now, limited offer, click here!!!"]
    together = np.asarray(
        [[c[n].probability for n in labels] for c in classify_many(texts, labels)]
    )
    for j, name in enumerate(labels):
        alone = classify_many(texts, {name: labels[name]})
        assert [c[name].probability for c in alone] == pytest.approx(together[:, j], abs=1e-9)
    # Several labels may apply at once; an unrelated one does not.
    first = classify(REFUND, labels)
    assert {"refund", "damaged"} <= set(first.positive) and "spam" not in first.positive


def test_screen_and_route_with_a_single_policy() -> None:
    _needs_model()
    flagged = screen(
        "What is your social security number and home address?",
        {"pii": "asks for personal data"},
    )
    assert flagged.result["pii"].decision
    clean = screen("The weather is lovely today.", {"pii": "asks for personal data"})
    assert not clean.result["pii"].decision
    routed = route(
        ["Invoice #123 is overdue, please pay", "Our team won the match on Sunday"],
        {"billing": "invoices and payments"},
    )
    assert [c.positive for c in routed.documents] == [("billing",), ()]


def test_find_duplicates_validates_its_arguments() -> None:
    texts = ["a b", "a b c"]
    scorer = KeywordScorer()
    embed = lambda items: np.eye(len(items), dtype=np.float32)  # noqa: E731
    for bad in (None, "0.5", float("nan"), 2.0, True):
        with pytest.raises(InvalidInputError, match="min_cosine"):
            find_duplicates(texts, scorer=scorer, embed=embed, min_cosine=bad)  # type: ignore[arg-type]
    for bad_n in (True, 0, 2.5, None):
        with pytest.raises(InvalidInputError, match="neighbours"):
            find_duplicates(texts, scorer=scorer, embed=embed, neighbours=bad_n)  # type: ignore[arg-type]


def test_find_duplicates_needs_embed_for_a_scorer_without_embeddings() -> None:
    with pytest.raises(InvalidInputError, match="embed="):
        find_duplicates(["one text", "another text"], scorer=KeywordScorer())


def test_find_duplicates_unwraps_the_default_scorer() -> None:
    _needs_model()
    from ctxcompress._scorers._default._scorer import DefaultScorer
    from ctxcompress._scorers._registry import load_scorer

    own = load_scorer("default")
    assert isinstance(own, DefaultScorer)
    embed = _default_embedder(CachedScorer(CachedScorer(own)))
    # The wrapped scorer's own encoder, not a second (shared) model.
    assert getattr(embed, "__self__", None) is own.bi_encoder.encoder
