"""`ctxcompress export` on a fresh random transformers BERT: ONNX scores match PyTorch."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
onnx = pytest.importorskip("onnx")

from ctxcompress._scorers._onnx import CrossEncoderScorer  # noqa: E402

from .random_models import save_random_bert  # noqa: E402

PAIRS = [
    ("was tuberculosis screening negative", "tuberculosis screening was negative"),
    ("the patient failed methotrexate", "billing statement copay due"),
    ("revenue grew", "revenue grew ten percent after six months"),
]


@pytest.fixture(scope="module")
def saved_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_random_bert(tmp_path_factory.mktemp("hf") / "random-bert", head=True, seed=7)


def reference_logits(src: Path) -> np.ndarray:
    tokenizer = transformers.AutoTokenizer.from_pretrained(str(src))
    model = transformers.AutoModelForSequenceClassification.from_pretrained(str(src)).eval()
    enc = tokenizer([q for q, _ in PAIRS], [p for _, p in PAIRS], return_tensors="pt", padding=True)
    with torch.no_grad():
        return model(**enc).logits[:, 0].numpy()


def test_export_then_score_matches_transformers(saved_model: Path, tmp_path: Path) -> None:
    out = tmp_path / "onnx-model"
    proc = subprocess.run(
        [sys.executable, "-m", "ctxcompress", "export", str(saved_model), str(out), "--int8"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert "max |logit difference|" in proc.stdout
    assert {"model.onnx", "model_int8.onnx", "tokenizer.json", "ctxcompress.json"} <= {
        p.name for p in out.iterdir()
    }
    assert json.loads((out / "ctxcompress.json").read_text())["kind"] == "cross-encoder"
    scores = CrossEncoderScorer(out, providers="cpu").score_pairs(PAIRS)
    logits = np.log(np.array(scores) / (1 - np.array(scores)))  # back from sigmoid
    assert np.max(np.abs(logits - reference_logits(saved_model))) < 1e-4


def test_export_refuses_a_non_empty_target(saved_model: Path, tmp_path: Path) -> None:
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "file").write_text("x")
    proc = subprocess.run(
        [sys.executable, "-m", "ctxcompress", "export", str(saved_model), str(tmp_path / "taken")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 2 and "not empty" in proc.stderr


FUSED = {"bert", "roberta", "xlm-roberta", "electra"}
ARCHITECTURES = {
    "bert": ("BertConfig", "BertForSequenceClassification", {}),
    "roberta": ("RobertaConfig", "RobertaForSequenceClassification", {"pad_token_id": 0}),
    "xlm-roberta": ("XLMRobertaConfig", "XLMRobertaForSequenceClassification", {"pad_token_id": 0}),
    "electra": ("ElectraConfig", "ElectraForSequenceClassification", {"embedding_size": 32}),
    "deberta-v2": ("DebertaV2Config", "DebertaV2ForSequenceClassification", {}),
    "modernbert": (
        "ModernBertConfig",
        "ModernBertForSequenceClassification",
        {"pad_token_id": 0, "global_attn_every_n_layers": 1, "local_attention": 16},
    ),
}


@pytest.mark.parametrize("arch", sorted(ARCHITECTURES))
def test_bert_family_architectures_export_and_match_transformers(
    arch: str, saved_model: Path, tmp_path: Path
) -> None:
    from ctxcompress._scorers._onnx._export import export_cross_encoder

    config_name, model_name, extra = ARCHITECTURES[arch]
    tokenizer = transformers.AutoTokenizer.from_pretrained(str(saved_model))
    torch.manual_seed(3)
    config = getattr(transformers, config_name)(
        vocab_size=tokenizer.vocab_size,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=80,
        num_labels=1,
        **extra,
    )
    model = getattr(transformers, model_name)(config).eval()
    src = tmp_path / arch
    model.save_pretrained(src)
    tokenizer.save_pretrained(src)
    out = tmp_path / f"{arch}-onnx"
    report = export_cross_encoder(src, out)
    assert report.max_abs_logit_diff < 1e-4
    ops = {n.op_type for n in onnx.load(str(out / "model.onnx")).graph.node}
    if arch in FUSED:
        # Fused, and the last layer cut down to the first position (MultiHeadAttention).
        assert {"Attention", "MultiHeadAttention"} <= ops
    scorer = CrossEncoderScorer(out, providers="cpu")
    enc = tokenizer([q for q, _ in PAIRS], [p for _, p in PAIRS], return_tensors="pt", padding=True)
    declared = set(scorer.input_names)
    reference = transformers.AutoModelForSequenceClassification.from_pretrained(str(src)).eval()
    with torch.no_grad():
        logits = reference(**{k: v for k, v in enc.items() if k in declared}).logits[:, 0]
    want = torch.sigmoid(logits).numpy()
    got = np.array(scorer.score_pairs(PAIRS))
    assert np.max(np.abs(got - want)) < 1e-4
    # Criteria × pages are joined from once-tokenised texts: the same pairs, the same scores.
    assert scorer._template is not None
    rows = scorer.score_batch([q for q, _ in PAIRS], [p for _, p in PAIRS])
    assert np.allclose(np.diag(rows), got, atol=1e-6)
