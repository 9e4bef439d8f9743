"""LangChain's own conformance suite for retrievers, run offline against the retriever.

langchain-tests has standard suites for retrievers, vector stores, embeddings, chat models,
tools, caches, stores and indexers; of the base classes this package implements
(``BaseRetriever``, ``BaseDocumentCompressor``) only retrievers have one.
"""

from __future__ import annotations

from typing import Any

import pytest
from langchain_ctxcompress import CtxCompressionRetriever, CtxCompressor
from langchain_helpers import vector_store
from langchain_tests.integration_tests import RetrieversIntegrationTests

# The suite's one async test runs under anyio (the project's async test runner), on
# asyncio: LangChain's async paths are asyncio's.
pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class TestCtxCompressionRetrieverStandard(RetrieversIntegrationTests):
    @property
    def retriever_constructor(self) -> type[CtxCompressionRetriever]:
        return CtxCompressionRetriever

    @property
    def retriever_constructor_params(self) -> dict[str, Any]:
        # A real in-memory vector store fetches 5 candidates; the compressor keeps the best k
        # (no threshold, so exactly k come back).
        return {
            "base_retriever": vector_store().as_retriever(search_kwargs={"k": 5}),
            "compressor": CtxCompressor(scorer="bm25", top_n=5, token_counter="whitespace"),
        }

    @property
    def retriever_query_example(self) -> str:
        return "Was the QuantiFERON TB screening negative?"
