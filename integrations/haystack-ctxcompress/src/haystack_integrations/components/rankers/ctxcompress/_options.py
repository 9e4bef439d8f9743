"""Per-call options and the scorer as data (each integration package keeps its own copy:
they are installed independently)."""

from __future__ import annotations

from typing import Any

from ctxcompress import Hybrid, InvalidInputError

__all__ = ["policy_for_call", "scorer_spec"]


def policy_for_call(base: Hybrid, *, top_k: int | None, threshold: float | None) -> Hybrid:
    """``base`` with ``top_k`` and ``threshold`` replaced for one call (None: unchanged).
    Its token budget still applies; ``min_keep`` is lowered to ``top_k`` when larger."""
    if top_k is None and threshold is None:
        return base
    try:
        return Hybrid(
            top_k=base.top_k if top_k is None else top_k,
            threshold=base.threshold if threshold is None else threshold,
            max_tokens=base.max_tokens,
            min_keep=base.min_keep if top_k is None else min(base.min_keep, top_k),
        )
    except TypeError as exc:  # min() of a top_k that is not a number
        raise InvalidInputError(f"top_k must be an int >= 1, got {top_k!r}") from exc


def scorer_spec(owner: str, scorer: Any) -> str | None:
    """The scorer as it is serialized: a spec string (or None), never an object."""
    if scorer is None or isinstance(scorer, str):
        return scorer
    raise ValueError(
        f"{owner} cannot be serialized with a scorer object ({type(scorer).__name__} "
        f"{getattr(scorer, 'name', '')!r}): give the scorer as a spec string instead, e.g. "
        "scorer='bm25', 'default', 'remote:cohere', 'hub:<owner>/<name>' or a model directory "
        "path (pickle and copy.deepcopy do work with scorer objects)"
    )
