"""LlamaIndex integration for ctxcompress: a node postprocessor."""

from llama_index.postprocessor.ctxcompress.base import CtxCompressPostprocessor
from llama_index.postprocessor.ctxcompress.label_filter import CtxLabelFilterPostprocessor

__all__ = ["CtxCompressPostprocessor", "CtxLabelFilterPostprocessor"]
