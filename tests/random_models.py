"""Tiny random BERTs saved as transformers would: for the export and GPU tests (seeded)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

WORDS = (
    "the patient failed methotrexate after six months tuberculosis screening was negative "
    "revenue grew ten percent billing statement copay due hepatitis antigen"
).split()


def save_random_bert(
    root: Path,
    *,
    head: bool,
    seed: int,
    hidden: int = 32,
    heads: int = 2,
    **config: Any,
) -> Path:
    """A 2-layer BERT over :data:`WORDS` in ``root`` (created): with a one-logit
    classification head (a cross-encoder) or without (a bi-encoder's encoder)."""
    import torch
    import transformers

    root.mkdir(parents=True)
    (root / "vocab.txt").write_text(
        "\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *WORDS]) + "\n"
    )
    tokenizer = transformers.BertTokenizerFast(vocab_file=str(root / "vocab.txt"))
    torch.manual_seed(seed)
    settings: dict[str, Any] = {
        "vocab_size": tokenizer.vocab_size,
        "hidden_size": hidden,
        "num_hidden_layers": 2,
        "num_attention_heads": heads,
        "intermediate_size": 2 * hidden,
        "max_position_embeddings": 64,
        **config,
    }
    if head:
        settings["num_labels"] = 1
    model = transformers.BertForSequenceClassification if head else transformers.BertModel
    model(transformers.BertConfig(**settings)).save_pretrained(root)
    tokenizer.save_pretrained(root)
    return root
