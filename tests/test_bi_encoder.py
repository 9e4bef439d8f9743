"""The ONNX bi-encoder: export matches PyTorch, long pages are windowed, embeddings cached."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from ctxcompress import (  # noqa: E402
    BiEncoder,
    BiEncoderScorer,
    Criterion,
    InvalidInputError,
    MemoryCache,
    load_scorer,
)

from .random_models import WORDS, save_random_bert  # noqa: E402

TEXTS = ["tuberculosis screening was negative", "billing statement copay due", "revenue grew"]


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("bi")
    src = save_random_bert(root / "random-bert", head=False, seed=11)
    out = root / "onnx"
    command = ["export", str(src), str(out), "--kind", "bi-encoder", "--int8"]
    proc = subprocess.run(
        [sys.executable, "-m", "ctxcompress", *command],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert "max |embedding difference|" in proc.stdout
    return out


def _reference(src: Path, texts: list[str]) -> np.ndarray:
    tokenizer = transformers.AutoTokenizer.from_pretrained(str(src))
    model = transformers.AutoModel.from_pretrained(str(src)).eval()
    enc = tokenizer(texts, return_tensors="pt", padding=True)
    with torch.no_grad():
        hidden = model(**enc).last_hidden_state
    mask = enc["attention_mask"].unsqueeze(-1).float()
    pooled = (hidden * mask).sum(1) / mask.sum(1)
    return torch.nn.functional.normalize(pooled, dim=1).numpy()


def test_embeddings_match_pytorch_mean_pooling(model_dir: Path) -> None:
    encoder = BiEncoder(model_dir, precision="fp32", providers="cpu")
    got = encoder.embed(TEXTS)
    want = _reference(model_dir.parent / "random-bert", TEXTS)
    assert np.max(np.abs(got - want)) < 1e-5
    assert np.allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)


def test_long_pages_are_embedded_whole_as_overlapping_windows(model_dir: Path) -> None:
    encoder = BiEncoder(model_dir, precision="fp32", providers="cpu", window=16)
    long_page = " ".join(WORDS * 5)  # 100 words, far past one 16-token window
    (windows,) = encoder.embed_windows([long_page])
    assert len(windows) >= 100 // 16 * 2 - 1  # stride 0.5: every token in two windows
    (short,) = encoder.embed_windows([TEXTS[0]])
    assert len(short) == 1


def test_page_embeddings_are_computed_once_across_criteria_calls(model_dir: Path) -> None:
    cache = MemoryCache()
    encoder = BiEncoder(model_dir, precision="fp32", providers="cpu", cache=cache)
    scorer = BiEncoderScorer(encoder, slope=10.0, bias=-5.0)
    first = scorer.score_batch(["tuberculosis screening"], TEXTS)
    misses = cache.stats().misses
    second = scorer.score_batch([Criterion("b", "billing copay")], TEXTS)
    # Only the new criterion's embedding was missing; the pages came from the cache.
    assert cache.stats().misses == misses + 1
    again = scorer.score_batch(["tuberculosis screening"], TEXTS)
    assert again == first and len(second[0]) == 3


def test_a_model_directory_spec_builds_a_bi_encoder_scorer(model_dir: Path) -> None:
    scorer = load_scorer(str(model_dir), precision="int8", providers="cpu")
    assert isinstance(scorer, BiEncoderScorer)
    scores = scorer.score("tuberculosis screening", TEXTS)
    assert len(scores) == 3 and all(0 <= s <= 1 for s in scores)


def _reference_tokens(src: Path, text: str) -> np.ndarray:
    tokenizer = transformers.AutoTokenizer.from_pretrained(str(src))
    model = transformers.AutoModel.from_pretrained(str(src)).eval()
    with torch.no_grad():
        hidden = model(**tokenizer([text], return_tensors="pt")).last_hidden_state[0, 1:-1]
    return torch.nn.functional.normalize(hidden, dim=1).numpy()


def test_token_embeddings_match_pytorch_and_come_from_the_same_run(model_dir: Path) -> None:
    cache, token_cache = MemoryCache(), MemoryCache()
    encoder = BiEncoder(
        model_dir, precision="fp32", providers="cpu", cache=cache, token_cache=token_cache
    )
    assert encoder.has_tokens
    (tokens,) = encoder.embed_tokens([TEXTS[0]])
    want = _reference_tokens(model_dir.parent / "random-bert", TEXTS[0])
    assert tokens.shape == want.shape and tokens.dtype == np.float16
    assert np.max(np.abs(tokens.astype(np.float32) - want)) < 2e-3  # float16 storage
    assert len(encoder.token_ids([TEXTS[0]])[0]) == len(tokens)
    # Embedding the tokens embedded the page: its embedding is now a cache hit.
    misses = cache.stats().misses
    encoder.embed_windows([TEXTS[0]])
    assert cache.stats().misses == misses
    again = encoder.embed_tokens([TEXTS[0]])[0]
    assert np.array_equal(again, tokens) and token_cache.stats().hits == 1


def test_io_binding_returns_the_same_embeddings_and_tokens(model_dir: Path) -> None:
    # I/O binding is the GPU path; forced on a CPU it binds both outputs the same way.
    plain = BiEncoder(model_dir, precision="fp32", providers="cpu")
    bound = BiEncoder(model_dir, precision="fp32", providers="cpu", io_binding=True)
    assert bound._runner.io_binding
    assert np.allclose(bound.embed(TEXTS), plain.embed(TEXTS), atol=1e-6)
    for a, b in zip(bound.embed_tokens(TEXTS), plain.embed_tokens(TEXTS), strict=True):
        assert np.array_equal(a, b)


def test_a_long_page_yields_the_tokens_of_every_window(model_dir: Path) -> None:
    encoder = BiEncoder(model_dir, precision="fp32", providers="cpu", window=16)
    long_page = " ".join(WORDS * 5)
    (tokens,) = encoder.embed_tokens([long_page])
    (ids,) = encoder.token_ids([long_page])
    (windows,) = encoder.embed_windows([long_page])
    text_ids = encoder.tokenizer.encode(long_page, add_special_tokens=False).ids
    # Every window's tokens, overlaps included (each token seen in each of its contexts).
    spans = encoder._windows(text_ids, True)
    assert len(spans) == len(windows) > 1
    assert len(tokens) == len(ids) == sum(len(s) for s in spans) > len(text_ids)
    assert set(ids) == set(text_ids)
    (first,) = encoder.embed_tokens([long_page], windowed=False)
    assert len(first) == 16


def test_a_graph_without_token_output_says_how_to_get_one(model_dir: Path, tmp_path: Path) -> None:
    onnx = pytest.importorskip("onnx")
    older = tmp_path / "older"
    older.mkdir()
    for f in model_dir.iterdir():
        (older / f.name).write_bytes(f.read_bytes())
    graph = onnx.load(str(older / "model.onnx"))
    del graph.graph.output[1]
    onnx.save(graph, str(older / "model.onnx"))
    encoder = BiEncoder(older, precision="fp32", providers="cpu")
    assert not encoder.has_tokens
    assert encoder.embed(TEXTS).shape[0] == 3  # embeddings still work
    with pytest.raises(InvalidInputError, match="ctxcompress export"):
        encoder.embed_tokens(TEXTS)
