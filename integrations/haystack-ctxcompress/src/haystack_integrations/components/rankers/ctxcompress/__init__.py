"""Haystack integration for ctxcompress: a ranker."""

from haystack_integrations.components.rankers.ctxcompress.ranker import CtxCompressRanker

__all__ = ["CtxCompressRanker"]
