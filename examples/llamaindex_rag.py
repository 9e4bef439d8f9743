"""LlamaIndex RAG, offline: what context would be sent to the LLM for a question.

A VectorStoreIndex over the prior-authorization record (a small local hashing embedding,
no downloads) retrieves 10 pages; CtxCompressPostprocessor with the default ctxcompress
scorer keeps the relevant ones. No LLM is called (MockLLM, response_mode="no_text").

    pip install -e integrations/llama-index-postprocessor-ctxcompress
    python examples/llamaindex_rag.py "Is a failed trial of methotrexate documented?"
"""

from __future__ import annotations

import hashlib
import math
import re
import sys

from llama_index.core import Settings, VectorStoreIndex
from llama_index.core.base.embeddings.base import BaseEmbedding
from llama_index.core.llms import MockLLM
from llama_index.core.schema import TextNode
from llama_index.postprocessor.ctxcompress import CtxCompressPostprocessor
from prior_auth_paths import RECORD

from ctxcompress import load_document


class HashingEmbedding(BaseEmbedding):
    """Words hashed into 256 dimensions: a stand-in for a real local embedding model."""

    @classmethod
    def class_name(cls) -> str:
        return "HashingEmbedding"

    def _vec(self, text: str) -> list[float]:
        v = [0.0] * 256
        for w in re.findall(r"\w+", text.lower()):
            v[int(hashlib.md5(w.encode()).hexdigest(), 16) % 256] += 1
        n = math.sqrt(sum(x * x for x in v)) or 1.0
        return [x / n for x in v]

    def _get_query_embedding(self, query: str) -> list[float]:
        return self._vec(query)

    async def _aget_query_embedding(self, query: str) -> list[float]:
        return self._vec(query)

    def _get_text_embedding(self, text: str) -> list[float]:
        return self._vec(text)


def main() -> None:
    question = " ".join(sys.argv[1:]) or "Is a failed trial of methotrexate documented?"
    Settings.llm = MockLLM()  # offline: the engine must not look for an API key
    nodes = [TextNode(text=p.text, metadata={"page": p.label}) for p in load_document(RECORD)]
    index = VectorStoreIndex(nodes, embed_model=HashingEmbedding())
    engine = index.as_query_engine(
        similarity_top_k=10,
        node_postprocessors=[
            CtxCompressPostprocessor(threshold=0.1, top_n=3, keep_retrieval_score=True)
        ],
        response_mode="no_text",
    )
    response = engine.query(question)
    print(f"question: {question}\nretrieved 10 pages, kept {len(response.source_nodes)}:\n")
    for n in response.source_nodes:
        print(
            f"--- page {n.node.metadata['page']} (relevance {n.score:.2f}, retrieval "
            f"{n.node.metadata['retrieval_score']:.2f})\n{n.node.get_content()}\n"
        )


if __name__ == "__main__":
    main()
