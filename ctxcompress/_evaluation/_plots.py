"""Plots (extra ``ctxcompress[plot]``): recall vs characters kept, and reliability.

The recall curve is the chart that sells the product: for K = 1, 2, ... it plots the mean
share of a document's characters sent (x) against the mean share of evidence pages kept
(y), one line per scorer.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

from .._exceptions import MissingDependencyError
from . import _metrics as m

__all__ = ["plot_report"]


def _pyplot() -> Any:
    try:
        import matplotlib

        matplotlib.use("Agg")  # files only; never needs a display
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise MissingDependencyError("matplotlib", "plot", "plotting") from exc
    return plt


def reliability_line(ax: Any, table: Sequence[Mapping[str, Any]], label: str) -> None:
    """One run's line of a reliability diagram: the observed rate against the mean
    predicted probability, per bin of ``table`` (rows of ``reliability_table``)."""
    ax.plot(
        [r["mean_predicted"] for r in table],
        [r["observed_rate"] for r in table],
        marker="o",
        label=label,
    )


def reliability_frame(ax: Any, counted: str) -> None:
    """A reliability diagram's diagonal (perfect calibration) and axes; ``counted`` names
    what the observed rate counts."""
    ax.plot([0, 1], [0, 1], color="grey", lw=0.8, ls="--")
    _frame(ax, "predicted probability", f"observed rate of {counted}")
    ax.set_title("Reliability")


def _frame(ax: Any, xlabel: str, ylabel: str, *, ymax: float = 1.0) -> None:
    # Shares and probabilities: both axes run from 0 to 1 (a little above, for a curve at 1).
    ax.set(xlabel=xlabel, ylabel=ylabel, xlim=(0, 1), ylim=(0, ymax))


def recall_curve(
    items: Sequence[m.ScoredCriterion], max_k: int = 60
) -> tuple[list[float], list[float]]:
    longest = max((len(c.scores) for c in items), default=0)
    ks = range(1, min(max_k, longest) + 1)
    return [m.chars_kept_at_k(items, k) for k in ks], [m.recall_at_k(items, k) for k in ks]


def plot_report(
    runs: Mapping[str, Sequence[m.ScoredCriterion]],
    path: str | os.PathLike[str],
    *,
    title: str = "",
    max_k: int = 60,
) -> None:
    """Write one PNG: recall vs characters kept (left) and a reliability diagram (right),
    one line per named run (a scorer, calibrated or not)."""
    plt = _pyplot()
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.5))
    for name, items in runs.items():
        xs, ys = recall_curve(items, max_k)
        left.plot([0.0, *xs], [0.0, *ys], marker=".", label=name)
        table = [row for row in m.reliability_table(items) if row["n"]]
        reliability_line(right, table, f"{name} (ECE {m.ece(items):.3f})")
    left.axhline(0.9, color="grey", lw=0.8, ls="--")
    _frame(left, "share of characters sent", "share of evidence pages kept", ymax=1.02)
    left.set_title("Recall vs characters kept (K = 1, 2, ...)")
    reliability_frame(right, "relevant pages")
    left.legend(loc="lower right", fontsize=8)
    right.legend(loc="upper left", fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
