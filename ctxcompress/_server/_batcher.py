"""Dynamic batching: pairs from concurrent requests, one scorer call at a time, off the loop.

Requests submit *jobs* (criteria × pages). A single worker task forms a batch of at most
``max_batch_pairs`` pairs, waiting up to ``max_batch_wait`` for the first waiting pair's
batch to fill, runs it in the one scorer thread and hands each job its scores.

* Pointwise scorers (a page's score depends on that page alone: cross-encoders, rerank
  APIs) get one job per criterion, and pages from different requests are mixed freely.
  Within a batch, pages of all pieces that share a query go to the scorer in one
  ``score_batch`` call. A job is handed out in slices of at most a quarter batch, round
  robin over the waiting jobs, so a large request is spread over several batches and the
  small requests that arrive meanwhile ride in the very next one.
* Other scorers (BM25, the default's fusion features) need the whole document set: each
  job is scored whole, in one call, exactly as in-process ``score_batch`` would. A scorer
  whose expensive part is per page (the default's page embeddings) says so with a
  ``prepare_pages(texts)`` method and a ``prepare_limit`` in pages: a job of at most that
  many pages is first *prepared*, its pages handed out in slices like a pointwise job's
  and embedded together with other requests' pages, and only then scored whole, from the
  scorer's caches. So a long document does not hold the model while short ones wait.

The queue is bounded in pairs: a job that does not fit is refused at once
(:class:`QueueFullError`) rather than queued without limit.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

from .. import Criterion
from .._exceptions import JobTooLargeError, QueueFullError
from ._metrics import Metrics

__all__ = ["Batcher"]

logger = logging.getLogger("ctxcompress.serve")

Rows = list[list[float]]
_T = TypeVar("_T")


@dataclass(eq=False)
class _Job:
    criteria: list[Criterion]
    pages: Sequence[str]
    whole: bool
    future: asyncio.Future[Rows]
    arrived: float
    scores: list[float] = field(default_factory=list)
    cursor: int = 0  # next page to hand out (pointwise jobs)
    left: int = 0  # pairs not yet scored
    # Whole jobs of a preparing scorer: the next page to hand out for preparation, and
    # how many pages are prepared. The job is scored once every page is.
    prepare_cursor: int = 0
    prepared: int = 0

    @property
    def pairs(self) -> int:
        return len(self.criteria) * len(self.pages)

    @property
    def unissued(self) -> int:
        return (len(self.pages) - self.cursor) * len(self.criteria)


@dataclass(frozen=True)
class _Piece:
    job: _Job
    start: int
    stop: int
    prepare: bool = False  # pages to prepare, not pairs to score

    @property
    def pairs(self) -> int:
        return (self.stop - self.start) * len(self.job.criteria)

    @property
    def weight(self) -> int:
        """What the piece adds to a batch: pairs, or pages to prepare (a page's windows
        cost about what a pair's do)."""
        return self.stop - self.start if self.prepare else self.pairs


class Batcher:
    """Queues scoring jobs and runs them in batches on one worker thread."""

    def __init__(
        self,
        scorer: Any,
        executor: ThreadPoolExecutor,
        metrics: Metrics,
        *,
        max_batch_pairs: int,
        max_batch_wait: float,
        max_queue_pairs: int,
    ) -> None:
        self.scorer = scorer
        self.pointwise = bool(getattr(scorer, "pointwise", False))
        self._prepare = None if self.pointwise else getattr(scorer, "prepare_pages", None)
        self._prepare_limit = int(getattr(scorer, "prepare_limit", 0))
        self._executor = executor
        self._metrics = metrics
        self.max_batch_pairs = max_batch_pairs
        self.max_batch_wait = max_batch_wait
        self.max_queue_pairs = max_queue_pairs
        # A slice of one job per turn: large requests interleave with small ones.
        self._quantum = max(1, max_batch_pairs // 4)
        self._jobs: deque[_Job] = deque()
        self._queued = 0  # admitted, not yet scored (including the batch running now)
        self._unissued = 0  # admitted, not yet handed to a batch
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._rate = 0.0  # pairs per second, a moving average, for Retry-After

    @property
    def queued_pairs(self) -> int:
        return self._queued

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="ctxcompress-batcher")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def score(self, criteria: Sequence[Criterion], pages: Sequence[str]) -> Rows:
        """Scores of every page for every criterion; the first failure is raised."""
        outcomes = await self.score_each(criteria, pages)
        rows: Rows = []
        for outcome in outcomes:
            if isinstance(outcome, BaseException):
                raise outcome
            rows.append(outcome)
        return rows

    async def score_each(
        self, criteria: Sequence[Criterion], pages: Sequence[str]
    ) -> list[list[float] | BaseException]:
        """Per criterion, its scores or the exception that stopped them: one failing
        criterion does not take the others down (a whole-set scorer fails them together)."""
        n = len(criteria) * len(pages)
        if n > self.max_queue_pairs:
            raise JobTooLargeError(
                f"the request has {n} (criterion, page) pairs, more than the server's queue "
                f"holds ({self.max_queue_pairs}, --max-queue-pairs)"
            )
        if self._queued + n > self.max_queue_pairs:
            raise QueueFullError(self._queued, self.max_queue_pairs, self._retry_after(n))
        loop = asyncio.get_running_loop()
        now = loop.time()
        if self.pointwise:
            jobs = [self._job([c], pages, whole=False, now=now) for c in criteria]
        else:
            jobs = [self._job(list(criteria), pages, whole=True, now=now)]
        self._queued += n
        self._unissued += n
        self._metrics.queue_pairs.set(self._queued)
        self._jobs.extend(jobs)
        self._wake.set()
        results = await asyncio.gather(*(j.future for j in jobs), return_exceptions=True)
        if self.pointwise:
            return [r if isinstance(r, BaseException) else r[0] for r in results]
        only = results[0]
        if isinstance(only, BaseException):
            return [only] * len(criteria)
        return list(only)

    def _job(
        self, criteria: list[Criterion], pages: Sequence[str], *, whole: bool, now: float
    ) -> _Job:
        job = _Job(
            criteria=criteria,
            pages=pages,
            whole=whole,
            future=asyncio.get_running_loop().create_future(),
            arrived=now,
        )
        job.left = job.pairs
        if not whole:
            job.scores = [math.nan] * len(pages)
        elif self._prepare is None or len(pages) > self._prepare_limit:
            job.prepare_cursor = job.prepared = len(pages)  # nothing to prepare
        if job.pairs == 0:
            job.future.set_result([[] for _ in criteria])
        return job

    def _retry_after(self, extra: int) -> int:
        if self._rate <= 0:
            return 1
        return max(
            1, min(60, math.ceil((self._queued + extra - self.max_queue_pairs) / self._rate))
        )

    # The worker ---------------------------------------------------------------------------

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            self._drop_finished()
            if not self._jobs:
                self._wake.clear()
                await self._wake.wait()
                continue
            await self._wait_to_fill(loop)
            pieces = self._take()
            if not pieces:
                continue
            size = sum(p.weight for p in pieces)
            self._metrics.batch_pairs.observe(size)
            started = time.perf_counter()
            try:
                outcomes = await loop.run_in_executor(self._executor, self._score_pieces, pieces)
            except Exception as exc:  # the executor itself failed: fail the batch, go on
                logger.exception("scoring batch failed")
                outcomes = [exc] * len(pieces)
            elapsed = time.perf_counter() - started
            self._metrics.batch_seconds.observe(elapsed)
            if elapsed > 0:
                rate = size / elapsed
                self._rate = rate if self._rate == 0 else 0.8 * self._rate + 0.2 * rate
            self._deliver(pieces, outcomes)

    async def _wait_to_fill(self, loop: asyncio.AbstractEventLoop) -> None:
        # The oldest waiting job sets the deadline: work that queued while the previous
        # batch ran goes out at once instead of waiting again.
        if self.max_batch_wait <= 0:
            return
        deadline = min(j.arrived for j in self._jobs) + self.max_batch_wait
        while self._unissued < self.max_batch_pairs:
            remaining = deadline - loop.time()
            if remaining <= 0:
                return
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), remaining)
            except (TimeoutError, asyncio.TimeoutError):  # two classes before Python 3.11
                return

    def _drop_finished(self) -> None:
        # Jobs whose request went away (cancelled) or failed need no more batches.
        if any(j.future.done() for j in self._jobs):
            for job in [j for j in self._jobs if j.future.done()]:
                self._jobs.remove(job)
                self._forget(job)

    def _forget(self, job: _Job) -> None:
        self._unissued -= job.unissued
        self._queued -= job.left
        job.cursor = job.prepare_cursor = len(job.pages)
        job.left = 0
        self._metrics.queue_pairs.set(self._queued)

    def _take(self) -> list[_Piece]:
        pieces: list[_Piece] = []
        total = 0
        while self._jobs and total < self.max_batch_pairs:
            job = self._jobs.popleft()
            if job.future.done():
                self._forget(job)
                continue
            if job.whole and job.prepare_cursor < len(job.pages):
                take = min(
                    self._quantum, self.max_batch_pairs - total, len(job.pages) - job.prepare_cursor
                )
                piece = _Piece(job, job.prepare_cursor, job.prepare_cursor + take, prepare=True)
                job.prepare_cursor = piece.stop
                total += take
                pieces.append(piece)
                if job.prepare_cursor < len(job.pages):
                    self._jobs.append(job)
                # else it comes back to the queue once its last slice is prepared
                continue
            if job.whole:
                if pieces and total + job.pairs > self.max_batch_pairs:
                    self._jobs.appendleft(job)
                    break
                piece = _Piece(job, 0, len(job.pages))
            else:
                take = min(self._quantum, self.max_batch_pairs - total, len(job.pages) - job.cursor)
                piece = _Piece(job, job.cursor, job.cursor + take)
            self._unissued -= piece.pairs
            job.cursor = piece.stop
            total += piece.pairs
            pieces.append(piece)
            if job.cursor < len(job.pages):
                self._jobs.append(job)  # the rest waits its turn behind the other jobs
        return pieces

    def _score_pieces(self, pieces: list[_Piece]) -> list[Rows | BaseException]:
        """Runs in the scorer thread: one ``score_batch`` per query (pointwise) or per job."""
        outcomes: list[Rows | BaseException] = [[] for _ in pieces]
        if not self.pointwise:
            preparing = [i for i, p in enumerate(pieces) if p.prepare]
            if preparing:
                texts = [
                    t
                    for i in preparing
                    for t in pieces[i].job.pages[pieces[i].start : pieces[i].stop]
                ]
                failure = self._prepare_texts(texts)
                for i in preparing:
                    outcomes[i] = failure if failure is not None else []
            for i, piece in enumerate(pieces):
                if not piece.prepare:
                    outcomes[i] = self._call(piece.job.criteria, piece.job.pages)
            return outcomes
        groups: dict[tuple[str, str | None], list[int]] = {}
        for i, piece in enumerate(pieces):
            c = piece.job.criteria[0]
            groups.setdefault((c.text, c.instruction), []).append(i)
        for members in groups.values():
            texts = [
                t for i in members for t in pieces[i].job.pages[pieces[i].start : pieces[i].stop]
            ]
            result = self._call(pieces[members[0]].job.criteria[:1], texts)
            if isinstance(result, BaseException):
                for i in members:
                    outcomes[i] = result
                continue
            row, at = result[0], 0
            for i in members:
                n = pieces[i].stop - pieces[i].start
                outcomes[i] = [row[at : at + n]]
                at += n
        return outcomes

    def _call(self, criteria: list[Criterion], pages: Sequence[str]) -> Rows | BaseException:
        rows = self._guarded(lambda: self.scorer.score_batch(criteria, list(pages)))
        if not isinstance(rows, BaseException):
            self._metrics.pairs_scored.inc(len(criteria) * len(pages))
        return rows

    def _prepare_texts(self, texts: list[str]) -> BaseException | None:
        prepare = self._prepare
        assert prepare is not None
        failure = self._guarded(lambda: prepare(texts))
        return failure if isinstance(failure, BaseException) else None

    def _guarded(self, work: Callable[[], _T]) -> _T | BaseException:
        """``work()``, or the exception it raised, counted and logged: a scorer failure
        fails the requests it served, never the batcher."""
        try:
            return work()
        except Exception as exc:
            self._metrics.scorer_failures.inc()
            logger.warning("scorer %s failed: %s", getattr(self.scorer, "name", "?"), exc)
            return exc

    def _deliver(self, pieces: list[_Piece], outcomes: Sequence[Rows | BaseException]) -> None:
        for piece, outcome in zip(pieces, outcomes, strict=True):
            job = piece.job
            if piece.prepare and not job.future.done():
                if isinstance(outcome, BaseException):
                    self._fail(job, outcome)
                    continue
                job.prepared += piece.stop - piece.start
                if job.prepared == len(job.pages):
                    self._jobs.append(job)  # scored in a later batch, behind waiting work
                continue
            if piece.prepare:
                continue  # its request went away: nothing was counted for the pages
            if job.future.done():
                self._queued -= min(piece.pairs, job.left)
                job.left -= min(piece.pairs, job.left)
                continue
            if isinstance(outcome, BaseException):
                self._fail(job, outcome)
                continue
            if job.whole:
                job.future.set_result(outcome)
            else:
                job.scores[piece.start : piece.stop] = outcome[0]
            job.left -= piece.pairs
            self._queued -= piece.pairs
            if job.left == 0 and not job.future.done():
                job.future.set_result([job.scores])
        self._metrics.queue_pairs.set(self._queued)

    def _fail(self, job: _Job, error: BaseException) -> None:
        job.future.set_exception(error)
        self._jobs_discard(job)
        self._queued -= job.left
        self._unissued -= job.unissued
        job.cursor = job.prepare_cursor = len(job.pages)
        job.left = 0

    def _jobs_discard(self, job: _Job) -> None:
        with contextlib.suppress(ValueError):  # already taken off the queue
            self._jobs.remove(job)
