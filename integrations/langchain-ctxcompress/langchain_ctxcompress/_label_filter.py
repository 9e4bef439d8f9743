"""``LabelFilter``: a LangChain runnable that keeps the documents a label applies to.

Each document's ``page_content`` is classified against ``labels`` (name -> description)
with calibrated probabilities (``ctxcompress.classify_many``); a document is kept when any
of ``keep`` (default: every label) reaches ``threshold``, or, with ``drop``, when none of
those does. The probabilities land in ``metadata["ctxcompress_labels"]`` of a copy; the
input documents are never mutated.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from langchain_core.documents import Document
from langchain_core.runnables import RunnableConfig, RunnableSerializable
from pydantic import ConfigDict, Field

from ctxcompress import InvalidInputError, Scorer, classify_many

__all__ = ["LabelFilter"]


class LabelFilter(RunnableSerializable[Sequence[Document], list[Document]]):
    """Keep (or, with ``drop=True``, remove) the documents that ``keep`` labels apply to.

    Guide with examples: [Classification and routing][guide-classification].
    """

    model_config = ConfigDict(arbitrary_types_allowed=True, extra="forbid")

    labels: Mapping[str, str]
    keep: Sequence[str] | None = None
    threshold: float = 0.5
    drop: bool = False
    exclusive: bool = False
    scorer: Scorer | str | None = Field(default=None, exclude=True)

    def invoke(
        self, input: Sequence[Document], config: RunnableConfig | None = None, **kwargs: Any
    ) -> list[Document]:
        wanted = list(self.keep) if self.keep is not None else list(self.labels)
        unknown = [k for k in wanted if k not in self.labels]
        if unknown:
            raise InvalidInputError(f"LabelFilter: keep names unknown labels {unknown}")
        docs = list(input)
        if not docs:
            return []
        results = classify_many(
            [d.page_content for d in docs],
            dict(self.labels),
            self.threshold,
            scorer=self.scorer,
            exclusive=self.exclusive,
        )
        out = []
        for doc, result in zip(docs, results, strict=True):
            hit = any(label in wanted for label in result.positive)
            if hit != self.drop:
                metadata = {
                    **doc.metadata,
                    "ctxcompress_labels": {d.label: d.probability for d in result.labels},
                }
                out.append(Document(page_content=doc.page_content, metadata=metadata, id=doc.id))
        return out
