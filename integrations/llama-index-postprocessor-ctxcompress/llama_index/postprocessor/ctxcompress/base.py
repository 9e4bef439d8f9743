"""``CtxCompressPostprocessor``: a LlamaIndex node postprocessor over ctxcompress."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Literal

import llama_index.core.instrumentation as instrument
from llama_index.core.bridge.pydantic import ConfigDict, Field, PrivateAttr
from llama_index.core.callbacks import CBEventType, EventPayload
from llama_index.core.instrumentation.events.rerank import ReRankEndEvent, ReRankStartEvent
from llama_index.core.postprocessor.types import BaseNodePostprocessor
from llama_index.core.schema import MetadataMode, NodeWithScore, QueryBundle

from ctxcompress import (
    Compressor,
    Criterion,
    Page,
    Policy,
    Selection,
    TokenCounter,
    build_policy,
    load_token_counter,
)

dispatcher = instrument.get_dispatcher(__name__)

__all__ = ["CtxCompressPostprocessor"]


class _PrecountedTokens:
    """Token counts of what the LLM receives (LLM metadata mode), looked up by page text.

    The scorer sees the EMBED view of a node; the budget must count the LLM view. The
    compressor counts the text it is given, so counts are fixed up front per job.
    """

    def __init__(self, inner: TokenCounter, counts: dict[str, int]) -> None:
        self.inner = inner
        self.counts = counts
        self.name = inner.name

    def count(self, text: str) -> int:
        return self.counts[text] if text in self.counts else self.inner.count(text)


class CtxCompressPostprocessor(BaseNodePostprocessor):
    """Keep the nodes a calibrated scorer finds relevant to the query."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    scorer: Any = Field(
        default=None, description="ctxcompress scorer object or spec; None = default"
    )
    policy: Any = Field(default=None, description="a ctxcompress Policy; or use the shortcuts")
    threshold: float | None = None
    top_n: int | None = None
    max_tokens: int | None = None
    min_keep: int = 0
    instruction: str | None = None
    order: Literal["score", "document"] = "score"
    token_counter: str = "tiktoken"
    keep_retrieval_score: bool = False
    on_error: Literal["raise", "keep"] = "raise"

    _counter: TokenCounter | None = PrivateAttr(default=None)

    @classmethod
    def class_name(cls) -> str:
        return "CtxCompressPostprocessor"

    def _policy(self) -> Policy:
        # Raises InvalidInputError, a ValueError, when both forms are given.
        return build_policy(
            self.policy,
            threshold=self.threshold,
            top_k=self.top_n,
            max_tokens=self.max_tokens,
            min_keep=self.min_keep,
        )

    def _prepare(self, nodes: list[NodeWithScore]) -> tuple[Compressor, list[Page]]:
        if self._counter is None:
            self._counter = load_token_counter(self.token_counter)
        pages = [
            Page(n.node.get_content(metadata_mode=MetadataMode.EMBED), i)
            for i, n in enumerate(nodes)
        ]
        counts = {
            p.text: self._counter.count(n.node.get_content(metadata_mode=MetadataMode.LLM))
            for p, n in zip(pages, nodes, strict=True)
        }
        compressor = Compressor(
            self.scorer,
            self._policy(),
            _PrecountedTokens(self._counter, counts),
            order=self.order,
            on_error=self.on_error,
        )
        return compressor, pages

    @contextmanager
    def _reranking(
        self, nodes: list[NodeWithScore], query_bundle: QueryBundle | None
    ) -> Iterator[tuple[Criterion, list[NodeWithScore]]]:
        """The events LlamaIndex rerankers emit around a rerank, shared by sync and async.

        Yields the criterion and a list the caller fills with the kept nodes.
        """
        if query_bundle is None:
            raise ValueError("CtxCompressPostprocessor needs a query (query_bundle or query_str)")
        model_name = str(getattr(self.scorer, "name", self.scorer or "default"))
        dispatcher.event(
            ReRankStartEvent(
                query=query_bundle,
                nodes=nodes,
                top_n=self.top_n or len(nodes),
                model_name=model_name,
            )
        )
        criterion = Criterion("query", query_bundle.query_str, self.instruction)
        kept: list[NodeWithScore] = []
        with self.callback_manager.event(
            CBEventType.RERANKING,
            payload={EventPayload.NODES: nodes, EventPayload.QUERY_STR: criterion.text},
        ) as event:
            yield criterion, kept
            event.on_end(payload={EventPayload.NODES: kept})
        dispatcher.event(ReRankEndEvent(nodes=kept))

    def _postprocess_nodes(
        self, nodes: list[NodeWithScore], query_bundle: QueryBundle | None = None
    ) -> list[NodeWithScore]:
        with self._reranking(nodes, query_bundle) as (criterion, kept):
            if nodes:
                compressor, pages = self._prepare(nodes)
                kept += self._kept(nodes, compressor.compress(pages, [criterion]).selections[0])
        return kept

    async def _apostprocess_nodes(
        self, nodes: list[NodeWithScore], query_bundle: QueryBundle | None = None
    ) -> list[NodeWithScore]:
        with self._reranking(nodes, query_bundle) as (criterion, kept):
            if nodes:
                compressor, pages = self._prepare(nodes)
                result = await compressor.acompress(pages, [criterion])
                kept += self._kept(nodes, result.selections[0])
        return kept

    def _kept(self, nodes: list[NodeWithScore], selection: Selection) -> list[NodeWithScore]:
        out = []
        for sp in selection.kept:
            source = nodes[sp.page.index]
            node = source.node
            if self.keep_retrieval_score:
                # A copy: the retrieved node (often shared with the index) is never mutated.
                node = node.model_copy(
                    update={"metadata": {**node.metadata, "retrieval_score": source.score}}
                )
            out.append(NodeWithScore(node=node, score=sp.score))
        return out
