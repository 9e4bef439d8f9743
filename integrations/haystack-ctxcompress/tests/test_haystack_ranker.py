"""CtxCompressRanker in real Haystack pipelines: document store, BM25 retriever, YAML, copies."""

from __future__ import annotations

import os

# Before haystack is imported (it reads this once): no usage statistics, nothing online.
os.environ["HAYSTACK_TELEMETRY_ENABLED"] = "False"

import copy
import pickle
from pathlib import Path
from typing import Any

import anyio
import pytest
from haystack import Document, Pipeline
from haystack.components.retrievers.in_memory import InMemoryBM25Retriever
from haystack.document_stores.in_memory import InMemoryDocumentStore
from haystack_integrations.components.rankers.ctxcompress import CtxCompressRanker

from ctxcompress import BaseScorer, BM25Scorer, Scores, load_scorer

CROSS_ENCODER = Path(__file__).resolve().parents[3] / "tests/fixtures/tiny-bert-cross-encoder"
QUERY = "Did methotrexate fail after a weekly trial?"
TEXTS = {
    13: "QuantiFERON-TB Gold Plus negative on 04/02/2026.",
    16: "Methotrexate 20 mg weekly failed after six months.",
    17: "Methotrexate was stopped: the weekly dose failed to control the disease.",
    33: "Billing statement: copay due, payment options.",
    14: "Hepatitis B surface antigen non-reactive.",
    36: "Appointment reminder: bring your insurance card.",
}


def documents() -> list[Document]:
    return [Document(content=t, meta={"page": p}) for p, t in TEXTS.items()]


def ranker(**kw: Any) -> CtxCompressRanker:
    kw.setdefault("scorer", "bm25")
    kw.setdefault("token_counter", "whitespace")
    return CtxCompressRanker(**kw)


def pipeline(**kw: Any) -> Pipeline:
    store = InMemoryDocumentStore()
    store.write_documents(documents())
    p = Pipeline()
    p.add_component("retriever", InMemoryBM25Retriever(document_store=store, top_k=6))
    p.add_component("ranker", ranker(**kw))
    p.connect("retriever.documents", "ranker.documents")
    return p


def pages(docs: list[Document]) -> list[int]:
    return [d.meta["page"] for d in docs]


def inputs(query: str = QUERY, **ranker_inputs: Any) -> dict[str, Any]:
    return {"retriever": {"query": query}, "ranker": {"query": query, **ranker_inputs}}


def test_public_names() -> None:
    import haystack_integrations.components.rankers.ctxcompress as package

    assert package.__all__ == ["CtxCompressRanker"]


def test_in_a_pipeline_sync_and_async() -> None:
    p = pipeline(top_k=2)
    out = p.run(inputs())["ranker"]["documents"]
    assert pages(out) == [16, 17]
    expected = BM25Scorer().score(
        QUERY,
        [
            d.content
            for d in p.run(inputs(), include_outputs_from={"retriever"})["retriever"]["documents"]
        ],
    )
    assert out[0].score == pytest.approx(max(expected))
    assert out[0].score >= out[1].score and all(0 <= d.score <= 1 for d in out)
    assert out[0].meta["ctxcompress_rule"].endswith("rank 1 <= top_k=2")
    aout = anyio.run(p.run_async, inputs())["ranker"]["documents"]
    assert [(d.id, d.score, d.meta) for d in aout] == [(d.id, d.score, d.meta) for d in out]


def test_per_run_top_k_and_threshold_replace_the_rankers() -> None:
    p = pipeline(top_k=3)
    query = "methotrexate weekly billing copay hepatitis antigen"
    assert len(p.run(inputs(query))["ranker"]["documents"]) == 3
    assert len(p.run(inputs(query, top_k=1))["ranker"]["documents"]) == 1
    strict = p.run(inputs(query, threshold=0.1))["ranker"]["documents"]
    assert pages(strict) == [33, 14] and all(d.score >= 0.1 for d in strict)
    assert len(anyio.run(p.run_async, inputs(query, top_k=2))["ranker"]["documents"]) == 2
    assert p.get_component("ranker").top_k == 3  # the ranker itself is unchanged
    with pytest.raises(ValueError, match="top_k must be an int >= 1"):
        ranker().run(query=QUERY, documents=documents(), top_k=0)


def test_yaml_round_trip_rebuilds_an_equal_pipeline() -> None:
    p = pipeline(top_k=2, threshold=0.1, instruction="Be strict.", order="document")
    yaml = p.dumps()
    assert "haystack_integrations.components.rankers.ctxcompress.ranker.CtxCompressRanker" in yaml
    again = Pipeline.loads(yaml)
    assert again == p and again.dumps() == yaml
    loaded = again.get_component("ranker")
    assert isinstance(loaded, CtxCompressRanker) and loaded.order == "document"
    # The loaded pipeline reads the same document store (InMemoryDocumentStore's index).
    assert again.run(inputs()) == p.run(inputs())


def test_a_scorer_object_does_not_serialize_and_the_error_names_the_spec_form() -> None:
    p = Pipeline()
    p.add_component("ranker", CtxCompressRanker(scorer=BM25Scorer()))
    with pytest.raises(ValueError, match=r"spec string instead, e\.g\. scorer='bm25'"):
        p.dumps()


def test_warm_up_loads_the_scorer_once() -> None:
    r = ranker(scorer=str(CROSS_ENCODER), top_k=2)
    r.warm_up()
    compressor = r._compressor
    assert compressor is not None
    r.warm_up()
    first = r.run(query=QUERY, documents=documents())["documents"]
    r.top_k = 1  # a setting changed after warm-up takes effect; the scorer stays loaded
    second = r.run(query=QUERY, documents=documents())["documents"]
    assert len(first) == 2 and len(second) == 1 and second[0].id == first[0].id
    assert r._compressor is compressor and compressor.scorer is r._compressor.scorer
    # Without warm_up (standalone use), run warms up itself.
    assert len(ranker().run(query=QUERY, documents=documents())["documents"]) == 5


def test_inputs_are_not_changed_and_edge_cases() -> None:
    docs = documents()
    before = copy.deepcopy(docs)
    kept = ranker(top_k=2).run(query=QUERY, documents=docs)["documents"]
    assert docs == before and all(d.score is None for d in docs)
    assert [d.id for d in kept] == [docs[1].id, docs[2].id]  # the same documents, copied
    assert ranker().run(query=QUERY, documents=[]) == {"documents": []}
    # A document without text is scored as empty text (kept only if the policy says so).
    empty = ranker(top_k=5).run(query=QUERY, documents=[Document(content=None), *docs])
    assert len(empty["documents"]) == 5
    with pytest.raises(ValueError, match="threshold must be in"):
        CtxCompressRanker(threshold=2)
    with pytest.raises(ValueError, match="order must be"):
        CtxCompressRanker(order="best")  # type: ignore[arg-type]


class FirstWord(BaseScorer):
    """A user's scorer object: 0.9 where the query's second word is on the page."""

    name = "first-word"

    def _score(self, criteria: Any, pages: Any) -> Scores:
        return Scores.of(
            [[0.9 if c.text.split()[1] in p.text.lower() else 0.1 for p in pages] for c in criteria]
        )


@pytest.mark.parametrize(
    "scorer",
    ["bm25", load_scorer(str(CROSS_ENCODER)), FirstWord()],
    ids=["spec", "onnx-object", "own-object"],
)
def test_copy_and_pickle_before_and_after_first_use(scorer: Any) -> None:
    r = ranker(scorer=scorer, top_k=3)

    def result(x: CtxCompressRanker) -> list[tuple[str, float | None]]:
        return [(d.id, d.score) for d in x.run(query=QUERY, documents=documents())["documents"]]

    fresh = [copy.deepcopy(r), pickle.loads(pickle.dumps(r))]
    expected = result(r)
    used = [copy.deepcopy(r), pickle.loads(pickle.dumps(r))]
    for other in fresh + used:
        assert other._compressor is None  # nothing loaded is copied; it loads its own
        assert result(other) == expected
    # A copy of a ranker in a pipeline belongs to no pipeline, and can join another.
    p = pipeline()
    q = Pipeline()
    q.add_component("ranker", copy.deepcopy(p.get_component("ranker")))
