"""LangChain RAG, offline: what context would be sent to the LLM for a question.

An in-memory vector store over the prior-authorization record (a small local hashing
embedding, no downloads) retrieves 10 pages; CtxCompressor with the default ctxcompress
scorer keeps the relevant ones. No LLM is called: the script prints the context.

    pip install -e integrations/langchain-ctxcompress langchain-classic
    python examples/langchain_rag.py "Was tuberculosis screening negative?"
"""

from __future__ import annotations

import hashlib
import math
import re
import sys

from langchain_classic.retrievers import ContextualCompressionRetriever
from langchain_core.documents import Document
from langchain_core.embeddings import Embeddings
from langchain_core.vectorstores import InMemoryVectorStore
from langchain_ctxcompress import CtxCompressor
from prior_auth_paths import RECORD

from ctxcompress import load_document


class HashingEmbeddings(Embeddings):
    """Words hashed into 256 dimensions: a stand-in for a real local embedding model."""

    def _one(self, text: str) -> list[float]:
        v = [0.0] * 256
        for w in re.findall(r"\w+", text.lower()):
            v[int(hashlib.md5(w.encode()).hexdigest(), 16) % 256] += 1
        n = math.sqrt(sum(x * x for x in v)) or 1.0
        return [x / n for x in v]

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return [self._one(t) for t in texts]

    def embed_query(self, text: str) -> list[float]:
        return self._one(text)


def main() -> None:
    question = " ".join(sys.argv[1:]) or "Was tuberculosis screening negative within 12 months?"
    docs = [Document(p.text, metadata={"page": p.label}) for p in load_document(RECORD)]
    store = InMemoryVectorStore(HashingEmbeddings())
    store.add_documents(docs)
    retriever = ContextualCompressionRetriever(
        base_compressor=CtxCompressor(threshold=0.1, top_n=3),
        base_retriever=store.as_retriever(search_kwargs={"k": 10}),
    )
    kept = retriever.invoke(question)
    print(f"question: {question}\nretrieved 10 pages, kept {len(kept)}:\n")
    for d in kept:
        print(
            f"--- page {d.metadata['page']} (relevance {d.metadata['relevance_score']:.2f}; "
            f"{d.metadata['ctxcompress_rule']})\n{d.page_content}\n"
        )


if __name__ == "__main__":
    main()
