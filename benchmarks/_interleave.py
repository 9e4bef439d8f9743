"""Interleaved timing for the benchmarks (a helper module, not a benchmark).

A shared VM's speed drifts by up to ~30% over minutes: timing one engine's repeats back to
back lets a slow spell fall on one engine only. Here every round times each engine once
in turn, so a slow spell hits every engine of a round alike, and ratios are taken per
round before their median.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable


def interleaved_rounds(
    engines: dict[str, Callable[[], object]], repeat: int, *, warm_up: bool = True
) -> list[dict[str, float]]:
    """Seconds per engine for each of ``repeat`` rounds (after one untimed warm-up call of
    each engine unless ``warm_up`` is false)."""
    if warm_up:
        for fn in engines.values():
            fn()
    rounds: list[dict[str, float]] = []
    for _ in range(repeat):
        times = {}
        for name, fn in engines.items():
            start = time.perf_counter()
            fn()
            times[name] = time.perf_counter() - start
        rounds.append(times)
    return rounds


def median_seconds(rounds: list[dict[str, float]]) -> dict[str, float]:
    """Each engine's median seconds over the rounds."""
    return {name: statistics.median(r[name] for r in rounds) for name in rounds[0]}


def median_ratio(rounds: list[dict[str, float]], slower: str, faster: str) -> float:
    """Median over the rounds of ``slower``'s time over ``faster``'s (the speed-up)."""
    return statistics.median(r[slower] / r[faster] for r in rounds)


def timed(fn: Callable[[], object], repeat: int) -> float:
    """Median seconds of ``repeat`` calls after one warm-up call."""
    fn()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)
