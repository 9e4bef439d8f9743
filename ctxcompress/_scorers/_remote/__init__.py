"""Remote rerank APIs: provider descriptions, the sans-I/O core, and the httpx clients."""

from __future__ import annotations

from typing import Any

from ..._exceptions import InvalidInputError
from ._client import AsyncRemoteScorer, RemoteScorer
from ._providers import PROVIDERS, Provider

__all__ = ["PROVIDERS", "AsyncRemoteScorer", "Provider", "RemoteScorer", "remote_from_spec"]


def remote_from_spec(argument: str, **options: Any) -> RemoteScorer:
    """Build a scorer from the part of a spec after ``remote:``: ``<provider>[/<model>]``.

    The model may itself contain slashes (``remote:openai-compatible/BAAI/bge-reranker-v2-m3``).
    """
    provider, _, model = argument.partition("/")
    if not provider:
        raise InvalidInputError(
            f"remote spec needs a provider: remote:<provider>[/<model>]; providers: "
            f"{', '.join(sorted(PROVIDERS))}"
        )
    return RemoteScorer(provider, model or None, **options)
