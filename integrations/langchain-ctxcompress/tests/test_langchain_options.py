"""Per-call options, k on the retriever, any Runnable as the base, copy, pickle, dumpd/loads."""

from __future__ import annotations

import copy
import pickle
from typing import Any

import anyio
import pytest
from langchain_core.documents import Document
from langchain_core.load import dumpd, dumps, loads
from langchain_core.runnables import RunnableLambda
from langchain_ctxcompress import CtxCompressionRetriever, CtxCompressor
from langchain_helpers import CROSS_ENCODER, documents, vector_store

from ctxcompress import BaseScorer, Hybrid, Scores, TopK, load_scorer

QUERY = "methotrexate failed weekly"


def pages(docs: list[Document]) -> list[int]:
    return [d.metadata["page"] for d in docs]


def bm25(**kw: Any) -> CtxCompressor:
    return CtxCompressor(scorer="bm25", token_counter="whitespace", **kw)


# -- per-call options -------------------------------------------------------------------


def test_per_call_top_n_and_threshold_replace_the_instances_for_that_call() -> None:
    c = bm25(top_n=4)
    assert len(c.compress_documents(documents(), QUERY)) == 4
    assert pages(c.compress_documents(documents(), QUERY, top_n=1)) == [16]
    assert pages(anyio.run(lambda: c.acompress_documents(documents(), QUERY, top_n=1))) == [16]
    assert pages(c.compress_documents(documents(), QUERY, threshold=0.3)) == [16]
    assert len(c.compress_documents(documents(), QUERY)) == 4  # the instance is unchanged
    # top_n alone changes that knob of the default policy (issue 25) and keeps the others.
    assert c.top_n == 4 and c._get().policy == Hybrid(top_k=4, threshold=0.01, min_keep=1)


def test_per_call_options_keep_the_rest_of_the_policy() -> None:
    c = bm25(max_tokens=12, min_keep=3, order="document")
    kept = c.compress_documents(documents(), "TB hepatitis billing", top_n=2)
    assert len(kept) <= 2  # min_keep is lowered to top_n
    assert sum(len(d.page_content.split()) for d in kept) <= 12  # the budget still holds
    # A ctxcompress policy object is changed per call the same way.
    assert len(bm25(policy=TopK(4)).compress_documents(documents(), QUERY, top_n=2)) == 2


def test_bad_per_call_values_fail_in_this_class_names() -> None:
    with pytest.raises(ValueError, match="top_n must be an int >= 1"):
        bm25().compress_documents(documents(), QUERY, top_n=0)
    with pytest.raises(ValueError, match="threshold must be in"):
        anyio.run(lambda: bm25().acompress_documents([], QUERY, threshold=3))

    class Mine:
        def select(self, candidates: Any) -> Any:
            return TopK(1).select(candidates)

        def describe(self) -> str:
            return "mine"

    with pytest.raises(ValueError, match="Mine is not one"):
        bm25(policy=Mine()).compress_documents(documents(), QUERY, top_n=1)


# -- the retriever: k, forwarded keywords, any Runnable ---------------------------------


def retriever(**kw: Any) -> CtxCompressionRetriever:
    base = vector_store().as_retriever(search_kwargs={"k": 5})
    return CtxCompressionRetriever(base_retriever=base, compressor=bm25(top_n=5), **kw)


def test_k_is_the_number_of_documents_returned() -> None:
    assert len(retriever().invoke(QUERY)) == 5
    assert pages(retriever(k=1).invoke(QUERY)) == [16]
    assert len(retriever(k=3).invoke(QUERY)) == 3
    assert len(anyio.run(retriever(k=3).ainvoke, QUERY)) == 3
    # A threshold on the compressor still applies: k is at most, not at least.
    base = vector_store().as_retriever(search_kwargs={"k": 5})
    strict = CtxCompressionRetriever(base_retriever=base, compressor=bm25(threshold=0.3), k=3)
    assert pages(strict.invoke(QUERY)) == [16]


def test_invoke_keywords_k_for_the_compressor_the_rest_for_the_base() -> None:
    r = retriever(k=3)
    assert len(r.invoke(QUERY, k=1)) == 1
    assert len(r.invoke(QUERY, top_n=2)) == 2
    assert pages(r.invoke(QUERY, threshold=0.3)) == [16]
    # filter= reaches the vector store (as ContextualCompressionRetriever forwards it).
    no_16 = r.invoke(QUERY, filter=lambda d: d.metadata["page"] != 16)
    assert len(no_16) == 3 and 16 not in pages(no_16)
    ano_16 = anyio.run(lambda: r.ainvoke(QUERY, k=2, filter=lambda d: d.metadata["page"] != 16))
    assert len(ano_16) == 2 and 16 not in pages(ano_16)
    with pytest.raises(ValueError, match="k must be an int >= 1"):
        r.invoke(QUERY, k=0)
    with pytest.raises(ValueError, match="not both"):
        r.invoke(QUERY, k=1, top_n=2)


def test_k_is_checked_and_unknown_fields_name_k() -> None:
    base = vector_store().as_retriever()
    with pytest.raises(ValueError, match="k must be an int >= 1"):
        CtxCompressionRetriever(base_retriever=base, compressor=bm25(), k=0)
    with pytest.raises(ValueError, match=r"'top_k' \(did you mean 'k'\?\)"):
        CtxCompressionRetriever(base_retriever=base, compressor=bm25(), top_k=2)


def test_any_runnable_returning_documents_is_a_base() -> None:
    seen: list[dict[str, Any]] = []

    def lookup(query: str, **kwargs: Any) -> list[Document]:
        seen.append(kwargs)
        return documents()

    r = CtxCompressionRetriever(base_retriever=RunnableLambda(lookup), compressor=bm25(), k=1)
    assert pages(r.invoke(QUERY)) == [16]
    assert pages(anyio.run(r.ainvoke, QUERY)) == [16]
    r.invoke(QUERY, k=2, tenant="a")
    assert seen[-1] == {"tenant": "a"}  # k was the compressor's, never the base's


# -- copy and pickle --------------------------------------------------------------------


class FirstWord(BaseScorer):
    """A user's scorer object: 0.9 where the query's first word is on the page."""

    name = "first-word"

    def _score(self, criteria: Any, pages: Any) -> Scores:
        return Scores.of(
            [[0.9 if c.text.split()[0] in p.text else 0.1 for p in pages] for c in criteria]
        )


def _scorers() -> list[Any]:
    return ["bm25", load_scorer(str(CROSS_ENCODER)), FirstWord()]


def _result(c: CtxCompressor) -> list[tuple[int, float]]:
    return [
        (d.metadata["page"], d.metadata["relevance_score"])
        for d in c.compress_documents(documents(), QUERY)
    ]


@pytest.mark.parametrize("scorer", _scorers(), ids=["spec", "onnx-object", "own-object"])
def test_the_compressor_survives_copy_and_pickle_before_and_after_first_use(scorer: Any) -> None:
    c = CtxCompressor(scorer=scorer, top_n=3, token_counter="whitespace")
    fresh = [copy.deepcopy(c), pickle.loads(pickle.dumps(c))]
    expected = _result(c)
    used = [copy.deepcopy(c), pickle.loads(pickle.dumps(c))]
    for other in fresh + used:
        assert other._compressor is None  # the loaded scorer and its session are not copied
        assert _result(other) == expected
        assert other.top_n == 3
    if not isinstance(scorer, str):
        assert used[0].scorer is not scorer and used[0]._get().scorer is not c._get().scorer


def test_the_retriever_survives_copy_and_pickle() -> None:
    r = retriever(k=2)
    before = [copy.deepcopy(r), pickle.loads(pickle.dumps(r))]
    expected = r.invoke(QUERY)
    for other in [*before, copy.deepcopy(r), pickle.loads(pickle.dumps(r))]:
        assert other.invoke(QUERY) == expected


# -- LangChain serialization ------------------------------------------------------------


def _load(text: str) -> Any:
    return loads(
        text,
        valid_namespaces=["langchain_ctxcompress"],
        allowed_objects=[CtxCompressor, CtxCompressionRetriever],
    )


@pytest.mark.filterwarnings("ignore::langchain_core._api.beta_decorator.LangChainBetaWarning")
def test_dumpd_and_loads_round_trip_with_a_spec_string() -> None:
    c = bm25(top_n=2, threshold=0.1, instruction="Be strict.", order="document")
    assert dumpd(c)["id"] == ["langchain_ctxcompress", "CtxCompressor"]
    again = _load(dumps(c))
    assert isinstance(again, CtxCompressor) and again.model_dump() == c.model_dump()
    assert _result(again) == _result(c)
    # A policy object is written as the Hybrid it amounts to, and read back as one.
    with_policy = bm25(policy=TopK(2))
    again = _load(dumps(with_policy))
    assert again.policy == Hybrid(top_k=2) and _result(again) == _result(with_policy)


def test_the_retriever_dumps_with_its_compressor() -> None:
    data = dumpd(retriever(k=2))
    assert data["id"] == ["langchain_ctxcompress", "CtxCompressionRetriever"]
    assert data["kwargs"]["k"] == 2
    assert data["kwargs"]["compressor"]["id"] == ["langchain_ctxcompress", "CtxCompressor"]


def test_a_scorer_object_cannot_be_dumped_and_the_error_names_the_spec_form() -> None:
    with pytest.raises(ValueError, match=r"spec string instead, e\.g\. scorer='bm25'"):
        dumps(CtxCompressor(scorer=FirstWord(), token_counter="whitespace"))
