"""How a page longer than the model's window gets one score from its windows' scores."""

from __future__ import annotations

from typing import Any, Literal

import numpy as np

from ..._exceptions import InvalidInputError

__all__ = ["Aggregation", "aggregate", "check_aggregation"]

#: The best window's score, or the mean of the best two windows' scores.
Aggregation = Literal["max", "mean_top2"]


def check_aggregation(aggregation: object) -> None:
    if aggregation not in ("max", "mean_top2"):
        raise InvalidInputError(f"aggregation must be 'max' or 'mean_top2', got {aggregation!r}")


def aggregate(similarities: np.ndarray[Any, Any], aggregation: Aggregation) -> float:
    """One page score from its windows' similarities."""
    if aggregation == "max" or len(similarities) == 1:
        return float(similarities.max())
    top = np.sort(similarities)[-2:]
    return float(top.mean())
