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

from .._exceptions import InvalidInputError
from .._types import Criterion, Page
from ._base import (
    BaseScorer,
    PageNote,
    Scorer,
    Scores,
    ascores_of,
    check_scorer,
    fingerprint_of,
    is_pointwise,
    scores_of,
)

__all__ = ["Cascade"]


class Cascade(BaseScorer):
    """``Cascade(first, second, keep=N)`` or ``keep_threshold=p`` (or both).

    Either stage may be any object implementing the :class:`Scorer` protocol.

    Guide with examples: [Choosing a scorer][guide-scorers].
    """

    def __init__(
        self,
        first: Scorer,
        second: Scorer,
        *,
        keep: int | None = None,
        keep_threshold: float | None = None,
        concurrency: int = 1,
    ) -> None:
        for label, stage in (("first", first), ("second", second)):
            check_scorer(stage, f"the {label} stage must be a scorer")
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
        if not is_pointwise(second):
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
            f"cascade({fingerprint_of(self.first)} -> {fingerprint_of(self.second)}"
            f"; keep={self.keep}, keep_threshold={self.keep_threshold})"
        )

    def survivors(self, first_scores: Sequence[float]) -> list[int]:
        """The page indices the second stage scores, best first."""
        ranked = sorted(range(len(first_scores)), key=lambda i: (-first_scores[i], i))
        if self.keep_threshold is not None:
            ranked = [i for i in ranked if first_scores[i] >= self.keep_threshold]
        return ranked if self.keep is None else ranked[: self.keep]

    def _plan(self, first: Scores) -> tuple[_Merge, list[tuple[int, list[int]]]]:
        """What the first stage decided: the merged answer so far, and per criterion the
        pages the second stage scores (criteria with none are left out)."""
        merge = _Merge(first)
        work = []
        pruned = PageNote(f"first stage only ({self.first.name}): pruned by the cascade")
        for ci, row in enumerate(first.rows):
            kept = self.survivors(row)
            chosen = set(kept)
            for pi in range(len(row)):
                if pi not in chosen:
                    merge.notes[(ci, pi)] = pruned.with_flag("pruned")
            if kept:
                work.append((ci, kept))
        return merge, work

    def _score(self, criteria: Sequence[Criterion], pages: Sequence[Page]) -> Scores:
        merge, work = self._plan(scores_of(self.first, criteria, pages))

        def second_stage(ci: int, kept: list[int]) -> Scores:
            return scores_of(self.second, [criteria[ci]], [pages[i] for i in kept])

        if self.concurrency == 1 or len(work) < 2:
            results = [second_stage(ci, kept) for ci, kept in work]
        else:
            with ThreadPoolExecutor(max_workers=self.concurrency) as pool:
                results = list(pool.map(lambda item: second_stage(*item), work))
        for (ci, kept), second in zip(work, results, strict=True):
            merge.add(ci, kept, second)
        return merge.scores()

    async def _ascore(self, criteria: Sequence[Criterion], pages: Sequence[Page]) -> Scores:
        merge, work = self._plan(await ascores_of(self.first, criteria, pages))
        limiter = anyio.CapacityLimiter(self.concurrency)
        errors: list[BaseException] = []

        async def second_stage(ci: int, kept: list[int], scope: anyio.CancelScope) -> None:
            async with limiter:
                try:
                    second = await ascores_of(self.second, [criteria[ci]], [pages[i] for i in kept])
                except Exception as exc:
                    # The first failure cancels the rest; raised after the group, unwrapped.
                    errors.append(exc)
                    scope.cancel()
                    return
            merge.add(ci, kept, second)

        async with anyio.create_task_group() as group:
            for ci, kept in work:
                group.start_soon(second_stage, ci, kept, group.cancel_scope)
        if errors:
            raise errors[0]
        return merge.scores()


class _Merge:
    """The first stage's scores with the second stage's written over its survivors."""

    def __init__(self, first: Scores) -> None:
        self.rows = first.matrix
        self.notes: dict[tuple[int, int], PageNote] = dict(first.notes)

    def add(self, ci: int, kept: list[int], second: Scores) -> None:
        for position, (pi, score) in enumerate(zip(kept, second.rows[0], strict=True)):
            self.rows[ci][pi] = score
            note = second.note(0, position)
            if note is not None:
                self.notes[(ci, pi)] = note
            else:
                self.notes.pop((ci, pi), None)

    def scores(self) -> Scores:
        return Scores.of(self.rows, self.notes)
