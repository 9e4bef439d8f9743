"""``CtxCompressor``: a LangChain document compressor over ctxcompress."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

from langchain_core.callbacks import Callbacks
from langchain_core.documents import BaseDocumentCompressor, Document
from pydantic import ConfigDict, Field, PrivateAttr

from ctxcompress import (
    CompressionResult,
    Compressor,
    Criterion,
    Policy,
    Scorer,
    Selection,
    build_policy,
)

__all__ = ["CtxCompressor", "compress_by_criteria"]


class CtxCompressor(BaseDocumentCompressor):
    """Keep the documents a calibrated scorer finds relevant to the query.

    Give a ``policy`` or any of ``threshold`` / ``top_n`` / ``max_tokens`` / ``min_keep``
    (they build a ``Hybrid`` policy); with none, ctxcompress's default policy applies. The
    token budget counts ``page_content``, the text the LLM will receive.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    scorer: Scorer | str | None = Field(
        default=None, description="scorer object or spec; None = default"
    )
    policy: Policy | None = None
    threshold: float | None = None
    top_n: int | None = None
    max_tokens: int | None = None
    min_keep: int = 0
    instruction: str | None = None
    order: Literal["score", "document"] = "score"
    token_counter: str = "tiktoken"
    on_error: Literal["raise", "keep"] = "raise"

    _compressor: Compressor | None = PrivateAttr(default=None)

    def _get(self) -> Compressor:
        if self._compressor is None:
            self._compressor = Compressor(
                self.scorer,
                self._policy(),
                self.token_counter,
                order=self.order,
                on_error=self.on_error,
            )
        return self._compressor

    def _policy(self) -> Policy:
        # Raises InvalidInputError, a ValueError, when both forms are given.
        return build_policy(
            self.policy,
            threshold=self.threshold,
            top_k=self.top_n,
            max_tokens=self.max_tokens,
            min_keep=self.min_keep,
        )

    def _criteria(self, query: str) -> list[Criterion]:
        return [Criterion("query", query, self.instruction)]

    def compress_documents(
        self, documents: Sequence[Document], query: str, callbacks: Callbacks | None = None
    ) -> Sequence[Document]:
        if not documents:
            return []
        result = self._get().compress([d.page_content for d in documents], self._criteria(query))
        return _kept(documents, result.selections[0])

    async def acompress_documents(
        self, documents: Sequence[Document], query: str, callbacks: Callbacks | None = None
    ) -> Sequence[Document]:
        if not documents:
            return []
        result = await self._get().acompress(
            [d.page_content for d in documents], self._criteria(query)
        )
        return _kept(documents, result.selections[0])


def _kept(documents: Sequence[Document], selection: Selection) -> list[Document]:
    rules = {d.index: d.rule for d in selection.decisions}
    out = []
    for sp in selection.kept:
        source = documents[sp.page.index]
        metadata: dict[str, Any] = {
            **source.metadata,
            "relevance_score": sp.score,
            "ctxcompress_rule": rules[sp.page.index],
        }
        if selection.error:
            metadata["ctxcompress_error"] = selection.error
        out.append(source.model_copy(update={"metadata": metadata}))
    return out


def compress_by_criteria(
    compressor: CtxCompressor,
    documents: Sequence[Document],
    criteria: Sequence[str | Criterion] | Mapping[str, str],
) -> dict[str, list[Document]]:
    """Compress one document set against several criteria in one batch.

    ``criteria`` is a list (ids ``c0``, ``c1``...) or a mapping of id to question; returns
    the kept documents per criterion id.
    """
    if isinstance(criteria, Mapping):
        crits = [Criterion(k, v, compressor.instruction) for k, v in criteria.items()]
    else:
        crits = [
            c if isinstance(c, Criterion) else Criterion(f"c{i}", c, compressor.instruction)
            for i, c in enumerate(criteria)
        ]
    if not documents:
        return {c.id: [] for c in crits}
    result: CompressionResult = compressor._get().compress(
        [d.page_content for d in documents], crits
    )
    return {s.criterion.id: _kept(documents, s) for s in result.selections}
