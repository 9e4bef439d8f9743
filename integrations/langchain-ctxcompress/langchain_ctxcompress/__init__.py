"""LangChain integration for ctxcompress: a document compressor and a retriever."""

from ._compressor import CtxCompressor, compress_by_criteria
from ._retriever import CtxCompressionRetriever

__all__ = ["CtxCompressionRetriever", "CtxCompressor", "compress_by_criteria"]
