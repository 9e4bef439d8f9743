"""``CtxCompressionRetriever``: any retriever, then a ``CtxCompressor``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from langchain_core.callbacks import (
    AsyncCallbackManagerForRetrieverRun,
    CallbackManagerForRetrieverRun,
)
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever, RetrieverLike
from pydantic import ConfigDict, model_validator

from ._compressor import CtxCompressor, unknown_fields_message

__all__ = ["CtxCompressionRetriever"]

# Keywords given at invoke/ainvoke that are meant for the compressor; every other keyword
# goes to the base retriever, as ContextualCompressionRetriever forwards them.
_FOR_THE_COMPRESSOR = ("k", "top_n", "threshold")


def _check_k(name: str, value: Any) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
        raise ValueError(f"{name} must be an int >= 1 (the number of documents), got {value!r}")


class CtxCompressionRetriever(BaseRetriever):
    """Retrieve with ``base_retriever``, keep what ``compressor`` finds relevant.

    langchain-classic's ``ContextualCompressionRetriever`` with a ``CtxCompressor``, for
    users without langchain-classic. ``base_retriever`` is any retriever or ``Runnable``
    that maps a query to documents.

    ``k`` is the number of documents returned, LangChain's convention: it replaces the
    compressor's ``top_n`` for calls through this retriever, so ``k`` come back wherever
    the compressor's threshold and token budget let that many through (a compressor with
    neither returns exactly ``k`` when the base retriever found that many). ``k`` is not
    sent to the base retriever: how many candidates it fetches is its own setting
    (``search_kwargs={"k": 20}``), and reranking k of k would change nothing.

    Keywords given at ``invoke``/``ainvoke``: ``k`` (or its synonym ``top_n``) and
    ``threshold`` apply to that call's compression; every other keyword is forwarded to the
    base retriever, as ``ContextualCompressionRetriever`` does (``filter=...`` for a vector
    store, for example).

    Guide with examples: [LangChain][guide-langchain].
    """

    model_config = ConfigDict(arbitrary_types_allowed=True, extra="forbid")

    base_retriever: RetrieverLike
    compressor: CtxCompressor
    k: int | None = None

    @model_validator(mode="before")
    @classmethod
    def _refuse_unknown_fields(cls, data: Any) -> Any:
        if isinstance(data, Mapping):
            unknown = set(data) - set(cls.model_fields)
            if unknown:
                known = [f for f in cls.model_fields if f not in ("tags", "metadata")]
                raise ValueError(unknown_fields_message(cls.__name__, unknown, known, "k"))
            _check_k("k", data.get("k"))
        return data

    @classmethod
    def is_lc_serializable(cls) -> bool:
        return True

    @classmethod
    def get_lc_namespace(cls) -> list[str]:
        return ["langchain_ctxcompress"]

    def _split(self, kwargs: dict[str, Any]) -> dict[str, Any]:
        """Take the compressor's keywords out of ``kwargs``; what is left goes to the base."""
        mine = {name: kwargs.pop(name) for name in _FOR_THE_COMPRESSOR if name in kwargs}
        k, top_n = mine.pop("k", None), mine.pop("top_n", None)
        _check_k("k", k)
        _check_k("top_n", top_n)
        if k is not None and top_n is not None and k != top_n:
            raise ValueError(f"give k or top_n (the same number), not both: k={k}, top_n={top_n}")
        top_n = k if k is not None else top_n if top_n is not None else self.k
        return {"top_n": top_n, "threshold": mine.get("threshold")}

    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun, **kwargs: Any
    ) -> list[Document]:
        options = self._split(kwargs)
        docs = self.base_retriever.invoke(
            query, config={"callbacks": run_manager.get_child()}, **kwargs
        )
        return list(
            self.compressor.compress_documents(
                docs, query, callbacks=run_manager.get_child(), **options
            )
        )

    async def _aget_relevant_documents(
        self, query: str, *, run_manager: AsyncCallbackManagerForRetrieverRun, **kwargs: Any
    ) -> list[Document]:
        options = self._split(kwargs)
        docs = await self.base_retriever.ainvoke(
            query, config={"callbacks": run_manager.get_child()}, **kwargs
        )
        return list(
            await self.compressor.acompress_documents(
                docs, query, callbacks=run_manager.get_child(), **options
            )
        )
