"""The server's batcher on its own: batches are bounded, large requests interleave with
small ones, pages of one query share a scorer call, failures stay with their query."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

pytest.importorskip("starlette")

from ctxcompress import Criterion, ScoringError, load_scorer
from ctxcompress._exceptions import QueueFullError
from ctxcompress._server._batcher import Batcher
from ctxcompress._server._metrics import Metrics


class Recorder:
    """A pointwise scorer whose score is a function of (query, page); it records each
    call, can hold its first call until released, and fails on queries with FAIL."""

    name = "recorder"
    fingerprint = "recorder"
    pointwise = True

    def __init__(self, hold_first: bool = False) -> None:
        self.calls: list[tuple[str, int]] = []
        self.release = threading.Event()
        self.started = threading.Event()
        if not hold_first:
            self.release.set()

    def score_batch(self, criteria: Sequence[Any], pages: Sequence[str]) -> list[list[float]]:
        self.started.set()
        self.release.wait(30)
        [c] = criteria
        self.calls.append((c.text, len(pages)))
        if "FAIL" in c.text:
            raise ScoringError("recorder failed on purpose")
        return [[(hash((c.text, p)) % 1000) / 1000 for p in pages]]


def expected(query: str, pages: Sequence[str]) -> list[float]:
    return [(hash((query, p)) % 1000) / 1000 for p in pages]


def make(scorer: Any, **kw: Any) -> tuple[Batcher, ThreadPoolExecutor]:
    executor = ThreadPoolExecutor(max_workers=1)
    options = {"max_batch_pairs": 16, "max_batch_wait": 0.0, "max_queue_pairs": 1000}
    options.update(kw)
    return Batcher(scorer, executor, Metrics(), **options), executor


def q(text: str) -> Criterion:
    return Criterion(id="q", text=text)


def test_a_large_request_does_not_starve_a_small_one() -> None:
    scorer = Recorder(hold_first=True)

    async def scenario() -> None:
        batcher, executor = make(scorer)
        batcher.start()
        big_pages = [f"big {i}" for i in range(100)]
        big = asyncio.ensure_future(batcher.score([q("big")], big_pages))
        while not scorer.started.is_set():  # the first batch (16 of the big pages) is running
            await asyncio.sleep(0.001)
        small = asyncio.ensure_future(batcher.score([q("small")], ["s1", "s2", "s3"]))
        await asyncio.sleep(0.05)
        scorer.release.set()
        assert (await small) == [expected("small", ["s1", "s2", "s3"])]
        assert (await big) == [expected("big", big_pages)]
        await batcher.close()
        executor.shutdown()

    asyncio.run(scenario())
    # The small request rode in the batch right after the one that was running.
    assert scorer.calls[0] == ("big", 16)
    assert ("small", 3) in scorer.calls[1:3]
    assert sum(n for text, n in scorer.calls if text == "big") == 100
    assert max(n for _, n in scorer.calls) <= 16


def test_pages_of_one_query_share_a_call_and_failures_stay_with_their_query() -> None:
    scorer = Recorder(hold_first=True)

    async def scenario() -> list[Any]:
        batcher, executor = make(scorer, max_batch_pairs=64)
        batcher.start()
        first = asyncio.ensure_future(batcher.score([q("warm")], ["w"]))
        while not scorer.started.is_set():
            await asyncio.sleep(0.001)
        # Queued while the first batch runs: they form the next batch together.
        jobs = [
            batcher.score_each([q("same")], ["a", "b"]),
            batcher.score_each([q("same")], ["c"]),
            batcher.score_each([q("FAIL")], ["x"]),
            batcher.score_each([q("other")], ["d"]),
        ]
        tasks = [asyncio.ensure_future(j) for j in jobs]
        await asyncio.sleep(0.05)
        scorer.release.set()
        await first
        out = [await t for t in tasks]
        await batcher.close()
        executor.shutdown()
        return out

    same_ab, same_c, failed, other = asyncio.run(scenario())
    assert ("same", 3) in scorer.calls  # two requests' pages, one call
    assert same_ab == [expected("same", ["a", "b"])] and same_c == [expected("same", ["c"])]
    assert isinstance(failed[0], ScoringError)
    assert other == [expected("other", ["d"])]


def test_the_queue_is_bounded() -> None:
    scorer = Recorder(hold_first=True)

    async def scenario() -> None:
        batcher, executor = make(scorer, max_queue_pairs=10)
        batcher.start()
        held = asyncio.ensure_future(batcher.score([q("a")], ["p"] * 8))
        await asyncio.sleep(0.01)
        with pytest.raises(QueueFullError) as info:
            await batcher.score([q("b")], ["p"] * 3)
        assert info.value.retry_after >= 1
        scorer.release.set()
        await held
        assert batcher.queued_pairs == 0
        await batcher.score([q("b")], ["p"] * 3)
        await batcher.close()
        executor.shutdown()

    asyncio.run(scenario())


def test_whole_set_scorers_get_each_request_whole() -> None:
    bm25 = load_scorer("bm25")
    pages = ["metformin failed trial", "billing statement", "metformin stopped", "reminder"]
    criteria = [Criterion("a", "metformin trial"), Criterion("b", "billing")]

    async def scenario() -> list[list[float]]:
        batcher, executor = make(bm25, max_batch_pairs=2)
        batcher.start()
        rows = await batcher.score(criteria, pages)
        await batcher.close()
        executor.shutdown()
        return rows

    assert asyncio.run(scenario()) == bm25.score_batch(criteria, pages)
