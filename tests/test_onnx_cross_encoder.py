"""The ONNX cross-encoder against PyTorch references recorded by scripts/make_tiny_models.py."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pytest

from ctxcompress import (
    Compressor,
    ExecutionProviderError,
    InvalidInputError,
    ProviderFallbackWarning,
    TopK,
    load_scorer,
)
from ctxcompress._scorers._onnx import CrossEncoderScorer, create_session, resolve_providers

MODEL = Path(__file__).parent / "fixtures" / "tiny-bert-cross-encoder"
REFERENCE = json.loads((MODEL / "reference.json").read_text())


def test_fp32_matches_pytorch() -> None:
    scorer = CrossEncoderScorer(MODEL, providers="cpu")
    scores = scorer.score_pairs([(r["query"], r["passage"]) for r in REFERENCE])
    for got, ref in zip(scores, REFERENCE, strict=True):
        assert abs(got - ref["probability"]) < 1e-4


def test_int8_keeps_the_ranking() -> None:
    pairs = [(r["query"], r["passage"]) for r in REFERENCE]
    scores = CrossEncoderScorer(MODEL, precision="int8", providers="cpu").score_pairs(pairs)
    ref = [r["probability"] for r in REFERENCE]
    assert sorted(range(len(ref)), key=ref.__getitem__) == sorted(
        range(len(scores)), key=scores.__getitem__
    )


def test_batching_under_any_token_budget_gives_the_same_scores() -> None:
    pairs = [(r["query"], r["passage"]) for r in REFERENCE] * 3
    one = CrossEncoderScorer(MODEL, providers="cpu", batch_tokens=1).score_pairs(pairs)
    many = CrossEncoderScorer(MODEL, providers="cpu", batch_tokens=100_000).score_pairs(pairs)
    assert one == pytest.approx(many, abs=1e-6)


def test_long_page_is_windowed_and_flagged() -> None:
    scorer = CrossEncoderScorer(MODEL, providers="cpu")
    long_page = " ".join(r["passage"] for r in REFERENCE) * 3  # far past 64 tokens
    scores = scorer.scores(
        ["Was tuberculosis screening negative?"], ["QuantiFERON negative", long_page]
    )
    [[short, long]] = scores.rows
    assert 0 <= long <= 1 and 0 <= short <= 1
    note = scores.note(0, 1)
    assert note is not None and note.flags == ("windowed",)
    assert note.text is not None and int(note.text.split("scored over ")[1].split()[0]) >= 5
    assert scores.note(0, 0) is None
    # The flags travel in the answer, not on the scorer: nothing is left behind on it.
    assert not hasattr(scorer, "last_windowed")


def test_the_compression_result_flags_a_windowed_page() -> None:
    scorer = CrossEncoderScorer(MODEL, providers="cpu")
    long_page = " ".join(["tuberculosis screening was negative"] * (5 * scorer.max_length // 4))
    result = Compressor(scorer, TopK(2), "whitespace").compress(
        ["QuantiFERON negative", long_page], "Was tuberculosis screening negative?"
    )
    selection = result.selections[0]
    short, long = selection.decisions
    assert short.note is None
    assert long.note is not None and "windows" in long.note
    n_windows = int(long.note.split("scored over ")[1].split()[0])
    assert n_windows >= 5
    kept_long = next(sp for sp in selection.kept if sp.page.index == 1)
    assert kept_long.note == long.note
    assert selection.to_dict()["decisions"][1]["note"] == long.note
    assert long.flags == kept_long.flags == ("windowed",)
    assert selection.to_dict()["decisions"][1]["flags"] == ["windowed"]


def test_model_directory_spec_and_compressor() -> None:
    scorer = load_scorer(str(MODEL), providers="cpu")
    assert (
        isinstance(scorer, CrossEncoderScorer)
        and scorer.name == "onnx:tiny-bert-cross-encoder/fp32"
    )
    result = Compressor(scorer, TopK(1), "whitespace").compress(
        [r["passage"] for r in REFERENCE[:4]], "tuberculosis"
    )
    assert len(result["c0"].kept) == 1


def test_bad_model_directories(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match=r"ctxcompress\.json"):
        CrossEncoderScorer(tmp_path)
    with pytest.raises(InvalidInputError, match="no fp16 model"):
        CrossEncoderScorer(MODEL, precision="fp16")


@pytest.mark.filterwarnings("ignore:Specified provider 'CUDAExecutionProvider'")
def test_cuda_asked_where_unavailable_warns_or_raises() -> None:
    import onnxruntime

    if "CUDAExecutionProvider" in onnxruntime.get_available_providers():
        pytest.skip("this machine has CUDA; the fallback cannot be provoked here")
    assert resolve_providers("auto") == ["CPUExecutionProvider"]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        create_session(MODEL / "model.onnx", "cuda")
    [warning] = [w for w in caught if issubclass(w.category, ProviderFallbackWarning)]
    assert "onnxruntime-gpu" in str(warning.message)
    with pytest.raises(ExecutionProviderError, match="CUDAExecutionProvider"):
        create_session(MODEL / "model.onnx", "cuda", strict=True)


def test_cli_scores_with_a_model_directory(tmp_path: Path) -> None:
    import subprocess
    import sys

    pages = tmp_path / "pages.json"
    pages.write_text(json.dumps([r["passage"] for r in REFERENCE[:2]]))
    args = [
        sys.executable,
        "-m",
        "ctxcompress",
        "score",
        "--scorer",
        str(MODEL),
        "--criterion",
        REFERENCE[0]["query"],
        "--pages",
        str(pages),
        "--precision",
        "int8",
        "--providers",
        "cpu",
    ]
    proc = subprocess.run(args, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["scorer"] == "onnx:tiny-bert-cross-encoder/int8" and len(out["scores"]) == 2
    bm25 = subprocess.run(
        [*args[:5], "bm25", *args[6:]], capture_output=True, text=True, timeout=120
    )
    assert bm25.returncode == 2 and "no option" in bm25.stderr


def test_default_precision_per_device(tmp_path: Path) -> None:
    from ctxcompress._scorers._onnx._session import default_precision

    for name in ("model.onnx", "model_int8.onnx"):
        (tmp_path / name).touch()
    assert default_precision(tmp_path, "cpu", cpu="fp32") == "fp32"
    assert default_precision(tmp_path, "cpu", cpu="int8") == "int8"
    # A GPU asked for, but no fp16 file: fp32, never int8 (its kernels are CPU-only).
    assert default_precision(tmp_path, "cuda", cpu="int8") == "fp32"
    (tmp_path / "model_fp16.onnx").touch()
    assert default_precision(tmp_path, "cuda", cpu="fp32") == "fp16"
    assert default_precision(tmp_path, ["CUDAExecutionProvider"], cpu="fp32") == "fp16"
    assert default_precision(tmp_path, ["CPUExecutionProvider"], cpu="fp32") == "fp32"


def test_io_binding_gives_the_same_scores() -> None:
    # On CUDA it is the default; forced here on the CPU, the same code path runs.
    pairs = [(r["query"], r["passage"]) for r in REFERENCE]
    plain = CrossEncoderScorer(MODEL, providers="cpu", io_binding=False)
    bound = CrossEncoderScorer(MODEL, providers="cpu", io_binding=True)
    assert not plain._runner.io_binding and bound._runner.io_binding
    assert bound.score_pairs(pairs) == pytest.approx(plain.score_pairs(pairs), abs=1e-7)


def test_auto_leaves_out_tensorrt_when_its_libraries_do_not_load(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import onnxruntime

    from ctxcompress._scorers._onnx import _session

    listed = ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"]
    monkeypatch.setattr(onnxruntime, "get_available_providers", lambda: listed)
    monkeypatch.setattr(_session, "tensorrt_loads", lambda: False)
    assert resolve_providers("auto") == ["CUDAExecutionProvider", "CPUExecutionProvider"]
    monkeypatch.setattr(_session, "tensorrt_loads", lambda: True)
    assert resolve_providers("auto") == listed
    # Asked for by name, it is kept: the session's own check then says what is missing.
    assert resolve_providers(listed) == listed


def test_a_tensorrt_fallback_names_tensorrt_not_cuda() -> None:
    from ctxcompress._scorers._onnx._session import _fallback_reason

    available = ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"]
    assert "libnvinfer" in _fallback_reason(["TensorrtExecutionProvider"], available)
    assert "CUDA or cuDNN" in _fallback_reason(["CUDAExecutionProvider"], available)
