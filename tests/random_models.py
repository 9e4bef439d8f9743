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
    """A 2-layer BERT over :data:`WORDS` in ``root`` (created): with a (default) one-logit
    classification head (a cross-encoder) or without (a bi-encoder's encoder)."""
    import torch
    import transformers

    root.mkdir(parents=True)
    (root / "vocab.txt").write_text(
        "\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *WORDS]) + "\n"
    )
    # transformers 5 reads ``vocab`` and ignores ``vocab_file`` (every word became [UNK]);
    # transformers 4 reads ``vocab_file``.
    vocab = str(root / "vocab.txt")
    tokenizer = transformers.BertTokenizerFast(vocab_file=vocab, vocab=vocab)
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
        settings.setdefault("num_labels", 1)
    model = transformers.BertForSequenceClassification if head else transformers.BertModel
    model(transformers.BertConfig(**settings)).save_pretrained(root)
    tokenizer.save_pretrained(root)
    return root


def save_random_xlm_roberta(root: Path, *, seed: int, hidden: int = 32, **config: Any) -> Path:
    """A 2-layer XLM-RoBERTa cross-encoder (one logit) over :data:`WORDS` in ``root``
    (created), laid out as the real ones are: ``<s>``=0, ``<pad>``=1, ``</s>``=2,
    positions numbered from padding_idx + 1, one token type, pairs joined as
    ``<s> q </s></s> p </s>`` and no token_type_ids among the model's inputs."""
    import torch
    import transformers
    from tokenizers import Tokenizer, models, pre_tokenizers, processors

    root.mkdir(parents=True)
    vocab = ["<s>", "<pad>", "</s>", "<unk>", *WORDS, "<mask>"]
    backend = Tokenizer(models.WordLevel({t: i for i, t in enumerate(vocab)}, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    backend.post_processor = processors.RobertaProcessing(("</s>", 2), ("<s>", 0))
    tokenizer = transformers.PreTrainedTokenizerFast(
        tokenizer_object=backend,
        bos_token="<s>",
        eos_token="</s>",
        sep_token="</s>",
        cls_token="<s>",
        pad_token="<pad>",
        unk_token="<unk>",
        mask_token="<mask>",
        model_input_names=["input_ids", "attention_mask"],
    )
    torch.manual_seed(seed)
    settings: dict[str, Any] = {
        "vocab_size": len(vocab),
        "hidden_size": hidden,
        "num_hidden_layers": 2,
        "num_attention_heads": 2,
        "intermediate_size": 2 * hidden,
        "max_position_embeddings": 66,  # 64 tokens + padding_idx + 1
        "type_vocab_size": 1,
        "pad_token_id": 1,
        "bos_token_id": 0,
        "eos_token_id": 2,
        "num_labels": 1,
        **config,
    }
    model = transformers.XLMRobertaForSequenceClassification(
        transformers.XLMRobertaConfig(**settings)
    )
    model.save_pretrained(root)
    tokenizer.save_pretrained(root)
    return root
