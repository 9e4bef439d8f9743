"""Every built-in scorer survives copy.deepcopy and pickle, before and after first use.

A copy is rebuilt from the arguments the scorer was built with (``ctxcompress._pickling``):
it gives the same scores, opens its own ONNX session, threads and connections, starts with
empty in-memory caches, and carries a key only where the key was passed in directly.
"""

from __future__ import annotations

import copy
import pickle
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest

from ctxcompress import (
    AsyncRemoteScorer,
    BM25Scorer,
    CachedScorer,
    CalibratedScorer,
    Calibrator,
    Cascade,
    Criterion,
    DefaultScorer,
    MemoryCache,
    RemoteScorer,
    SQLiteCache,
    load_scorer,
)
from ctxcompress._pickling import RebuiltFromArguments

from .rerank_server import KEY, Behaviour, RerankServer, serve

FIXTURES = Path(__file__).parent / "fixtures"
CROSS_ENCODER = str(FIXTURES / "tiny-bert-cross-encoder")
DECODER = str(FIXTURES / "tiny-qwen3-reranker")
CRITERIA = [Criterion("tb", "tuberculosis screening negative"), Criterion("mtx", "methotrexate")]
PAGES = [
    "the patient failed methotrexate after six months",
    "tuberculosis screening was negative",
    "billing statement copay due",
    "hepatitis antigen",
]


def copies(scorer: Any) -> list[Any]:
    return [copy.deepcopy(scorer), pickle.loads(pickle.dumps(scorer))]


@pytest.fixture(scope="module")
def server() -> Iterator[RerankServer]:
    with serve(Behaviour("cohere")) as running:
        yield running


def _remote(server: RerankServer) -> RemoteScorer:
    return RemoteScorer("cohere", api_key=KEY, base_url=server.base_url, seed=1)


# name -> scorer factory (given the loopback server)
SCORERS: dict[str, Callable[[RerankServer], Any]] = {
    "bm25": lambda _: load_scorer("bm25"),
    "default": lambda _: DefaultScorer(),
    "onnx-cross-encoder": lambda _: load_scorer(CROSS_ENCODER),
    "onnx-decoder": lambda _: load_scorer(DECODER),
    "bi-encoder": lambda _: load_scorer("bi-encoder"),
    "remote": _remote,
    "cascade": lambda _: Cascade(BM25Scorer(), load_scorer(CROSS_ENCODER), keep=2),
    "cached-memory": lambda _: CachedScorer(load_scorer(CROSS_ENCODER), MemoryCache(100)),
    "calibrated": lambda _: CalibratedScorer(
        BM25Scorer(), Calibrator("platt", "bm25", {"a": 2.0, "b": -1.0})
    ),
}


@pytest.mark.parametrize("name", list(SCORERS))
def test_copies_give_the_same_scores_before_and_after_first_use(
    name: str, server: RerankServer
) -> None:
    scorer = SCORERS[name](server)
    before = copies(scorer)
    expected = scorer.score_batch(CRITERIA, PAGES)
    after = copies(scorer)
    for other in before + after:
        assert type(other) is type(scorer) and other.name == scorer.name
        assert other.score_batch(CRITERIA, PAGES) == expected
    session = getattr(scorer, "session", None)
    if session is not None:  # each copy opened its own onnxruntime session
        assert all(other.session is not session for other in before + after)


def test_the_remote_scorer_copies_work_after_async_use_too(server: RerankServer) -> None:
    scorer = AsyncRemoteScorer("cohere", api_key=KEY, base_url=server.base_url)

    async def use(s: AsyncRemoteScorer) -> list[list[float]]:
        try:
            return await s.ascore_batch(CRITERIA, PAGES)
        finally:
            await s.aclose()

    expected = anyio.run(use, scorer)
    for other in copies(scorer):
        assert isinstance(other, AsyncRemoteScorer)
        assert anyio.run(use, other) == expected
    sync = _remote(server)
    sync.score_batch(CRITERIA, PAGES)  # its thread pool and connections exist now
    for other in copies(sync):
        assert other._executor is None  # not copied: started again at first use
        assert other.score_batch(CRITERIA, PAGES) == expected
    sync.close()


def test_keys_are_pickled_only_when_passed_in(
    server: RerankServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Passed to the constructor: one of its arguments, so it is in the pickle (documented).
    assert KEY.encode() in pickle.dumps(_remote(server))
    # Read from the environment: never written; read again where the pickle is loaded.
    monkeypatch.setenv("CO_API_KEY", KEY)
    from_env = RemoteScorer("cohere", base_url=server.base_url)
    blob = pickle.dumps(from_env)
    assert KEY.encode() not in blob
    assert pickle.loads(blob).score("methotrexate", PAGES) == from_env.score("methotrexate", PAGES)


def test_caches_are_rebuilt_not_copied(tmp_path: Path) -> None:
    memory = MemoryCache(10)
    memory.put_many({"a": b"1"})
    for other in copies(memory):
        assert other.max_entries == 10 and len(other) == 0
        other.put_many({"b": b"2"})  # its own lock works
    disk = SQLiteCache(tmp_path / "scores.sqlite")
    disk.put_many({"a": b"1"})
    for other in copies(disk):
        assert other.path == disk.path and other.get_many(["a"]) == {"a": b"1"}
    cached = CachedScorer(BM25Scorer(), SQLiteCache(tmp_path / "cached.sqlite"))
    expected = cached.score_batch(CRITERIA, PAGES)
    for other in copies(cached):
        scores = other.scores(CRITERIA, PAGES)
        assert scores.matrix == expected and scores.note(0, 0) is not None  # from the file


def test_the_mixin_records_the_outermost_call() -> None:
    class Base(RebuiltFromArguments):
        def __init__(self, a: int, *, b: int = 0) -> None:
            self.total = a + b

    class Child(Base):
        def __init__(self, a: int) -> None:
            super().__init__(a, b=10)

    kwargs = {"b": 2}
    base = Base(1, **kwargs)
    kwargs["b"] = 99  # the caller's dict changing later does not change the record
    assert copy.deepcopy(base).total == 3 and copy.copy(base).total == 3
    assert copy.deepcopy(Child(1)).total == 11
