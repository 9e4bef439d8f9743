"""CtxCompressor with real LangChain objects: vector store, retrievers, pipelines."""

from __future__ import annotations

import copy
from collections.abc import Sequence

import anyio
import langchain_ctxcompress
import pytest
from langchain_classic.retrievers import ContextualCompressionRetriever
from langchain_classic.retrievers.document_compressors import DocumentCompressorPipeline
from langchain_core.documents import Document
from langchain_ctxcompress import CtxCompressionRetriever, CtxCompressor, compress_by_criteria
from langchain_helpers import documents, vector_store

from ctxcompress import BaseScorer, Criterion, Page, PassagePruner, Scores


class AsyncOnly(BaseScorer):
    """Scores 0.9 when the query's first word is in the text; only works through async."""

    name = "async-only"

    def _score(self, criteria: Sequence[Criterion], pages: Sequence[Page]) -> Scores:
        raise AssertionError("the sync path must not be used by acompress_documents")

    async def _ascore(self, criteria: Sequence[Criterion], pages: Sequence[Page]) -> Scores:
        await anyio.sleep(0)
        return Scores.of(
            [[0.9 if c.text.split()[0] in p.text else 0.05 for p in pages] for c in criteria]
        )


DOCS = documents()


@pytest.fixture
def retriever():
    return vector_store().as_retriever(search_kwargs={"k": 5})


def compressor(**kw) -> CtxCompressor:
    kw.setdefault("scorer", "bm25")
    kw.setdefault("token_counter", "whitespace")
    return CtxCompressor(**kw)


def test_public_names() -> None:
    assert set(langchain_ctxcompress.__all__) == {
        "CtxCompressor",
        "CtxCompressionRetriever",
        "LabelFilter",
        "compress_by_criteria",
    }


class FirstWordScorer(BaseScorer):
    """0.9 when the text holds the description's first word, else 0.05."""

    name = "first-word"

    def _score(self, criteria, pages):
        return Scores.of(
            [[0.9 if c.text.split()[0] in p.text else 0.05 for p in pages] for c in criteria]
        )


def test_label_filter_keeps_or_drops_by_label() -> None:
    from langchain_core.documents import Document

    docs = [
        Document(page_content="refund my order", metadata={"n": 0}),
        Document(page_content="hello"),
    ]
    labels = {"refund": "refund request", "spam": "unsolicited ads"}
    kept = langchain_ctxcompress.LabelFilter(labels=labels, scorer=FirstWordScorer()).invoke(docs)
    assert [d.page_content for d in kept] == ["refund my order"]
    assert kept[0].metadata["ctxcompress_labels"]["refund"] == pytest.approx(0.9)
    assert "ctxcompress_labels" not in docs[0].metadata
    dropped = langchain_ctxcompress.LabelFilter(
        labels=labels, keep=["refund"], drop=True, scorer=FirstWordScorer()
    ).invoke(docs)
    assert [d.page_content for d in dropped] == ["hello"]


def test_contextual_compression_retriever_sync_and_async(retriever) -> None:
    ccr = ContextualCompressionRetriever(
        base_compressor=compressor(threshold=0.3), base_retriever=retriever
    )
    query = "QuantiFERON TB negative"
    docs = ccr.invoke(query)
    assert [d.metadata["page"] for d in docs] == [13]
    assert docs[0].metadata["relevance_score"] >= 0.3
    assert "threshold" in docs[0].metadata["ctxcompress_rule"]
    adocs = anyio.run(ccr.ainvoke, query)
    assert [d.metadata for d in adocs] == [d.metadata for d in docs]


def test_scores_are_the_calibrated_probabilities() -> None:
    from ctxcompress import BM25Scorer

    docs = compressor(top_n=5).compress_documents(DOCS, "hepatitis B antigen")
    expected = BM25Scorer().score("hepatitis B antigen", [d.page_content for d in DOCS])
    assert docs[0].metadata["page"] == 14
    assert docs[0].metadata["relevance_score"] == pytest.approx(max(expected))
    assert [d.metadata["relevance_score"] for d in docs] == sorted(expected, reverse=True)


def test_inside_a_pipeline(retriever) -> None:
    pipeline = DocumentCompressorPipeline(
        transformers=[compressor(top_n=3), compressor(threshold=0.3)]
    )
    ccr = ContextualCompressionRetriever(base_compressor=pipeline, base_retriever=retriever)
    assert [d.metadata["page"] for d in ccr.invoke("methotrexate failed weekly")] == [16]


def test_own_retriever_without_langchain_classic(retriever) -> None:
    r = CtxCompressionRetriever(base_retriever=retriever, compressor=compressor(threshold=0.3))
    assert [d.metadata["page"] for d in r.invoke("hepatitis B surface antigen")] == [14]
    assert [d.metadata["page"] for d in anyio.run(r.ainvoke, "hepatitis B surface antigen")] == [14]


def test_native_async_path() -> None:
    c = CtxCompressor(scorer=AsyncOnly(), threshold=0.5, token_counter="whitespace")
    docs = anyio.run(c.acompress_documents, DOCS, "Billing questions")
    assert [d.metadata["page"] for d in docs] == [33]


def test_documents_are_not_mutated() -> None:
    before = copy.deepcopy(DOCS)
    kept = compressor(top_n=2).compress_documents(DOCS, "TB screening negative")
    assert before == DOCS
    assert all("relevance_score" not in d.metadata for d in DOCS)
    assert all("relevance_score" in d.metadata for d in kept)


def test_empty_input_no_relevant_document_and_budget() -> None:
    assert compressor().compress_documents([], "anything") == []
    assert anyio.run(compressor().acompress_documents, [], "anything") == []
    # threshold alone keeps the default's other knobs, its min_keep=1 floor included.
    floor = compressor(threshold=0.5).compress_documents(DOCS, "zebra xylophone")
    assert len(floor) == 1 and "min_keep=1 floor" in floor[0].metadata["ctxcompress_rule"]
    assert compressor(threshold=0.5, min_keep=0).compress_documents(DOCS, "zebra xylophone") == []
    kept = compressor(max_tokens=12, order="document").compress_documents(
        DOCS, "TB hepatitis billing"
    )
    assert sum(len(d.page_content.split()) for d in kept) <= 12


def test_multi_criterion_helper() -> None:
    out = compress_by_criteria(
        compressor(top_n=1), DOCS, {"tb": "QuantiFERON TB", "hbv": "hepatitis B antigen"}
    )
    assert {k: [d.metadata["page"] for d in v] for k, v in out.items()} == {"tb": [13], "hbv": [14]}
    assert compress_by_criteria(compressor(), [], ["a", "b"]) == {"c0": [], "c1": []}


def test_policy_and_shortcuts_are_exclusive() -> None:
    from ctxcompress import TopK

    with pytest.raises(ValueError, match="either policy"):
        compressor(policy=TopK(2), threshold=0.5).compress_documents(DOCS, "q")


def test_unknown_fields_are_refused_and_top_k_names_top_n() -> None:
    with pytest.raises(ValueError, match=r"'top_k' \(did you mean 'top_n'\?\)"):
        CtxCompressor(scorer="bm25", top_k=3)
    with pytest.raises(ValueError, match="top_n must be"):
        CtxCompressor(scorer="bm25", top_n=-1)


def test_settings_changed_after_first_use_take_effect_and_the_scorer_is_reused() -> None:
    compressor = CtxCompressor(scorer="bm25", top_n=2, token_counter="whitespace")
    assert len(compressor.compress_documents(DOCS, "methotrexate failed")) == 2
    scorer = compressor._get().scorer
    compressor.top_n = 1
    assert len(compressor.compress_documents(DOCS, "methotrexate failed")) == 1
    assert compressor._get().scorer is scorer


LONG = Document(
    "The patient was seen in clinic. Methotrexate 20 mg weekly failed after six months. "
    "Parking was validated at the front desk. The weather was mild.",
    metadata={"page": 16},
)


def test_prune_sends_the_kept_passages_and_their_offsets() -> None:
    docs = [LONG, DOCS[2]]
    before = copy.deepcopy(docs)
    out = compressor(top_n=1, prune=PassagePruner(context=0)).compress_documents(
        docs, "methotrexate failed"
    )
    (doc,) = out
    spans = doc.metadata["ctxcompress_spans"]
    assert "Methotrexate 20 mg weekly failed after six months." in doc.page_content
    assert "[…]" in doc.page_content and "weather" not in doc.page_content
    for start, end in spans:
        assert LONG.page_content[start:end] in doc.page_content
    assert docs == before  # inputs untouched
    plain = compressor(top_n=1).compress_documents(docs, "methotrexate failed")
    assert plain[0].page_content == LONG.page_content
    assert "ctxcompress_spans" not in plain[0].metadata
    adocs = anyio.run(
        compressor(top_n=1, prune=PassagePruner(context=0)).acompress_documents,
        docs,
        "methotrexate failed",
    )
    assert [(d.page_content, d.metadata) for d in adocs] == [(doc.page_content, doc.metadata)]


def test_one_option_keeps_the_default_policy_and_bad_specs_fail_at_construction() -> None:
    # Issue 25: min_keep alone used to mean "keep every document".
    kept = CtxCompressor(scorer="bm25", min_keep=1, token_counter="whitespace")
    assert kept._policy().describe() == "Hybrid(top_k=5, threshold=0.01, min_keep=1)"
    many = [Document(page_content=f"TB screening note {i}") for i in range(12)]
    assert len(kept.compress_documents(many, "TB screening")) == 5
    with pytest.raises(ValueError, match="known:"):
        CtxCompressor(scorer="no-such-scheme")
    with pytest.raises(ValueError, match="does not exist"):
        CtxCompressor(scorer="./no/such/model")
