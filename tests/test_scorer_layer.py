"""The scorer layer (issue 19): one hook, answers that carry their own notes and flags,
wrappers that take any Scorer, and the defects a new user hit."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path

import anyio
import pytest

from ctxcompress import (
    BaseScorer,
    BiEncoderScorer,
    BM25Scorer,
    CachedScorer,
    CalibratedScorer,
    Cascade,
    Compressor,
    Criterion,
    CrossEncoderScorer,
    MemoryCache,
    Page,
    RemoteScorer,
    Scores,
    ScoringError,
    TopK,
    UnknownScorerError,
    fit_calibrator,
    load_scorer,
)
from ctxcompress._scorers._onnx import _session

FIXTURES = Path(__file__).parent / "fixtures"
CROSS_ENCODER = FIXTURES / "tiny-bert-cross-encoder"
PAGES = [
    "The patient failed a trial of methotrexate after six months.",
    "Billing statement: copay due, payment options.",
    "QuantiFERON TB screening was negative in March.",
    "Methotrexate was stopped for liver toxicity.",
]


class WordOverlap(BaseScorer):
    """A scorer written the way the guide says: a name and the one hook."""

    name = "word-overlap"
    pointwise = True

    def _score(self, criteria: Sequence[Criterion], pages: Sequence[Page]) -> Scores:
        rows = []
        for criterion in criteria:
            words = set(criterion.text.lower().split())
            rows.append(
                [min(0.95, 0.05 + 0.3 * len(words & set(p.text.lower().split()))) for p in pages]
            )
        return Scores.of(rows)


class ProtocolScorer:
    """Implements the Scorer protocol without BaseScorer."""

    name = "protocol"
    pointwise = True

    def score(self, criterion, pages):  # type: ignore[no-untyped-def]
        return self.score_batch([criterion], pages)[0]

    def score_batch(self, criteria, pages):  # type: ignore[no-untyped-def]
        return WordOverlap().score_batch(criteria, pages)


def test_the_one_hook_runs_through_compressor_cascade_cache_and_calibration() -> None:
    criteria = ["methotrexate failed", "tb screening negative"]
    want = WordOverlap().score_batch(criteria, PAGES)
    result = Compressor(WordOverlap(), TopK(2), "whitespace").compress(PAGES, criteria)
    assert [s.kept_indices for s in result.selections] == [(0, 3), (0, 2)]
    cascade = Cascade(BM25Scorer(), WordOverlap(), keep=2)
    scores = cascade.scores(criteria, PAGES)
    assert sum(n.flags == ("pruned",) for n in scores.notes.values()) == 2 * (len(PAGES) - 2)
    cached = CachedScorer(WordOverlap(), MemoryCache())
    assert cached.score_batch(criteria, PAGES) == want
    again = cached.scores(criteria, PAGES)
    assert again.matrix == want and all(
        again.note(ci, pi) is not None and again.note(ci, pi).flags == ("cached",)  # type: ignore[union-attr]
        for ci in range(2)
        for pi in range(len(PAGES))
    )
    calibrator = fit_calibrator(
        [0.05, 0.35, 0.65, 0.95], [0, 0, 1, 1], "platt", scorer_id="word-overlap"
    )
    calibrated = CalibratedScorer(WordOverlap(), calibrator)
    assert calibrated.score_batch(criteria, PAGES) == [calibrator(row) for row in want]
    assert anyio.run(calibrated.ascore_batch, criteria, PAGES) == [calibrator(r) for r in want]


def test_wrappers_take_any_object_that_implements_the_protocol() -> None:
    criteria = [Criterion("a", "methotrexate failed")]
    want = WordOverlap().score_batch(criteria, PAGES)
    assert Cascade(BM25Scorer(), ProtocolScorer(), keep=4).score_batch(criteria, PAGES) == want
    assert Cascade(ProtocolScorer(), WordOverlap(), keep=4).score_batch(criteria, PAGES) == want
    assert CachedScorer(ProtocolScorer()).score_batch(criteria, PAGES) == want
    cal = fit_calibrator([0.1, 0.9], [0, 1], "platt", scorer_id="protocol")
    assert CalibratedScorer(ProtocolScorer(), cal).score_batch(criteria, PAGES) == [cal(want[0])]
    # A cascade's second stage sees only survivors, renumbered for a protocol scorer.
    assert Cascade(BM25Scorer(), ProtocolScorer(), keep=2).score_batch(criteria, PAGES)


def test_a_custom_scorers_own_exception_becomes_a_scoring_error() -> None:
    class Broken(WordOverlap):
        name = "broken"

        def _score(self, criteria: Sequence[Criterion], pages: Sequence[Page]) -> Scores:
            raise RuntimeError("model server fell over")

    with pytest.raises(ScoringError, match=r"scorer 'broken' failed on criterion 'c0'") as info:
        Compressor(Broken(), token_counter="whitespace").compress(PAGES, "q")
    assert isinstance(info.value.__cause__, RuntimeError)
    with pytest.raises(ScoringError, match="RuntimeError: model server fell over"):
        anyio.run(Compressor(Broken(), token_counter="whitespace").acompress, PAGES, "q")
    kept = Compressor(Broken(), token_counter="whitespace", on_error="keep").compress(PAGES, "q")
    assert kept.selections[0].error is not None
    assert kept.selections[0].error.startswith("ScoringError: scorer 'broken'")


def test_windowed_flags_travel_in_the_answer_when_threads_share_a_scorer() -> None:
    scorer = CrossEncoderScorer(CROSS_ENCODER, providers="cpu")
    long_page = " ".join(["tuberculosis screening was negative"] * 60)
    results: dict[str, Scores] = {}

    def run(name: str, pages: list[str]) -> None:
        for _ in range(3):
            results[name] = scorer.scores(["tuberculosis screening negative?"], pages)

    threads = [
        threading.Thread(target=run, args=("long", ["short page", long_page])),
        threading.Thread(target=run, args=("short", ["short page", "another short page"])),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results["long"].note(0, 1) is not None
    assert results["long"].note(0, 1).flags == ("windowed",)  # type: ignore[union-attr]
    assert not results["short"].notes


def test_a_bare_word_is_a_scheme_even_beside_a_folder_of_that_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("default", "bm25"):
        (tmp_path / name).mkdir()
    monkeypatch.chdir(tmp_path)
    assert isinstance(load_scorer("bm25"), BM25Scorer)
    assert load_scorer("default").name.startswith("default(")
    assert Compressor(token_counter="whitespace").scorer.name.startswith("default(")
    with pytest.raises(Exception, match=r"ctxcompress\.json"):
        load_scorer("./bm25")  # written as a path, it is the folder


def test_a_relative_path_with_a_separator_is_a_model_directory(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(FIXTURES.parent)
    scorer = load_scorer("fixtures/tiny-bert-cross-encoder", providers="cpu")
    assert isinstance(scorer, CrossEncoderScorer)
    with pytest.raises(UnknownScorerError, match="known"):
        load_scorer("tiny-bert-cross-encoder")  # a bare word: a scheme, and there is none


def test_fingerprints_change_with_every_option_that_changes_a_score() -> None:
    url = "http://127.0.0.1:9"
    identity = RemoteScorer("tei", base_url=url)
    sigmoid = RemoteScorer("tei", base_url=url, score_transform="sigmoid")
    assert identity.fingerprint != sigmoid.fingerprint
    fast = RemoteScorer("zeroentropy", base_url=url, api_key="k", latency="fast")
    slow = RemoteScorer("zeroentropy", base_url=url, api_key="k", latency="slow")
    assert fast.fingerprint != slow.fingerprint
    assert BM25Scorer(k1=1.2).fingerprint != BM25Scorer(k1=1.5).fingerprint
    assert BM25Scorer(b=0.5).fingerprint != BM25Scorer().fingerprint
    ce = CrossEncoderScorer(CROSS_ENCODER, providers="cpu")
    ce_mean = CrossEncoderScorer(CROSS_ENCODER, providers="cpu", aggregation="mean_top2")
    assert ce.fingerprint != ce_mean.fingerprint


def test_a_score_cache_never_returns_another_configurations_scores() -> None:
    cache = MemoryCache()
    first = CachedScorer(BM25Scorer(k1=0.5), cache).score_batch(["methotrexate failed"], PAGES)
    second = CachedScorer(BM25Scorer(k1=3.0), cache).score_batch(["methotrexate failed"], PAGES)
    assert first == BM25Scorer(k1=0.5).score_batch(["methotrexate failed"], PAGES)
    assert second == BM25Scorer(k1=3.0).score_batch(["methotrexate failed"], PAGES)
    assert first != second


def test_bi_encoder_scorer_is_pointwise_and_a_cascade_accepts_it() -> None:
    assert BiEncoderScorer.pointwise is True
    assert CrossEncoderScorer.pointwise is True and BM25Scorer.pointwise is False


def test_device_id_reaches_the_cuda_provider(monkeypatch: pytest.MonkeyPatch) -> None:
    import onnxruntime

    seen: list[object] = []

    class Recording(onnxruntime.InferenceSession):  # type: ignore[misc]
        def __init__(self, path: str, sess_options: object = None, providers: object = None):
            seen.append(providers)
            super().__init__(path, sess_options=sess_options, providers=["CPUExecutionProvider"])

    class FakeOrt:
        # onnxruntime as it looks on a machine with CUDA, sessions running on the CPU.
        def __getattr__(self, name: str) -> object:
            return getattr(onnxruntime, name)

        InferenceSession = Recording

        @staticmethod
        def get_available_providers() -> list[str]:
            return ["CUDAExecutionProvider", "CPUExecutionProvider"]

    monkeypatch.setattr(_session, "_ort", lambda: FakeOrt())
    monkeypatch.setattr(_session, "tensorrt_loads", lambda: False)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # CUDA "did not load": it ran on the CPU
        CrossEncoderScorer(CROSS_ENCODER, providers="cuda", device_id=1, precision="fp32")
    assert seen[-1][0] == ("CUDAExecutionProvider", {"device_id": 1})  # type: ignore[index]
    with pytest.raises(Exception, match="device_id"):
        CrossEncoderScorer(CROSS_ENCODER, providers="cpu", device_id=-1)


def test_cli_takes_device_id(tmp_path: Path) -> None:
    import subprocess
    import sys

    pages = tmp_path / "pages.jsonl"
    pages.write_text('{"text": "tb negative"}\n')
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "ctxcompress",
            "score",
            "--scorer",
            str(CROSS_ENCODER),
            "--providers",
            "cpu",
            "--device-id",
            "0",
            "--criterion",
            "tb",
            "--pages",
            str(pages),
        ],
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stderr


def test_a_subclass_that_overrides_score_batch_instead_of_the_hook_still_works() -> None:
    class Legacy(BaseScorer):
        name = "legacy"

        def score_batch(self, criteria, pages):  # type: ignore[no-untyped-def]
            return [[0.5] * len(pages) for _ in criteria]

    result = Compressor(Legacy(), TopK(1), "whitespace").compress(PAGES, ["q1", "q2"])
    assert [d.score for d in result.selections[1].decisions] == [0.5] * len(PAGES)
    assert anyio.run(Compressor(Legacy(), TopK(1), "whitespace").acompress, PAGES, "q")


def test_the_guides_own_scorer_example_runs_through_everything() -> None:
    import re

    guide = (Path(__file__).resolve().parents[1] / "docs" / "guides" / "scorers.md").read_text()
    block = next(b for b in re.findall(r"```python\n(.*?)```", guide, re.S) if "def _score(" in b)
    namespace: dict[str, object] = {}
    exec(compile(block, "docs/guides/scorers.md", "exec"), namespace)
    keyword = namespace["KeywordScorer"]
    scorer = keyword()  # type: ignore[operator]
    result = Compressor(scorer, TopK(1), "whitespace").compress(PAGES, ["Methotrexate failed"])
    assert result.selections[0].decisions[0].note == "scored from the first word only"
    assert Cascade(BM25Scorer(), keyword(), keep=2).score_batch(["Billing"], PAGES)  # type: ignore[operator]
    assert CachedScorer(keyword()).score_batch(["Billing"], PAGES)[0][1] == 0.9  # type: ignore[operator]


def test_a_failing_criterion_scored_alone_is_not_asked_twice() -> None:
    calls: list[int] = []

    class Broken(WordOverlap):
        name = "broken-once"

        def _score(self, criteria: Sequence[Criterion], pages: Sequence[Page]) -> Scores:
            calls.append(len(criteria))
            raise RuntimeError("down")

    result = Compressor(Broken(), token_counter="whitespace", on_error="keep").compress(
        PAGES, ["q"]
    )
    assert calls == [1] and result.selections[0].error is not None


def test_a_cascade_takes_the_bi_encoder_scorer_as_its_second_stage(tmp_path: Path) -> None:
    from ctxcompress._scorers._default._embedded import minilm_model_dir
    from ctxcompress._scorers._onnx._bi_encoder import bi_encoder_scorer

    second = bi_encoder_scorer(minilm_model_dir())
    cascade = Cascade(BM25Scorer(), second, keep=2)
    scores = cascade.scores(["methotrexate failed"], PAGES)
    survivors = [pi for pi in range(len(PAGES)) if scores.note(0, pi) is None]
    assert len(survivors) == 2
    alone = second.score_batch(["methotrexate failed"], [PAGES[i] for i in survivors])[0]
    assert [scores.rows[0][i] for i in survivors] == pytest.approx(alone, abs=1e-6)


def test_an_empty_page_with_pruning_and_credentials_kept_out_of_fingerprints() -> None:
    result = Compressor("bm25", TopK(3), "whitespace", prune="passages").compress(
        ["Revenue grew 5%. Costs fell.", "", "Lease debt rose."], "tax"
    )
    assert len(result.union.pages) == 3
    scorer = RemoteScorer("tei", base_url="https://user:hunter2@tei.example.com")
    assert "hunter2" not in scorer.fingerprint and "user:" not in scorer.fingerprint


def test_errors_survive_pickling() -> None:
    import pickle

    from ctxcompress import DefaultModelUnavailableError, MissingDependencyError, RemoteAuthError

    for error in (
        MissingDependencyError("x", "cpu", "thing"),
        DefaultModelUnavailableError("offline"),
        RemoteAuthError("refused", provider="cohere", status_code=401),
    ):
        copy = pickle.loads(pickle.dumps(error))
        assert type(copy) is type(error) and str(copy) == str(error)
    assert (
        pickle.loads(pickle.dumps(RemoteAuthError("x", provider="p", status_code=403))).status_code
        == 403
    )


def test_bad_scorer_options_are_typed_errors_naming_the_option() -> None:
    from ctxcompress import InvalidInputError

    with pytest.raises(InvalidInputError, match="k1"):
        load_scorer("bm25", k1="1.2")
    with pytest.raises(InvalidInputError, match="b must be"):
        load_scorer("bm25", b=True)
    with pytest.raises(InvalidInputError, match="providers must be"):
        CrossEncoderScorer(CROSS_ENCODER, providers="gpu")  # type: ignore[arg-type]


def test_an_async_only_scorer_serves_acompress_and_compress_says_so() -> None:
    from ctxcompress import InvalidInputError

    class AsyncOnly:
        """Implements only the AsyncScorer protocol."""

        name = "async-only"

        async def ascore(self, criterion, pages):  # type: ignore[no-untyped-def]
            return (await self.ascore_batch([criterion], pages))[0]

        async def ascore_batch(self, criteria, pages):  # type: ignore[no-untyped-def]
            return WordOverlap().score_batch(criteria, pages)

    compressor = Compressor(AsyncOnly(), TopK(1), "whitespace")
    result = anyio.run(compressor.acompress, PAGES, ["methotrexate failed"])
    assert result.selections[0].kept_indices == (0,)
    with pytest.raises(InvalidInputError, match="only an async path"):
        compressor.compress(PAGES, ["methotrexate failed"])
