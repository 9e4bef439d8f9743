"""The CUDA path, where onnxruntime-gpu and a GPU are there (skipped elsewhere, CI included).

On the CUDA execution provider, with I/O binding (the default there), the ONNX scorers must
give what the CPU gives: the committed tiny cross-encoder and decoder reranker against their
PyTorch references; a freshly exported cross-encoder (fused, last layer pruned to
``MultiHeadAttention``, fp32 and fp16) and bi-encoder (two bound outputs: pooled and
token embeddings) against the same graphs on the CPU. docs/benchmarks.md says when these
last ran on a GPU.
"""

from __future__ import annotations

import json
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest

ort = pytest.importorskip("onnxruntime")
if "CUDAExecutionProvider" not in ort.get_available_providers():
    pytest.skip("no CUDA execution provider (onnxruntime-gpu)", allow_module_level=True)
torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
onnx = pytest.importorskip("onnx")

from ctxcompress import (  # noqa: E402
    BiEncoder,
    CrossEncoderScorer,
    DecoderRerankerScorer,
    ProviderFallbackWarning,
)
from ctxcompress._scorers._onnx._cross_encoder import CPU_BATCH_TOKENS, GPU_BATCH_TOKENS  # noqa: E402
from ctxcompress._scorers._onnx._export import export_bi_encoder, export_cross_encoder  # noqa: E402

from .random_models import WORDS, save_random_bert  # noqa: E402

FIXTURES = Path(__file__).parent / "fixtures"
PAIRS = [
    ("was tuberculosis screening negative", "tuberculosis screening was negative"),
    ("the patient failed methotrexate", "billing statement copay due"),
    ("revenue grew", "revenue grew ten percent after six months"),
    ("hepatitis antigen", "the patient failed methotrexate after six months"),
    ("billing statement", " ".join(WORDS * 3)),
]


def _on_cuda(scorer: CrossEncoderScorer | BiEncoder) -> None:
    assert scorer.session.get_providers()[0] == "CUDAExecutionProvider"
    assert scorer._runner.io_binding and scorer._runner.device == "cuda"


def _ranking(values: list[float]) -> list[int]:
    return sorted(range(len(values)), key=values.__getitem__)


def _exported(root: Path, head: bool) -> Path:
    src = save_random_bert(root / "src", head=head, seed=5, hidden=64, heads=4)
    export = export_cross_encoder if head else export_bi_encoder
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        export(src, root / "onnx", fp16=True)
    return root / "onnx"


@pytest.fixture(scope="module")
def cross_encoder_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _exported(tmp_path_factory.mktemp("gpu-ce"), head=True)


@pytest.fixture(scope="module")
def bi_encoder_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _exported(tmp_path_factory.mktemp("gpu-bi"), head=False)


@pytest.mark.parametrize("fixture", ["tiny-bert-cross-encoder", "tiny-qwen3-reranker"])
def test_committed_fixtures_match_pytorch_on_cuda(fixture: str) -> None:
    reference = json.loads((FIXTURES / fixture / "reference.json").read_text())
    cls = CrossEncoderScorer if fixture.startswith("tiny-bert") else DecoderRerankerScorer
    scorer = cls(FIXTURES / fixture, precision="fp32", providers="cuda", strict=True)
    _on_cuda(scorer)
    got = [scorer.score(r["query"], [r["passage"]])[0] for r in reference]
    for value, ref in zip(got, reference, strict=True):
        # TF32 matrix products on the GPU: looser than the CPU's 1e-4.
        assert abs(value - ref["probability"]) < 2e-3


def test_pruned_fused_graph_runs_on_cuda_as_on_the_cpu(cross_encoder_dir: Path) -> None:
    graph = onnx.load(str(cross_encoder_dir / "model.onnx"))
    assert "MultiHeadAttention" in {node.op_type for node in graph.graph.node}
    cpu = CrossEncoderScorer(cross_encoder_dir, precision="fp32", providers="cpu")
    gpu = CrossEncoderScorer(cross_encoder_dir, precision="fp32", providers="cuda", strict=True)
    _on_cuda(gpu)
    assert (gpu.batch_tokens, cpu.batch_tokens) == (GPU_BATCH_TOKENS, CPU_BATCH_TOKENS)
    want, got = cpu.score_pairs(PAIRS), gpu.score_pairs(PAIRS)
    assert np.allclose(got, want, atol=2e-3)
    assert _ranking(got) == _ranking(want)


def test_fp16_on_cuda_keeps_the_fp32_ranking(cross_encoder_dir: Path) -> None:
    cpu = CrossEncoderScorer(cross_encoder_dir, precision="fp32", providers="cpu")
    fp16 = CrossEncoderScorer(cross_encoder_dir, precision="fp16", providers="cuda", strict=True)
    _on_cuda(fp16)
    want, got = cpu.score_pairs(PAIRS), fp16.score_pairs(PAIRS)
    assert np.allclose(got, want, atol=1e-2)
    assert _ranking(got) == _ranking(want)


def test_criteria_by_pages_with_a_windowed_page_score_on_cuda_as_on_the_cpu(
    cross_encoder_dir: Path,
) -> None:
    criteria = [q for q, _ in PAIRS]
    pages = [p for _, p in PAIRS] + [" ".join(WORDS * 12)]  # the last is past 64 tokens
    cpu = CrossEncoderScorer(cross_encoder_dir, precision="fp32", providers="cpu")
    gpu = CrossEncoderScorer(cross_encoder_dir, precision="fp32", providers="cuda", strict=True)
    want, got = cpu.scores(criteria, pages), gpu.scores(criteria, pages)
    assert got.notes and got.notes == want.notes
    assert np.allclose(got.matrix, want.matrix, atol=2e-3)


def test_gpu_default_precision_is_fp16_and_batches_are_split_alike(
    cross_encoder_dir: Path,
) -> None:
    # A small token budget splits the pairs over several runs; the scores do not change.
    one = CrossEncoderScorer(cross_encoder_dir, providers="cuda", batch_tokens=100_000)
    many = CrossEncoderScorer(cross_encoder_dir, providers="cuda", batch_tokens=64)
    assert one.precision == "fp16"
    assert np.allclose(one.score_pairs(PAIRS), many.score_pairs(PAIRS), atol=1e-3)


@pytest.mark.parametrize("precision", ["fp32", "fp16"])
def test_bi_encoder_binds_both_outputs_on_cuda(bi_encoder_dir: Path, precision: str) -> None:
    texts = [" ".join(WORDS[i : i + 6]) for i in range(0, len(WORDS), 3)]
    cpu = BiEncoder(bi_encoder_dir, precision="fp32", providers="cpu")
    gpu = BiEncoder(bi_encoder_dir, precision=precision, providers="cuda", strict=True)  # type: ignore[arg-type]
    _on_cuda(gpu)
    tolerance = 2e-3 if precision == "fp32" else 2e-2
    assert np.allclose(gpu.embed(texts), cpu.embed(texts), atol=tolerance)
    for a, b in zip(gpu.embed_tokens(texts), cpu.embed_tokens(texts), strict=True):
        assert a.shape == b.shape
        assert np.allclose(a.astype(np.float32), b.astype(np.float32), atol=tolerance)


def test_auto_runs_on_the_gpu_without_a_fallback_warning(cross_encoder_dir: Path) -> None:
    # onnxruntime-gpu lists TensorRT even where its libraries are missing; "auto" must not
    # then ask for it and warn about a fallback.
    with warnings.catch_warnings():
        warnings.simplefilter("error", ProviderFallbackWarning)
        scorer = CrossEncoderScorer(cross_encoder_dir, providers="auto")
    assert "CUDAExecutionProvider" in scorer.session.get_providers()


def test_a_directory_without_fp16_runs_fp32_on_the_gpu_not_int8(
    bi_encoder_dir: Path, tmp_path: Path
) -> None:
    # The embedded MiniLM's export has fp32 and int8 only; int8 has no CUDA kernels.
    plain = tmp_path / "no-fp16"
    shutil.copytree(bi_encoder_dir, plain, ignore=shutil.ignore_patterns("model_fp16.onnx"))
    (plain / "model_int8.onnx").write_bytes((bi_encoder_dir / "model.onnx").read_bytes())
    assert BiEncoder(plain, providers="cuda").precision == "fp32"
