"""Generate the tiny golden ONNX fixtures in tests/fixtures/ (needs torch and transformers).

* tiny-bert-cross-encoder: a 2-layer random BERT cross-encoder (hidden 32, fixed seed) with
  a WordPiece tokenizer trained here on a few sentences, exported with torch.onnx (dynamic
  batch and sequence axes), an int8 dynamic-quantised variant beside it;
* tiny-qwen3-reranker: a 2-layer Qwen3-style decoder reranker (hidden 32, fixed seed) with
  a byte-level BPE trained here (with the chat special tokens and single "yes"/"no"
  tokens), saved with save_pretrained and exported with ctxcompress's own
  export_decoder_reranker (the Qwen3-Reranker prompt), int8 beside fp32.

Each gets PyTorch reference probabilities for fixed pairs; tests compare ctxcompress's ONNX
scores against them. Both models get a few hundred optimiser steps towards distinct
target logits on the reference pairs, so that their scores depend on the input enough for
int8 rounding not to decide the ranking.

    pip install torch==2.13.0 transformers onnx onnxruntime
    python scripts/make_tiny_models.py [all | cross-encoder | decoder]
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from onnxruntime.quantization import QuantType, quantize_dynamic
from tokenizers import (
    Tokenizer,
    decoders,
    models,
    normalizers,
    pre_tokenizers,
    processors,
    trainers,
)
from transformers import BertConfig, BertForSequenceClassification

OUT = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "tiny-bert-cross-encoder"
MAX_LENGTH = 64
CORPUS = [
    "Was tuberculosis screening negative within the last twelve months?",
    "QuantiFERON-TB Gold Plus negative on the second of April.",
    "Methotrexate twenty milligrams weekly failed after six months of therapy.",
    "Hepatitis B surface antigen non-reactive; immune by vaccination.",
    "Billing statement: office visit copay due, payment options online.",
    "Is a failed trial of first-line therapy documented in the record?",
    "The patient has seropositive erosive rheumatoid arthritis with high disease activity.",
]
PAIRS = [
    (CORPUS[0], CORPUS[1]),
    (CORPUS[0], CORPUS[4]),
    (CORPUS[5], CORPUS[2]),
    (CORPUS[5], CORPUS[3]),
    ("metformin", "unknown words like zebra xylophone"),
    (CORPUS[6], " ".join(CORPUS)),
]


def tokenizer() -> Tokenizer:
    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    special = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    tok.train_from_iterator(
        CORPUS * 3, trainers.WordPieceTrainer(vocab_size=300, special_tokens=special)
    )
    tok.post_processor = processors.BertProcessing(
        ("[SEP]", tok.token_to_id("[SEP]")), ("[CLS]", tok.token_to_id("[CLS]"))
    )
    return tok


def main() -> None:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "which", nargs="?", choices=["all", "cross-encoder", "decoder"], default="all"
    )
    which = parser.parse_args().which
    if which in ("all", "cross-encoder"):
        make_cross_encoder()
    if which in ("all", "decoder"):
        make_decoder_reranker()


def make_cross_encoder() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    tok = tokenizer()
    tok.save(str(OUT / "tokenizer.json"))
    torch.manual_seed(1234)
    config = BertConfig(
        vocab_size=tok.get_vocab_size(),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=MAX_LENGTH,
        num_labels=1,
    )
    model = BertForSequenceClassification(config).eval()
    # A random BERT barely depends on its input (logits within ~1e-3 of each other), so
    # int8 rounding would decide the ranking. A few hundred steps towards distinct target
    # logits on the reference pairs give it real input dependence; the weights stay tiny.
    tok.enable_truncation(MAX_LENGTH, strategy="only_second")
    encs = [tok.encode(q, p) for q, p in PAIRS]
    tok.no_truncation()
    targets = torch.linspace(-3.0, 3.0, len(PAIRS))
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    model.train()
    for _ in range(300):
        optimizer.zero_grad()
        logits = torch.cat(
            [
                model(
                    torch.tensor([e.ids]),
                    torch.tensor([e.attention_mask]),
                    torch.tensor([e.type_ids]),
                ).logits[:, 0]
                for e in encs
            ]
        )
        torch.nn.functional.mse_loss(logits, targets).backward()
        optimizer.step()
    model.eval()
    ids = torch.randint(5, tok.get_vocab_size(), (2, 16))
    axes = {
        "input_ids": {0: "batch", 1: "sequence"},
        "attention_mask": {0: "batch", 1: "sequence"},
        "token_type_ids": {0: "batch", 1: "sequence"},
        "logits": {0: "batch"},
    }
    torch.onnx.export(
        model,
        (ids, torch.ones_like(ids), torch.zeros_like(ids)),
        str(OUT / "model.onnx"),
        input_names=["input_ids", "attention_mask", "token_type_ids"],
        output_names=["logits"],
        dynamic_axes=axes,
        opset_version=17,
        dynamo=False,
    )
    quantize_dynamic(
        str(OUT / "model.onnx"),
        str(OUT / "model_int8.onnx"),
        weight_type=QuantType.QInt8,
        per_channel=True,
    )
    (OUT / "ctxcompress.json").write_text(
        json.dumps(
            {
                "kind": "cross-encoder",
                "activation": "sigmoid",
                "max_length": MAX_LENGTH,
                "input_names": ["input_ids", "attention_mask", "token_type_ids"],
                "license": "Apache-2.0",
                "source": "random weights from scripts/make_tiny_models.py (seed 1234)",
            },
            indent=2,
        )
        + "\n"
    )
    tok.enable_truncation(MAX_LENGTH, strategy="only_second")
    reference = []
    with torch.no_grad():
        for query, passage in PAIRS:
            enc = tok.encode(query, passage)
            logit = (
                model(
                    torch.tensor([enc.ids]),
                    torch.tensor([enc.attention_mask]),
                    torch.tensor([enc.type_ids]),
                )
                .logits[0, 0]
                .item()
            )
            reference.append(
                {
                    "query": query,
                    "passage": passage,
                    "logit": logit,
                    "probability": float(torch.sigmoid(torch.tensor(logit))),
                }
            )
    (OUT / "reference.json").write_text(json.dumps(reference, indent=2) + "\n")
    print(f"wrote {OUT}")


DECODER_OUT = OUT.parent / "tiny-qwen3-reranker"
DECODER_MAX_LENGTH = 384


def decoder_tokenizer() -> Tokenizer:
    from ctxcompress._scorers._onnx._decoder import (
        QWEN3_RERANKER_INSTRUCTION,
        QWEN3_RERANKER_TEMPLATE,
    )

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    special = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    text = [QWEN3_RERANKER_TEMPLATE, QWEN3_RERANKER_INSTRUCTION, *CORPUS]
    tok.train_from_iterator(
        text * 5,
        trainers.BpeTrainer(
            vocab_size=600,
            special_tokens=special,
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        ),
    )
    tok.add_tokens(["yes", "no"])  # the scoring tokens: one token each
    return tok


def make_decoder_reranker() -> None:
    import tempfile

    from transformers import PreTrainedTokenizerFast, Qwen3Config, Qwen3ForCausalLM

    from ctxcompress._scorers._onnx._decoder import (
        QWEN3_RERANKER_INSTRUCTION,
        QWEN3_RERANKER_TEMPLATE,
    )
    from ctxcompress._scorers._onnx._export import export_decoder_reranker

    tok = decoder_tokenizer()
    hf_tok = PreTrainedTokenizerFast(
        tokenizer_object=tok, eos_token="<|endoftext|>", pad_token="<|endoftext|>"
    )
    hf_tok.padding_side = "left"
    torch.manual_seed(4321)
    config = Qwen3Config(
        vocab_size=tok.get_vocab_size(),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        head_dim=8,
        max_position_embeddings=DECODER_MAX_LENGTH,
        tie_word_embeddings=True,
    )
    model = Qwen3ForCausalLM(config)
    yes, no = tok.token_to_id("yes"), tok.token_to_id("no")

    def prompts(pairs: list[tuple[str, str]]) -> list[str]:
        return [
            QWEN3_RERANKER_TEMPLATE.replace("{instruction}", QWEN3_RERANKER_INSTRUCTION)
            .replace("{query}", q)
            .replace("{document}", p)
            for q, p in pairs
        ]

    def yes_minus_no(pairs: list[tuple[str, str]]) -> torch.Tensor:
        enc = hf_tok(prompts(pairs), return_tensors="pt", padding=True, add_special_tokens=False)
        last = model(**enc, use_cache=False).logits[:, -1, :]
        return last[:, yes] - last[:, no]

    targets = torch.linspace(-3.0, 3.0, len(PAIRS))
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    model.train()
    for _ in range(200):
        optimizer.zero_grad()
        torch.nn.functional.mse_loss(yes_minus_no(PAIRS), targets).backward()
        optimizer.step()
    model.eval()
    with torch.no_grad():
        margins = yes_minus_no(PAIRS).tolist()
    with tempfile.TemporaryDirectory() as tmp:
        model.save_pretrained(tmp)
        hf_tok.save_pretrained(tmp)
        if DECODER_OUT.exists():
            for f in DECODER_OUT.iterdir():
                f.unlink()
            DECODER_OUT.rmdir()
        report = export_decoder_reranker(tmp, DECODER_OUT, int8=True, max_length=DECODER_MAX_LENGTH)
    description = json.loads((DECODER_OUT / "ctxcompress.json").read_text())
    description |= {
        "license": "Apache-2.0",
        "source": "random weights from scripts/make_tiny_models.py (seed 4321)",
    }
    (DECODER_OUT / "ctxcompress.json").write_text(json.dumps(description, indent=2) + "\n")
    reference = [
        {
            "query": q,
            "passage": p,
            "yes_minus_no": m,
            "probability": float(torch.sigmoid(torch.tensor(m))),
        }
        for (q, p), m in zip(PAIRS, margins, strict=True)
    ]
    (DECODER_OUT / "reference.json").write_text(json.dumps(reference, indent=2) + "\n")
    print(f"wrote {DECODER_OUT} (export check: {report.max_abs_logit_diff:.2g})")


if __name__ == "__main__":
    main()
