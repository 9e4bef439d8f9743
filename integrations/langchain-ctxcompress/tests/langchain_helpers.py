"""What the LangChain tests share: an offline embedding, documents and a fixture model."""

from __future__ import annotations

import hashlib
import math
import re
from pathlib import Path

from langchain_core.documents import Document
from langchain_core.embeddings import Embeddings
from langchain_core.vectorstores import InMemoryVectorStore

# The tiny random cross-encoder the core's tests use (tests/fixtures).
CROSS_ENCODER = (
    Path(__file__).resolve().parents[3] / "tests" / "fixtures" / "tiny-bert-cross-encoder"
)


class HashingEmbeddings(Embeddings):
    """A local bag-of-words embedding: words hashed into 64 dimensions, normalised."""

    def _one(self, text: str) -> list[float]:
        v = [0.0] * 64
        for w in re.findall(r"\w+", text.lower()):
            v[int(hashlib.md5(w.encode()).hexdigest(), 16) % 64] += 1
        n = math.sqrt(sum(x * x for x in v)) or 1.0
        return [x / n for x in v]

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return [self._one(t) for t in texts]

    def embed_query(self, text: str) -> list[float]:
        return self._one(text)


def documents() -> list[Document]:
    return [
        Document("QuantiFERON-TB Gold Plus negative on 04/02/2026.", metadata={"page": 13}),
        Document("Methotrexate 20 mg weekly failed after six months.", metadata={"page": 16}),
        Document("Billing statement: copay due, payment options.", metadata={"page": 33}),
        Document("Hepatitis B surface antigen non-reactive.", metadata={"page": 14}),
        Document("Appointment reminder: bring your insurance card.", metadata={"page": 36}),
    ]


def vector_store() -> InMemoryVectorStore:
    store = InMemoryVectorStore(HashingEmbeddings())
    store.add_documents(documents())
    return store
