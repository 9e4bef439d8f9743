"""Pairs joined from once-tokenised texts are the pairs the tokenizer itself would make."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tokenizers import Tokenizer

from ctxcompress import CrossEncoderScorer
from ctxcompress._scorers._onnx._pair_template import PairTemplate

MODEL = Path(__file__).parent / "fixtures" / "tiny-bert-cross-encoder"
PAIRS = [(r["query"], r["passage"]) for r in json.loads((MODEL / "reference.json").read_text())]


@pytest.fixture
def tokenizer() -> Tokenizer:
    t = Tokenizer.from_file(str(MODEL / "tokenizer.json"))
    t.no_truncation()
    t.no_padding()
    return t


def test_the_probe_reads_berts_layout(tokenizer: Tokenizer) -> None:
    template = PairTemplate.probe(tokenizer)
    assert template is not None
    cls, sep = tokenizer.token_to_id("[CLS]"), tokenizer.token_to_id("[SEP]")
    assert (template.prefix, template.middle, template.suffix) == ((cls,), (sep,), (sep,))
    assert (template.first_type, template.second_type) == (0, 1)
    assert template.special_tokens == tokenizer.num_special_tokens_to_add(is_pair=True)


def test_joined_ids_equal_the_tokenizers_own_pairs(tokenizer: Tokenizer) -> None:
    template = PairTemplate.probe(tokenizer)
    assert template is not None
    for query, passage in PAIRS:
        a = tokenizer.encode(query, add_special_tokens=False).ids
        b = tokenizer.encode(passage, add_special_tokens=False).ids
        pair = tokenizer.encode(query, passage)
        assert template.join(a, b) == (pair.ids, pair.type_ids)


def test_criteria_by_pages_score_as_the_same_pairs_from_strings() -> None:
    scorer = CrossEncoderScorer(MODEL, providers="cpu")
    queries = sorted({q for q, _ in PAIRS})
    # Pages that fit the tiny model's 64 tokens: a longer one is cut into windows, on token
    # boundaries here and on character boundaries when pairs come as strings.
    pages = sorted({p for _, p in PAIRS if len(scorer._measure.encode(p).ids) < 40})
    assert len(pages) >= 3
    scores = scorer.scores(queries, pages)
    from_strings = scorer.score_pairs([(q, p) for q in queries for p in pages])
    assert [s for row in scores.rows for s in row] == pytest.approx(from_strings, abs=1e-6)
    assert not scores.notes
