"""The ONNX decoder reranker against PyTorch references (scripts/make_tiny_models.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ctxcompress import Compressor, Criterion, DecoderRerankerScorer, TopK, load_scorer
from ctxcompress._scorers._onnx._description import ModelDescription

MODEL = Path(__file__).parent / "fixtures" / "tiny-qwen3-reranker"
REFERENCE = json.loads((MODEL / "reference.json").read_text())
PAIRS = [(r["query"], r["passage"]) for r in REFERENCE]


def _scores(scorer: DecoderRerankerScorer) -> list[float]:
    # One call per pair: each criterion is its own query.
    return [scorer.score(q, [p])[0] for q, p in PAIRS]


def test_fp32_matches_pytorch() -> None:
    scorer = load_scorer(str(MODEL), providers="cpu")
    assert isinstance(scorer, DecoderRerankerScorer)
    for got, ref in zip(_scores(scorer), REFERENCE, strict=True):
        assert abs(got - ref["probability"]) < 1e-4


def test_int8_keeps_the_ranking() -> None:
    scores = _scores(DecoderRerankerScorer(MODEL, precision="int8", providers="cpu"))
    ref = [r["probability"] for r in REFERENCE]
    assert sorted(range(len(ref)), key=ref.__getitem__) == sorted(
        range(len(scores)), key=scores.__getitem__
    )


def test_left_padded_batches_score_like_single_prompts() -> None:
    scorer = DecoderRerankerScorer(MODEL, providers="cpu", batch_tokens=100_000)
    batched = scorer.score_pairs([(scorer._query(Criterion("q", q)), p) for q, p in PAIRS])
    alone = _scores(DecoderRerankerScorer(MODEL, providers="cpu", batch_tokens=1))
    assert batched == pytest.approx(alone, abs=1e-5)


def test_the_instruction_fills_the_template_slot() -> None:
    scorer = DecoderRerankerScorer(MODEL, providers="cpu")
    query, page = PAIRS[0]
    plain = scorer._query(Criterion("q", query))
    assert scorer.description.default_instruction in plain
    instructed = scorer._query(Criterion("q", query, instruction="Only lab results count."))
    assert "<Instruct>: Only lab results count." in instructed
    assert scorer.description.default_instruction not in instructed
    rows = scorer.score_batch(
        [Criterion("a", query), Criterion("b", query, instruction="Only lab results count.")],
        [page],
    )
    assert rows[0] != rows[1]


def test_a_long_page_is_windowed_and_flagged() -> None:
    scorer = DecoderRerankerScorer(MODEL, providers="cpu")
    long_page = " ".join(p for _, p in PAIRS) * 12  # several times the 384-token window
    result = Compressor(scorer, TopK(2), "whitespace").compress(
        [PAIRS[0][1], long_page], PAIRS[0][0]
    )
    short, long = result.selections[0].decisions
    assert short.note is None
    assert long.note is not None and "windows" in long.note


def test_single_token_scoring_with_a_scale(tmp_path: Path) -> None:
    # zerank-style: sigmoid(logit(yes) / 5), no "no" token.
    for f in MODEL.iterdir():
        (tmp_path / f.name).write_bytes(f.read_bytes())
    description = json.loads((tmp_path / "ctxcompress.json").read_text())
    description |= {"no_token": None, "logit_scale": 5.0, "activation": "sigmoid"}
    (tmp_path / "ctxcompress.json").write_text(json.dumps(description))
    scorer = DecoderRerankerScorer(tmp_path, providers="cpu")
    assert all(0.0 < s < 1.0 for s in _scores(scorer))


def test_descriptions_are_checked() -> None:
    with pytest.raises(ValueError, match="document"):
        ModelDescription(kind="decoder-reranker", prompt_template="{query}", yes_token="yes")
    with pytest.raises(ValueError, match="yes_token"):
        ModelDescription(kind="decoder-reranker", prompt_template="{query} {document}")


def test_export_command_for_a_saved_decoder_matches_transformers(tmp_path: Path) -> None:
    import subprocess
    import sys

    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    from tokenizers import Tokenizer

    src = tmp_path / "saved"
    tokenizer = transformers.PreTrainedTokenizerFast(
        tokenizer_object=Tokenizer.from_file(str(MODEL / "tokenizer.json")),
        eos_token="<|endoftext|>",
        pad_token="<|endoftext|>",
    )
    torch.manual_seed(5)
    config = transformers.Qwen3Config(
        vocab_size=tokenizer.vocab_size + len(tokenizer.get_added_vocab()),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        head_dim=8,
        max_position_embeddings=384,
    )
    model = transformers.Qwen3ForCausalLM(config).eval()
    model.save_pretrained(src)
    tokenizer.save_pretrained(src)
    out = tmp_path / "onnx"
    command = ["export", str(src), str(out), "--kind", "decoder-reranker", "--int8"]
    proc = subprocess.run(
        [sys.executable, "-m", "ctxcompress", *command], capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    scorer = DecoderRerankerScorer(out, providers="cpu")
    query, page = PAIRS[2]
    prompt = scorer._query(Criterion("q", query)) + page + scorer._tail
    enc = tokenizer([prompt], return_tensors="pt", add_special_tokens=False)
    with torch.no_grad():
        last = model(**enc).logits[0, -1]
    yes, no = (tokenizer.convert_tokens_to_ids(t) for t in ("yes", "no"))
    want = torch.sigmoid(last[yes] - last[no]).item()
    assert abs(scorer.score(query, [page])[0] - want) < 1e-4
