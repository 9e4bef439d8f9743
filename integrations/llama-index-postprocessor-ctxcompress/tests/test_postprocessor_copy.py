"""The postprocessor copied, pickled and serialized: same results, runtime state rebuilt."""

from __future__ import annotations

import copy
import json
import pickle
from pathlib import Path
from typing import Any

import pytest
from llama_index.core.schema import NodeWithScore, QueryBundle, TextNode
from llama_index.postprocessor.ctxcompress import CtxCompressPostprocessor

from ctxcompress import BaseScorer, Hybrid, Scores, TopK, load_scorer

CROSS_ENCODER = Path(__file__).resolve().parents[3] / "tests/fixtures/tiny-bert-cross-encoder"
QUERY = QueryBundle("methotrexate failed weekly")
TEXTS = [
    "QuantiFERON-TB Gold Plus negative on 04/02/2026.",
    "Methotrexate 20 mg weekly failed after six months.",
    "Billing statement: copay due, payment options.",
    "Hepatitis B surface antigen non-reactive.",
]


class FirstWord(BaseScorer):
    """A user's scorer object: 0.9 where the query's first word is on the page."""

    name = "first-word"

    def _score(self, criteria: Any, pages: Any) -> Scores:
        return Scores.of(
            [[0.9 if c.text.split()[0] in p.text.lower() else 0.1 for p in pages] for c in criteria]
        )


def result(post: CtxCompressPostprocessor) -> list[tuple[str, float | None]]:
    nodes = [NodeWithScore(node=TextNode(text=t, id_=f"n{i}")) for i, t in enumerate(TEXTS)]
    return [(n.node.node_id, n.score) for n in post.postprocess_nodes(nodes, QUERY)]


@pytest.mark.parametrize(
    "scorer",
    ["bm25", load_scorer(str(CROSS_ENCODER)), FirstWord()],
    ids=["spec", "onnx-object", "own-object"],
)
def test_copy_and_pickle_before_and_after_first_use(scorer: Any) -> None:
    post = CtxCompressPostprocessor(scorer=scorer, top_n=2, token_counter="whitespace")
    fresh = [copy.deepcopy(post), pickle.loads(pickle.dumps(post))]
    expected = result(post)
    used = [copy.deepcopy(post), pickle.loads(pickle.dumps(post))]
    for other in fresh + used:
        # Settings are copied; the compressor, loaded scorer and token counts are not.
        assert other._compressor is None and other._counter is None and other._loaded is None
        assert other.top_n == 2 and result(other) == expected


def test_to_dict_from_dict_and_json_round_trip_with_a_spec() -> None:
    post = CtxCompressPostprocessor(
        scorer="bm25", threshold=0.2, top_n=2, instruction="Be strict.", token_counter="whitespace"
    )
    data = post.to_dict()
    assert data["class_name"] == "CtxCompressPostprocessor" and data["scorer"] == "bm25"
    again = CtxCompressPostprocessor.from_dict(data)
    assert again.to_dict() == data and result(again) == result(post)
    from_json = CtxCompressPostprocessor.from_json(post.to_json())
    assert from_json.to_dict() == data and result(from_json) == result(post)
    # A policy object is written as the Hybrid it amounts to, and read back as one.
    with_policy = CtxCompressPostprocessor(
        scorer="bm25", policy=TopK(1), token_counter="whitespace"
    )
    assert json.loads(with_policy.to_json())["policy"]["top_k"] == 1
    back = CtxCompressPostprocessor.from_json(with_policy.to_json())
    assert back.policy == Hybrid(top_k=1) and result(back) == result(with_policy)


def test_a_scorer_object_cannot_be_serialized_and_the_error_names_the_spec_form() -> None:
    post = CtxCompressPostprocessor(scorer=FirstWord(), token_counter="whitespace")
    with pytest.raises(ValueError, match=r"spec string instead, e\.g\. scorer='bm25'"):
        post.to_json()
    with pytest.raises(ValueError, match="spec string instead"):
        post.to_dict()
