"""CtxCompressPostprocessor with real LlamaIndex objects: index, query engines, events."""

from __future__ import annotations

import copy
import hashlib
import math
import re
from typing import Any

import anyio
import llama_index.postprocessor.ctxcompress as package
import pytest
from llama_index.core import Settings, VectorStoreIndex
from llama_index.core.base.embeddings.base import BaseEmbedding
from llama_index.core.bridge.pydantic import Field
from llama_index.core.instrumentation import get_dispatcher
from llama_index.core.instrumentation.event_handlers import BaseEventHandler
from llama_index.core.llms import MockLLM
from llama_index.core.query_engine import RetrieverQueryEngine
from llama_index.core.schema import NodeWithScore, QueryBundle, TextNode
from llama_index.postprocessor.ctxcompress import CtxCompressPostprocessor

from ctxcompress import PassagePruner


class HashingEmbedding(BaseEmbedding):
    """A local bag-of-words embedding: words hashed into 64 dimensions, normalised."""

    @classmethod
    def class_name(cls) -> str:
        return "HashingEmbedding"

    def _vec(self, text: str) -> list[float]:
        v = [0.0] * 64
        for w in re.findall(r"\w+", text.lower()):
            v[int(hashlib.md5(w.encode()).hexdigest(), 16) % 64] += 1
        n = math.sqrt(sum(x * x for x in v)) or 1.0
        return [x / n for x in v]

    def _get_query_embedding(self, query: str) -> list[float]:
        return self._vec(query)

    async def _aget_query_embedding(self, query: str) -> list[float]:
        return self._vec(query)

    def _get_text_embedding(self, text: str) -> list[float]:
        return self._vec(text)


TEXTS = {
    13: "QuantiFERON-TB Gold Plus negative on 04/02/2026.",
    16: "Methotrexate 20 mg weekly failed after six months.",
    33: "Billing statement: copay due, payment options.",
    14: "Hepatitis B surface antigen non-reactive.",
    36: "Appointment reminder: bring your insurance card.",
}


def nodes() -> list[TextNode]:
    return [TextNode(text=t, id_=f"p{p}", metadata={"page": p}) for p, t in TEXTS.items()]


@pytest.fixture(autouse=True)
def offline_llm() -> Any:
    # The response synthesizer reads Settings.llm even in no_text mode: keep it offline.
    previous = Settings._llm
    Settings.llm = MockLLM()
    yield
    Settings._llm = previous


@pytest.fixture
def index() -> VectorStoreIndex:
    return VectorStoreIndex(nodes(), embed_model=HashingEmbedding())


def post(**kw: Any) -> CtxCompressPostprocessor:
    kw.setdefault("scorer", "bm25")
    kw.setdefault("token_counter", "whitespace")
    return CtxCompressPostprocessor(**kw)


def pages(result: list[NodeWithScore]) -> list[int]:
    return [n.node.metadata["page"] for n in result]


def test_public_names_and_namespace_package() -> None:
    import llama_index
    import llama_index.postprocessor

    assert package.__all__ == ["CtxCompressPostprocessor", "CtxLabelFilterPostprocessor"]
    assert not hasattr(llama_index, "__file__") or llama_index.__file__ is None
    assert (
        not hasattr(llama_index.postprocessor, "__file__")
        or llama_index.postprocessor.__file__ is None
    )


def test_query_engine_sync_and_async(index: VectorStoreIndex) -> None:
    engine = index.as_query_engine(
        similarity_top_k=5,
        node_postprocessors=[post(threshold=0.3)],
        llm=MockLLM(),
        response_mode="no_text",
    )
    response = engine.query("QuantiFERON TB negative")
    assert pages(response.source_nodes) == [13]
    assert response.source_nodes[0].score >= 0.3
    aresponse = anyio.run(engine.aquery, "QuantiFERON TB negative")
    assert pages(aresponse.source_nodes) == [13]


def test_retriever_query_engine(index: VectorStoreIndex) -> None:
    engine = RetrieverQueryEngine.from_args(
        index.as_retriever(similarity_top_k=5),
        llm=MockLLM(),
        response_mode="no_text",
        node_postprocessors=[post(top_n=1)],
    )
    assert pages(engine.query("hepatitis B surface antigen").source_nodes) == [14]


def retrieved() -> list[NodeWithScore]:
    return [NodeWithScore(node=n, score=0.5 + i / 10) for i, n in enumerate(nodes())]


def test_scores_keep_retrieval_score_and_no_mutation() -> None:
    items = retrieved()
    before = copy.deepcopy(items)
    out = post(top_n=2, keep_retrieval_score=True).postprocess_nodes(
        items, query_str="methotrexate failed"
    )
    assert pages(out)[0] == 16
    assert 0 <= out[0].score <= 1
    assert out[0].node.metadata["retrieval_score"] == pytest.approx(0.6)
    assert [n.score for n in items] == [n.score for n in before]
    assert [n.node.metadata for n in items] == [n.node.metadata for n in before]
    plain = post(top_n=2).postprocess_nodes(items, query_str="methotrexate failed")
    assert "retrieval_score" not in plain[0].node.metadata


def test_native_async() -> None:
    out = anyio.run(
        lambda: post(top_n=1).apostprocess_nodes(retrieved(), query_str="billing copay")
    )
    assert pages(out) == [33]


def test_empty_no_relevant_node_budget_and_missing_query() -> None:
    assert post().postprocess_nodes([], query_str="x") == []
    # threshold alone keeps the default's other knobs, its min_keep=1 floor included.
    assert len(post(threshold=0.5).postprocess_nodes(retrieved(), query_str="zebra xylophone")) == 1
    assert (
        post(threshold=0.5, min_keep=0).postprocess_nodes(retrieved(), query_str="zebra xylophone")
        == []
    )
    out = post(max_tokens=14, order="document").postprocess_nodes(
        retrieved(), query_str="TB hepatitis billing"
    )
    assert sum(len(n.node.get_content().split()) for n in out) <= 14
    with pytest.raises(ValueError, match="needs a query"):
        post().postprocess_nodes(retrieved())


class Recorder(BaseEventHandler):
    names: list[str] = Field(default_factory=list)

    @classmethod
    def class_name(cls) -> str:
        return "Recorder"

    def handle(self, event: Any, **kwargs: Any) -> None:
        self.names.append(event.class_name())


def test_rerank_events_are_emitted() -> None:
    recorder = Recorder()
    root = get_dispatcher()
    root.add_event_handler(recorder)
    try:
        post(top_n=1).postprocess_nodes(retrieved(), query_bundle=QueryBundle("billing"))
    finally:
        root.event_handlers.remove(recorder)
    assert "ReRankStartEvent" in recorder.names and "ReRankEndEvent" in recorder.names


def test_unknown_fields_are_refused_and_top_k_names_top_n() -> None:
    with pytest.raises(ValueError, match=r"'top_k' \(did you mean 'top_n'\?\)"):
        CtxCompressPostprocessor(scorer="bm25", top_k=3)
    with pytest.raises(ValueError, match="top_n must be"):
        CtxCompressPostprocessor(scorer="bm25", top_n=-1)
    with pytest.raises(ValueError, match="threshold"):
        CtxCompressPostprocessor(scorer="bm25", threshold=2)


def test_scorer_and_compressor_are_built_once_and_rebuilt_on_change() -> None:
    post = CtxCompressPostprocessor(scorer="bm25", top_n=2, token_counter="whitespace")
    query = QueryBundle("methotrexate failed")
    first = post.postprocess_nodes([NodeWithScore(node=n) for n in nodes()], query)
    compressor = post._compressor_now()
    scorer = compressor.scorer
    post.postprocess_nodes([NodeWithScore(node=n) for n in nodes()], query)
    assert post._compressor_now() is compressor and compressor.scorer is scorer
    post.top_n = 1  # a setting changed after first use takes effect
    again = post.postprocess_nodes([NodeWithScore(node=n) for n in nodes()], query)
    assert len(first) == 2 and len(again) == 1
    assert post._compressor_now().scorer is scorer  # the spec's scorer is reused


def test_token_counts_follow_the_token_counter_and_the_llm_view() -> None:
    long_meta = TextNode(
        text="methotrexate failed",
        metadata={"note": " ".join(["word"] * 50)},
        excluded_embed_metadata_keys=["note"],
    )
    post = CtxCompressPostprocessor(scorer="bm25", max_tokens=20, token_counter="whitespace")
    query = QueryBundle("methotrexate failed")
    # The LLM view carries 50 more words than the EMBED view: over the budget of 20.
    assert post.postprocess_nodes([NodeWithScore(node=long_meta)], query) == []
    post.token_counter = "tiktoken"
    counter = post._tokens()
    assert counter.name != "whitespace" and counter.inner.name != "whitespace"


def test_a_scorer_written_with_the_one_hook() -> None:
    from collections.abc import Sequence

    from ctxcompress import BaseScorer, Criterion, Page, Scores

    class FirstWord(BaseScorer):
        name = "first-word"

        def _score(self, criteria: Sequence[Criterion], pages: Sequence[Page]) -> Scores:
            return Scores.of(
                [[0.9 if c.text.split()[0] in p.text else 0.1 for p in pages] for c in criteria]
            )

    post = CtxCompressPostprocessor(scorer=FirstWord(), threshold=0.5, token_counter="whitespace")
    kept = post.postprocess_nodes(
        [NodeWithScore(node=n) for n in nodes()], QueryBundle("Methotrexate failed?")
    )
    assert [k.node.metadata["page"] for k in kept] == [16] and kept[0].score == 0.9
    akept = anyio.run(
        post.apostprocess_nodes,
        [NodeWithScore(node=n) for n in nodes()],
        QueryBundle("Methotrexate failed?"),
    )
    assert [k.node.metadata["page"] for k in akept] == [16]


def test_prune_sends_the_kept_passages_and_their_offsets() -> None:
    text = (
        "The patient was seen in clinic. Methotrexate 20 mg weekly failed after six months. "
        "Parking was validated at the front desk. The weather was mild."
    )
    long = TextNode(text=text, id_="long", metadata={"page": 16})
    items = [NodeWithScore(node=long, score=0.5), retrieved()[2]]
    out = post(top_n=1, prune=PassagePruner(context=0)).postprocess_nodes(
        items, query_str="methotrexate failed"
    )
    (node,) = out
    content = node.node.get_content()
    assert "Methotrexate 20 mg weekly failed after six months." in content
    assert "[…]" in content and "weather" not in content
    for start, end in node.node.metadata["ctxcompress_spans"]:
        assert text[start:end] in content
    assert long.text == text and "ctxcompress_spans" not in long.metadata  # not mutated
    plain = post(top_n=1).postprocess_nodes(items, query_str="methotrexate failed")
    assert plain[0].node.get_content() == text


def test_label_filter_postprocessor() -> None:
    from llama_index.core.schema import NodeWithScore, TextNode

    from ctxcompress import BaseScorer, Scores

    class FirstWord(BaseScorer):
        name = "first-word"

        def _score(self, criteria, pages):
            return Scores.of(
                [[0.9 if c.text.split()[0] in p.text else 0.05 for p in pages] for c in criteria]
            )

    nodes = [NodeWithScore(node=TextNode(text=t), score=1.0) for t in ("refund now", "hi")]
    post = package.CtxLabelFilterPostprocessor(
        labels={"refund": "refund request"}, scorer=FirstWord()
    )
    assert [n.node.get_content() for n in post.postprocess_nodes(nodes)] == ["refund now"]
    post = package.CtxLabelFilterPostprocessor(
        labels={"refund": "refund request"}, drop=True, scorer=FirstWord()
    )
    assert [n.node.get_content() for n in post.postprocess_nodes(nodes)] == ["hi"]


def test_one_option_keeps_the_default_policy_and_bad_specs_fail_at_construction() -> None:
    # Issue 25: min_keep alone used to mean "keep every node".
    one = CtxCompressPostprocessor(scorer="bm25", min_keep=1, token_counter="whitespace")
    assert one._policy().describe() == "Hybrid(top_k=5, threshold=0.01, min_keep=1)"
    with pytest.raises(ValueError, match="known:"):
        CtxCompressPostprocessor(scorer="no-such-scheme")
    with pytest.raises(ValueError, match="does not exist"):
        CtxCompressPostprocessor(scorer="./no/such/model")
