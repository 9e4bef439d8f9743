"""LlamaIndex integration for ctxcompress: a node postprocessor."""

from llama_index.postprocessor.ctxcompress.base import CtxCompressPostprocessor

__all__ = ["CtxCompressPostprocessor"]
