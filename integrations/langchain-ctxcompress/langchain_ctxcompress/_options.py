"""Per-call options, and the policy and scorer as plain data for LangChain's serializer."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ctxcompress import Hybrid, InvalidInputError, Policy

__all__ = ["policy_for_call", "policy_from_data", "policy_to_data", "scorer_spec"]


def _hybrid(policy: Policy, what: str) -> Hybrid:
    # Hybrid, TopK, Threshold and TokenBudget all reduce to a Hybrid; a policy of the
    # user's own making does not, and cannot be changed per call nor written as data.
    as_hybrid = getattr(policy, "as_hybrid", None)
    hybrid = as_hybrid() if callable(as_hybrid) else None
    if not isinstance(hybrid, Hybrid):
        raise ValueError(
            f"{what} needs a policy made of top_n, threshold, max_tokens and min_keep "
            f"(ctxcompress's Hybrid, TopK, Threshold or TokenBudget); {type(policy).__name__} "
            "is not one"
        )
    return hybrid


def policy_for_call(policy: Policy, *, top_n: int | None, threshold: float | None) -> Policy:
    """``policy`` with ``top_n`` and ``threshold`` replaced for one call (None: unchanged).

    The rest of the policy (token budget, ``min_keep``) still applies; ``min_keep`` is
    lowered to ``top_n`` when it is larger.
    """
    if top_n is None and threshold is None:
        return policy
    base = _hybrid(policy, "a per-call top_n or threshold")
    top_k = base.top_k if top_n is None else top_n
    min_keep = base.min_keep if top_n is None else min(base.min_keep, top_n)
    try:
        return Hybrid(
            top_k=top_k,
            threshold=base.threshold if threshold is None else threshold,
            max_tokens=base.max_tokens,
            min_keep=min_keep,
        )
    except (InvalidInputError, TypeError) as exc:
        raise ValueError(str(exc).replace("top_k", "top_n")) from exc


def policy_to_data(policy: Policy | None) -> dict[str, Any] | None:
    """The policy as the fields of its :class:`Hybrid` (what :func:`policy_from_data` reads)."""
    if policy is None:
        return None
    h = _hybrid(policy, "serializing")
    return {
        "top_k": h.top_k,
        "threshold": h.threshold,
        "max_tokens": h.max_tokens,
        "min_keep": h.min_keep,
    }


def policy_from_data(value: Any) -> Any:
    """A policy written by :func:`policy_to_data` back as a :class:`Hybrid`; else ``value``."""
    if isinstance(value, Mapping):
        return Hybrid(**value)
    return value


def scorer_spec(owner: str, scorer: Any) -> str | None:
    """The scorer as it is serialized: a spec string (or None), never an object."""
    if scorer is None or isinstance(scorer, str):
        return scorer
    raise ValueError(
        f"{owner} cannot be serialized with a scorer object ({type(scorer).__name__} "
        f"{getattr(scorer, 'name', '')!r}): "
        "give the scorer as a spec string instead, e.g. scorer='bm25', 'default', "
        "'remote:cohere', 'hub:<owner>/<name>' or a model directory path "
        "(pickle and copy.deepcopy do work with scorer objects)"
    )
