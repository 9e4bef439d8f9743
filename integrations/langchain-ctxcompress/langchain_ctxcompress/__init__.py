"""LangChain integration for ctxcompress: a document compressor, a retriever and a label filter."""

from ._compressor import CtxCompressor, compress_by_criteria
from ._label_filter import LabelFilter
from ._retriever import CtxCompressionRetriever

__all__ = ["CtxCompressionRetriever", "CtxCompressor", "LabelFilter", "compress_by_criteria"]
