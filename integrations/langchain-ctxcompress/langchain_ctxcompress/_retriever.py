"""``CtxCompressionRetriever``: any retriever, then a ``CtxCompressor``."""

from __future__ import annotations

from langchain_core.callbacks import (
    AsyncCallbackManagerForRetrieverRun,
    CallbackManagerForRetrieverRun,
)
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever

from ._compressor import CtxCompressor

__all__ = ["CtxCompressionRetriever"]


class CtxCompressionRetriever(BaseRetriever):
    """Retrieve with ``base_retriever``, keep what ``compressor`` finds relevant.

    The same as langchain-classic's ``ContextualCompressionRetriever`` with a
    ``CtxCompressor``, for users without langchain-classic.

    Guide with examples: [LangChain][guide-langchain].
    """

    base_retriever: BaseRetriever
    compressor: CtxCompressor

    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun
    ) -> list[Document]:
        docs = self.base_retriever.invoke(query, config={"callbacks": run_manager.get_child()})
        return list(
            self.compressor.compress_documents(docs, query, callbacks=run_manager.get_child())
        )

    async def _aget_relevant_documents(
        self, query: str, *, run_manager: AsyncCallbackManagerForRetrieverRun
    ) -> list[Document]:
        docs = await self.base_retriever.ainvoke(
            query, config={"callbacks": run_manager.get_child()}
        )
        return list(
            await self.compressor.acompress_documents(
                docs, query, callbacks=run_manager.get_child()
            )
        )
