"""Generate the tiny golden ONNX fixtures in tests/fixtures/ (needs torch and transformers).

A 2-layer random BERT cross-encoder (hidden 32, fixed seed) with a WordPiece tokenizer
trained here on a few sentences, exported with torch.onnx (dynamic batch and sequence
axes), an int8 dynamic-quantised variant beside it, and PyTorch reference probabilities for
fixed pairs. Tests compare ctxcompress's ONNX scores against those references.

    pip install torch==2.13.0 transformers onnx onnxruntime
    python scripts/make_tiny_models.py
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from onnxruntime.quantization import QuantType, quantize_dynamic
from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors, trainers
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


if __name__ == "__main__":
    main()
