"""What the builder reads from a Hugging Face model directory besides the weights:
``config.json`` (the architecture and its sizes) and, for bi-encoders, the
sentence-transformers files (``modules.json``, ``1_Pooling/config.json``,
``sentence_bert_config.json``) that say how token embeddings become one embedding.

Everything the builder cannot reproduce exactly is refused here, before any graph is
built, with an error that names what was found and points to ``ctxcompress export``
(the torch exporter), which handles any architecture transformers loads.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from ...._exceptions import InvalidInputError, UnsupportedModelError

__all__ = [
    "Kind",
    "ModelSpec",
    "Pooling",
    "UnsupportedModelError",
    "read_pooling",
    "read_spec",
]

Kind = Literal["cross-encoder", "bi-encoder"]
#: The two layouts built: BERT (learned absolute positions from 0, token types as an
#: input) and RoBERTa (positions counted from padding_idx + 1, one token type).
Family = Literal["bert", "roberta"]
FAMILIES: dict[str, Family] = {"bert": "bert", "roberta": "roberta", "xlm-roberta": "roberta"}
# The sequence-classification class of each model type (the cross-encoder head built).
HEADS = {
    "bert": "BertForSequenceClassification",
    "roberta": "RobertaForSequenceClassification",
    "xlm-roberta": "XLMRobertaForSequenceClassification",
}
# hidden_act values and the function each one is (transformers' ACT2FN).
ACTIVATIONS = {
    "gelu": "gelu",
    "gelu_new": "gelu_tanh",
    "gelu_pytorch_tanh": "gelu_tanh",
    "gelu_fast": "gelu_tanh",
    "relu": "relu",
}


class _Config(BaseModel):
    """The fields of config.json the builder reads (others are ignored)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    model_type: str | None = None
    architectures: list[str] | None = None
    hidden_size: int
    num_attention_heads: int
    num_hidden_layers: int
    intermediate_size: int
    hidden_act: str = "gelu"
    layer_norm_eps: float = 1e-12
    vocab_size: int
    max_position_embeddings: int = 512
    type_vocab_size: int = 2
    pad_token_id: int | None = 0
    position_embedding_type: str = "absolute"
    is_decoder: bool = False
    add_cross_attention: bool = False
    num_labels: int | None = None
    id2label: dict[str, str] | None = None
    license: str | None = None


@dataclass(frozen=True)
class ModelSpec:
    """One encoder's shape, as the graph builder needs it."""

    kind: Kind
    model_type: str
    architecture: str
    family: Family
    hidden: int
    heads: int
    layers: int
    intermediate: int
    activation: str  # "gelu", "gelu_tanh" or "relu"
    eps: float
    vocab: int
    max_positions: int
    type_vocab: int
    pad_id: int
    num_labels: int
    license: str | None

    @property
    def usable_positions(self) -> int:
        """Tokens a sequence may hold: RoBERTa-style models spend pad_id + 1 positions
        on numbering from padding_idx + 1 (514 positions -> 512 tokens)."""
        if self.family == "roberta":
            return self.max_positions - (self.pad_id + 1)
        return self.max_positions


def _unsupported(src: Path, what: str) -> UnsupportedModelError:
    return UnsupportedModelError(
        f"{src}: {what}; the torch-free builder handles BERT (incl. MiniLM), RoBERTa and "
        "XLM-RoBERTa encoders. Export it with torch instead: `ctxcompress export "
        f"{src} OUT_DIR` (pip install 'ctxcompress[export]')"
    )


def _read_json(file: Path) -> Any:
    try:
        return json.loads(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidInputError(f"cannot read {file}: {exc}") from exc


def read_spec(src: Path, kind: Kind | None) -> ModelSpec:
    """The encoder spec of ``src``; ``kind`` None takes it from the architecture (a
    ``*ForSequenceClassification`` is a cross-encoder, anything else a bi-encoder)."""
    file = src / "config.json"
    if not file.is_file():
        raise InvalidInputError(f"{src} has no config.json (not a Hugging Face model directory)")
    raw = _read_json(file)
    if not isinstance(raw, dict):
        raise InvalidInputError(f"{file}: expected a JSON object")
    architecture = (raw.get("architectures") or ["?"])[0]
    model_type = raw.get("model_type")
    if model_type not in FAMILIES:
        raise _unsupported(src, f"architecture {architecture} (model_type {model_type!r})")
    try:
        config = _Config.model_validate(raw)
    except ValidationError as exc:
        raise InvalidInputError(f"{file}: invalid config: {exc}") from exc
    if kind is None:
        kind = (
            "cross-encoder" if architecture.endswith("ForSequenceClassification") else "bi-encoder"
        )
    if kind == "cross-encoder" and architecture != HEADS[model_type]:
        raise _unsupported(
            src,
            f"architecture {architecture} is not a cross-encoder head this builder knows "
            f"(expected {HEADS[model_type]})",
        )
    if config.position_embedding_type != "absolute":
        raise _unsupported(
            src, f"position_embedding_type {config.position_embedding_type!r} (not 'absolute')"
        )
    if config.is_decoder or config.add_cross_attention:
        raise _unsupported(src, f"{architecture} is configured as a decoder")
    if config.hidden_act not in ACTIVATIONS:
        raise _unsupported(src, f"hidden_act {config.hidden_act!r}")
    if config.hidden_size % config.num_attention_heads:
        raise InvalidInputError(
            f"{file}: hidden_size {config.hidden_size} is not a multiple of "
            f"num_attention_heads {config.num_attention_heads}"
        )
    family = FAMILIES[model_type]
    return ModelSpec(
        kind=kind,
        model_type=model_type,
        architecture=architecture,
        family=family,
        hidden=config.hidden_size,
        heads=config.num_attention_heads,
        layers=config.num_hidden_layers,
        intermediate=config.intermediate_size,
        activation=ACTIVATIONS[config.hidden_act],
        eps=config.layer_norm_eps,
        vocab=config.vocab_size,
        max_positions=config.max_position_embeddings,
        type_vocab=config.type_vocab_size,
        pad_id=config.pad_token_id if config.pad_token_id is not None else 1,
        num_labels=_num_labels(config),
        license=config.license,
    )


def _num_labels(config: _Config) -> int:
    # transformers' rule: id2label when present decides, else num_labels, else 2.
    if config.id2label:
        return len(config.id2label)
    return config.num_labels if config.num_labels is not None else 2


PoolingMode = Literal["mean", "cls", "max", "mean_sqrt_len"]
_POOLING_KEYS: dict[str, PoolingMode] = {
    "pooling_mode_mean_tokens": "mean",
    "pooling_mode_cls_token": "cls",
    "pooling_mode_max_tokens": "max",
    "pooling_mode_mean_sqrt_len_tokens": "mean_sqrt_len",
}
_UNSUPPORTED_POOLING = ("pooling_mode_weightedmean_tokens", "pooling_mode_lasttoken")


@dataclass(frozen=True)
class Pooling:
    """How a bi-encoder turns its token embeddings into one embedding."""

    mode: PoolingMode = "mean"
    max_length: int | None = None  # sentence_bert_config.json's max_seq_length


def read_pooling(src: Path) -> Pooling:
    """The sentence-transformers pipeline of ``src``: the pooling ``modules.json``'s
    Pooling module names (mean when there is none). A Normalize module is accepted (the
    graph always normalises, see ``_heads.pooled``); any other (Dense, ...) is refused:
    the builder would drop it and the embeddings would be wrong."""
    modules_file = src / "modules.json"
    pooling_dir = src / "1_Pooling"
    if modules_file.is_file():
        modules = _read_json(modules_file)
        if not isinstance(modules, list):
            raise InvalidInputError(f"{modules_file}: expected a JSON list")
        for module in modules:
            kind = str(module.get("type", "")).rsplit(".", 1)[-1]
            if kind == "Pooling":
                pooling_dir = src / str(module.get("path", "1_Pooling"))
            elif kind not in ("Transformer", "Normalize"):
                raise _unsupported(src, f"sentence-transformers module {kind!r} in modules.json")
    mode: PoolingMode = "mean"
    config_file = pooling_dir / "config.json"
    if config_file.is_file():
        config = _read_json(config_file)
        chosen = [m for key, m in _POOLING_KEYS.items() if config.get(key)]
        odd = [key for key in _UNSUPPORTED_POOLING if config.get(key)]
        if odd or len(chosen) > 1:
            raise _unsupported(src, f"pooling {', '.join([*odd, *chosen])} in {config_file}")
        if chosen:
            mode = chosen[0]
        elif isinstance(config.get("pooling_mode"), str):  # newer sentence-transformers
            named = {"mean": "mean", "cls": "cls", "max": "max"}.get(config["pooling_mode"])
            if named is None:
                raise _unsupported(src, f"pooling {config['pooling_mode']!r} in {config_file}")
            mode = named  # type: ignore[assignment]
    max_length = None
    st_config = src / "sentence_bert_config.json"
    if st_config.is_file():
        value = _read_json(st_config).get("max_seq_length")
        max_length = int(value) if isinstance(value, int) else None
    return Pooling(mode=mode, max_length=max_length)
