"""A two-stage scorer: a cheap first stage prunes, an expensive second stage scores the rest.

For each criterion, the first stage scores every page; the pages it ranks best (``keep``
of them, or those at or above ``keep_threshold``, or both: at most ``keep`` pages at or
above the threshold) go to the second stage, which scores only those. Pruned pages keep
the first stage's calibrated score and a note saying so. With 150 pages × 80 criteria
and ``keep=10``, the second stage scores 800 pairs instead of 12,000.

The second stage sees only the survivors, so it should be pointwise (a cross-encoder, a
rerank API): a scorer whose scores depend on the other pages (BM25) is refused there. Each
criterion's survivors differ, so the second stage gets one call per criterion;
``concurrency`` calls run at once (threads on the sync path, tasks on the async one), which
is what a rerank API wants and a local model does not need.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import anyio

from ._exceptions import InvalidInputError
from ._scorer import BaseScorer, ScoreNotes
from ._types import Criterion

__all__ = ["Cascade"]


class Cascade(BaseScorer):
    """``Cascade(first, second, keep=N)`` or ``keep_threshold=p`` (or both)."""

    def __init__(
        self,
        first: BaseScorer,
        second: BaseScorer,
        *,
        keep: int | None = None,
        keep_threshold: float | None = None,
        concurrency: int = 1,
    ) -> None:
        for label, stage in (("first", first), ("second", second)):
            if not isinstance(stage, BaseScorer):
                raise InvalidInputError(
                    f"the {label} stage must be a ctxcompress scorer, got {type(stage).__name__}"
                )
        if keep is None and keep_threshold is None:
            raise InvalidInputError("give keep=N, keep_threshold=p, or both")
        if keep is not None and (isinstance(keep, bool) or not isinstance(keep, int) or keep < 1):
            raise InvalidInputError(f"keep must be an int >= 1, got {keep!r}")
        if keep_threshold is not None and not (
            isinstance(keep_threshold, float | int)
            and math.isfinite(keep_threshold)
            and 0.0 <= keep_threshold <= 1.0
        ):
            raise InvalidInputError(f"keep_threshold must be in [0, 1], got {keep_threshold!r}")
        if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
            raise InvalidInputError(f"concurrency must be an int >= 1, got {concurrency!r}")
        if not second.pointwise:
            raise InvalidInputError(
                f"the second stage {second.name!r} scores pages relative to each other, so it "
                "cannot score only the first stage's survivors; use a pointwise scorer "
                "(a cross-encoder or a rerank API)"
            )
        self.first = first
        self.second = second
        self.keep = keep
        self.keep_threshold = keep_threshold
        self.concurrency = concurrency
        self.name = f"cascade({first.name} -> {second.name})"

    @property
    def fingerprint(self) -> str:
        return (
            f"cascade({self.first.fingerprint} -> {self.second.fingerprint}"
            f"; keep={self.keep}, keep_threshold={self.keep_threshold})"
        )

    def survivors(self, first_scores: Sequence[float]) -> list[int]:
        """The page indices the second stage scores, best first."""
        ranked = sorted(range(len(first_scores)), key=lambda i: (-first_scores[i], i))
        if self.keep_threshold is not None:
            ranked = [i for i in ranked if first_scores[i] >= self.keep_threshold]
        return ranked if self.keep is None else ranked[: self.keep]

    def _plan(
        self, criteria: Sequence[Criterion], first_rows: list[list[float]]
    ) -> tuple[list[list[float]], ScoreNotes, list[list[int]]]:
        rows = [list(row) for row in first_rows]
        notes: ScoreNotes = {}
        plans = []
        for ci, row in enumerate(first_rows):
            kept = self.survivors(row)
            plans.append(kept)
            chosen = set(kept)
            for pi in range(len(row)):
                if pi not in chosen:
                    notes[(ci, pi)] = f"first stage only ({self.first.name}): pruned by the cascade"
        return rows, notes, plans

    def _score_many(self, criteria: Sequence[Criterion], texts: Sequence[str]) -> list[list[float]]:
        return self._score_many_noted(criteria, texts)[0]

    def _score_many_noted(
        self, criteria: Sequence[Criterion], texts: Sequence[str]
    ) -> tuple[list[list[float]], ScoreNotes]:
        rows, notes, plans = self._plan(criteria, self.first.score_batch(criteria, texts))
        work = [(ci, kept) for ci, kept in enumerate(plans) if kept]

        def second_stage(ci: int, kept: list[int]) -> tuple[list[list[float]], ScoreNotes]:
            return self.second.score_batch_noted([criteria[ci]], [texts[i] for i in kept])

        if self.concurrency == 1 or len(work) < 2:
            results = [second_stage(ci, kept) for ci, kept in work]
        else:
            with ThreadPoolExecutor(max_workers=self.concurrency) as pool:
                results = list(pool.map(lambda item: second_stage(*item), work))
        for (ci, kept), (second, second_notes) in zip(work, results, strict=True):
            self._merge(ci, kept, second[0], second_notes, rows, notes)
        return rows, notes

    async def _ascore_many(
        self, criteria: Sequence[Criterion], texts: Sequence[str]
    ) -> list[list[float]]:
        return (await self._ascore_many_noted(criteria, texts))[0]

    async def _ascore_many_noted(
        self, criteria: Sequence[Criterion], texts: Sequence[str]
    ) -> tuple[list[list[float]], ScoreNotes]:
        first = await self.first.ascore_batch(criteria, texts)
        rows, notes, plans = self._plan(criteria, first)
        limiter = anyio.CapacityLimiter(self.concurrency)
        errors: list[BaseException] = []

        async def second_stage(ci: int, kept: list[int], scope: anyio.CancelScope) -> None:
            async with limiter:
                try:
                    second, second_notes = await self.second.ascore_batch_noted(
                        [criteria[ci]], [texts[i] for i in kept]
                    )
                except Exception as exc:
                    # The first failure cancels the rest; raised after the group, unwrapped.
                    errors.append(exc)
                    scope.cancel()
                    return
            self._merge(ci, kept, second[0], second_notes, rows, notes)

        async with anyio.create_task_group() as group:
            for ci, kept in enumerate(plans):
                if kept:
                    group.start_soon(second_stage, ci, kept, group.cancel_scope)
        if errors:
            raise errors[0]
        return rows, notes

    @staticmethod
    def _merge(
        ci: int,
        kept: list[int],
        second: list[float],
        second_notes: ScoreNotes,
        rows: list[list[float]],
        notes: ScoreNotes,
    ) -> None:
        for position, (pi, score) in enumerate(zip(kept, second, strict=True)):
            rows[ci][pi] = score
            if (0, position) in second_notes:
                notes[(ci, pi)] = second_notes[(0, position)]
