"""Haystack RAG, offline: what context would be sent to the LLM for a question.

A Pipeline over the prior-authorization record: InMemoryDocumentStore, then
InMemoryBM25Retriever (10 pages), then CtxCompressRanker with the default ctxcompress
scorer, which keeps the relevant ones. No LLM is called: the script prints the context.

    pip install -e integrations/haystack-ctxcompress
    python examples/haystack_rag.py "Is a failed trial of methotrexate documented?"
"""

from __future__ import annotations

import sys

from haystack import Document, Pipeline
from haystack.components.retrievers.in_memory import InMemoryBM25Retriever
from haystack.document_stores.in_memory import InMemoryDocumentStore
from haystack_integrations.components.rankers.ctxcompress import CtxCompressRanker
from prior_auth_paths import RECORD

from ctxcompress import load_document


def main() -> None:
    question = " ".join(sys.argv[1:]) or "Is a failed trial of methotrexate documented?"
    store = InMemoryDocumentStore()
    store.write_documents(
        [Document(content=p.text, meta={"page": p.label}) for p in load_document(RECORD)]
    )
    pipeline = Pipeline()
    pipeline.add_component("retriever", InMemoryBM25Retriever(document_store=store, top_k=10))
    pipeline.add_component("ranker", CtxCompressRanker(threshold=0.1, top_k=3))
    pipeline.connect("retriever.documents", "ranker.documents")
    result = pipeline.run({"retriever": {"query": question}, "ranker": {"query": question}})
    kept = result["ranker"]["documents"]
    print(f"question: {question}\nretrieved 10 pages, kept {len(kept)}:\n")
    for d in kept:
        print(
            f"--- page {d.meta['page']} (relevance {d.score:.2f}; "
            f"{d.meta['ctxcompress_rule']})\n{d.content}\n"
        )


if __name__ == "__main__":
    main()
