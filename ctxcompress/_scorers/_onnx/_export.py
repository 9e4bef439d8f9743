"""Exporting a Hugging Face model to a ctxcompress model directory (extra ``export``).

Loads the model with transformers (a local ``save_pretrained`` directory, or a hub id when
online), exports it with torch.onnx (dynamic batch and sequence axes), checks the ONNX
graph against PyTorch on sample inputs before anything is kept, and writes the layout the
scorers read: model.onnx, optional model_int8.onnx / model_fp16.onnx, tokenizer.json and
ctxcompress.json. Cross-encoders output logits; bi-encoders output mean-pooled,
L2-normalised embeddings (pooling is part of the graph, so the scorer needs no torch) and,
as a second output, the last layer's token embeddings (for late-interaction features).
"""

from __future__ import annotations

import inspect
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypedDict

import numpy as np

from ..._exceptions import CtxCompressError, InvalidInputError, MissingDependencyError
from ._description import DESCRIPTION_FILE, ModelDescription
from ._prune import prune_last_layer_to_first_token
from ._quiet import quietly_with

if TYPE_CHECKING:  # typing-only: keyword options spelled once for the three exporters
    from typing_extensions import Unpack

__all__ = [
    "ExportOptions",
    "ExportReport",
    "export_bi_encoder",
    "export_cross_encoder",
    "export_decoder_reranker",
]

SAMPLE_PAIRS = [
    (
        "Was tuberculosis screening negative within the last year?",
        "QuantiFERON-TB Gold Plus negative.",
    ),
    ("Is a failed trial of methotrexate documented?", "Billing statement: copay due."),
    ("What was revenue growth?", "Revenue grew ten percent year over year, driven by services."),
    ("short", "a much longer passage " * 20),
]


@dataclass(frozen=True)
class ExportReport:
    out_dir: Path
    max_abs_logit_diff: float
    files: tuple[str, ...]


class ExportOptions(TypedDict, total=False):
    """The options every exporter takes: int8/fp16 copies beside the fp32 graph, the
    token limit (default: the model's, at most 512, 1024 for decoders), the largest
    difference from PyTorch's outputs accepted, and the ONNX opset."""

    int8: bool
    fp16: bool
    max_length: int | None
    tolerance: float
    opset: int


@dataclass(frozen=True)
class _Settings:
    int8: bool = False
    fp16: bool = False
    max_length: int | None = None
    tolerance: float = 1e-4
    opset: int = 17


def _describe(model: Any, source: object, **fields: Any) -> ModelDescription:
    """The model directory's description, with the licence and source every kind records."""
    return ModelDescription(
        license=getattr(model.config, "license", None), source=str(source), **fields
    )


def _require() -> Any:
    """torch (typed Any: the exporters' wrappers subclass its Module), once transformers is
    known to be there too."""
    try:
        import torch
        import transformers  # noqa: F401
    except ImportError as exc:
        raise MissingDependencyError(exc.name or "torch", "export", "ctxcompress export") from exc
    return torch


def _silence_transformers() -> Callable[[], None]:
    """transformers' "Loading weights" bars and warnings off for an export; returns what
    turns them back on. (Here, not in ``_quiet``: only the export path may import it.)"""
    try:
        from transformers.utils import logging as _hf_logging
    except ImportError:
        return lambda: None
    hf_logging: Any = _hf_logging  # its functions are untyped
    verbosity = hf_logging.get_verbosity()
    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()

    def restore() -> None:
        hf_logging.set_verbosity(verbosity)
        if bars:
            hf_logging.enable_progress_bar()

    return restore


@quietly_with(_silence_transformers)
def export_cross_encoder(
    source: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    **options: Unpack[ExportOptions],
) -> ExportReport:
    """Export ``source`` to ``out_dir``; raises if the ONNX logits differ by more than
    ``tolerance`` from PyTorch's on the sample pairs (nothing is written then)."""
    settings, out = _start(out_dir, options)
    tokenizer, model = _load("cross-encoder", source)
    limit = _limit(model, settings.max_length)

    def encode(pairs: list[tuple[str, str]]) -> Any:
        return tokenizer(
            [q for q, _ in pairs],
            [p for _, p in pairs],
            return_tensors="pt",
            padding=True,
            truncation="only_second",
            max_length=limit,
        )

    n_labels = int(model.config.num_labels)
    description = _describe(
        model,
        source,
        kind="cross-encoder",
        activation="softmax" if n_labels == 2 else "sigmoid",
        max_length=limit,
    )
    fuse = _fusable(model.config)
    return _export(model, tokenizer, encode, description, out, settings, fuse=fuse)


@quietly_with(_silence_transformers)
def export_bi_encoder(
    source: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    **options: Unpack[ExportOptions],
) -> ExportReport:
    """Export a sentence-embedding model (mean pooling, L2-normalised) to ``out_dir``;
    raises if the ONNX embeddings differ by more than ``tolerance`` from PyTorch's.

    The graph's first output, ``embeddings``, is the pooled embedding; the second,
    ``token_embeddings``, the last hidden state (batch × sequence × dim, not normalised),
    which the default scorer's token-level (MaxSim) feature reads."""
    settings, out = _start(out_dir, options)
    torch = _require()
    tokenizer, encoder = _load("bi-encoder", source)
    limit = _limit(encoder, settings.max_length)

    class MeanPooled(torch.nn.Module):  # type: ignore[misc,name-defined]
        def __init__(self) -> None:
            super().__init__()
            self.encoder = encoder

        def forward(self, *inputs: Any) -> Any:
            hidden = self.encoder(*inputs).last_hidden_state
            mask = inputs[1].unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(pooled, p=2, dim=1), hidden

    def encode(texts: list[str]) -> Any:
        return tokenizer(
            texts, return_tensors="pt", padding=True, truncation=True, max_length=limit
        )

    description = _describe(encoder, source, kind="bi-encoder", activation="none", max_length=limit)
    samples = [t for pair in SAMPLE_PAIRS for t in pair]
    # Not fused (unlike cross-encoders): the default scorer's fusion weights were fitted on
    # embeddings from the unfused graph; fusing changes them in the 6th decimal and the
    # model file's digest, which keys the embedding caches. Refit when turning it on.
    return _export(
        MeanPooled().eval(),
        tokenizer,
        encode,
        description,
        out,
        settings,
        samples=samples,
        output_names=("embeddings", "token_embeddings"),
    )


@quietly_with(_silence_transformers)
def export_decoder_reranker(
    source: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    *,
    prompt_template: str | None = None,
    default_instruction: str | None = None,
    yes_token: str = "yes",
    no_token: str | None = "no",
    logit_scale: float = 1.0,
    **options: Unpack[ExportOptions],
) -> ExportReport:
    """Export a causal LM used as a reranker (Qwen3-Reranker style by default): the graph
    returns the last position's logits for left-padded prompts."""
    from ._decoder import QWEN3_RERANKER_INSTRUCTION, QWEN3_RERANKER_TEMPLATE

    settings, out = _start(out_dir, options)
    torch = _require()
    tokenizer, lm = _load("decoder-reranker", source)
    for token in (yes_token, no_token):
        if token is not None and len(tokenizer(token, add_special_tokens=False).input_ids) != 1:
            raise InvalidInputError(
                f"the scoring token {token!r} is not a single token in {source}'s tokenizer"
            )
    limit = int(
        settings.max_length or min(getattr(lm.config, "max_position_embeddings", 1024), 1024)
    )
    template = prompt_template or QWEN3_RERANKER_TEMPLATE
    instruction = default_instruction or (None if prompt_template else QWEN3_RERANKER_INSTRUCTION)
    description = _describe(
        lm,
        source,
        kind="decoder-reranker",
        activation="softmax" if no_token else "sigmoid",
        max_length=limit,
        prompt_template=template,
        default_instruction=instruction,
        yes_token=yes_token,
        no_token=no_token,
        logit_scale=logit_scale,
    )
    tokenizer.padding_side = "left"
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token or tokenizer.unk_token

    # Only the last position is scored: without this the graph projects every position
    # onto the vocabulary (151k rows for Qwen3), a large share of a small reranker's work.
    accepts = inspect.signature(lm.forward).parameters
    keep_last = {"logits_to_keep": 1} if "logits_to_keep" in accepts else {}

    class LastPosition(torch.nn.Module):  # type: ignore[misc,name-defined]
        def __init__(self) -> None:
            super().__init__()
            self.lm = lm

        def forward(self, input_ids: Any, attention_mask: Any) -> Any:
            logits = self.lm(
                input_ids=input_ids, attention_mask=attention_mask, use_cache=False, **keep_last
            ).logits
            return logits[:, -1, :]

    def encode(pairs: list[tuple[str, str]]) -> Any:
        prompts = [
            template.replace("{instruction}", instruction or "")
            .replace("{query}", q)
            .replace("{document}", p)
            for q, p in pairs
        ]
        return tokenizer(prompts, return_tensors="pt", padding=True, add_special_tokens=False)

    return _export(LastPosition().eval(), tokenizer, encode, description, out, settings)


def _start(out_dir: str | os.PathLike[str], options: ExportOptions) -> tuple[_Settings, Path]:
    """The settings and the target, checked before any model is loaded."""
    settings = _Settings(**options)  # an unknown keyword is a TypeError, as before
    _require()
    return settings, _empty_target(out_dir)


# What each kind loads: the transformers auto class, what the error calls it, and the
# loading options. Eager attention where the graph is fused: SDPA's traced graph cannot be.
_LOADERS: dict[str, tuple[str, str, dict[str, Any]]] = {
    "cross-encoder": (
        "AutoModelForSequenceClassification",
        "a sequence-classification model",
        {"attn_implementation": "eager"},
    ),
    "bi-encoder": ("AutoModel", "an encoder model", {}),
    "decoder-reranker": (
        "AutoModelForCausalLM",
        "a causal language model",
        {"attn_implementation": "eager"},
    ),
}


def _load(kind: str, source: object) -> tuple[Any, Any]:
    """The fast tokenizer and the model (in eval mode) of a save_pretrained directory."""
    import transformers

    auto_class, what, options = _LOADERS[kind]
    try:
        tokenizer = transformers.AutoTokenizer.from_pretrained(str(source))
        model = getattr(transformers, auto_class).from_pretrained(str(source), **options).eval()
    except (OSError, ValueError) as exc:
        raise InvalidInputError(f"cannot load {what} from {source}: {exc}") from exc
    if not getattr(tokenizer, "is_fast", False):
        raise InvalidInputError(f"{source} has no fast tokenizer (tokenizer.json is needed)")
    return tokenizer, model


def _empty_target(out_dir: str | os.PathLike[str]) -> Path:
    out = Path(out_dir)
    if out.exists() and any(out.iterdir()):
        raise InvalidInputError(f"{out} exists and is not empty")
    return out


# RoBERTa-style models number positions from padding_idx + 1, so pad_token_id + 1 of their
# position embeddings are never reachable by real tokens (514 positions -> 512 tokens).
_OFFSET_POSITIONS = ("roberta", "xlm-roberta", "camembert")


def _limit(model: Any, max_length: int | None) -> int:
    positions = int(getattr(model.config, "max_position_embeddings", 512))
    if getattr(model.config, "model_type", None) in _OFFSET_POSITIONS:
        positions -= int(getattr(model.config, "pad_token_id", 1) or 0) + 1
    return int(max_length or min(positions, 512))


def _export(
    model: Any,
    tokenizer: Any,
    encode: Callable[[Any], Any],
    description: ModelDescription,
    out: Path,
    settings: _Settings,
    *,
    samples: list[Any] = SAMPLE_PAIRS,
    output_names: str | tuple[str, ...] = "logits",
    fuse: tuple[int, int] | None = None,
) -> ExportReport:
    torch = _require()

    enc = encode(samples[:2])
    input_names = [n for n in ("input_ids", "attention_mask", "token_type_ids") if n in enc]
    outputs = (output_names,) if isinstance(output_names, str) else output_names
    # The first output is per text; any further one (token embeddings) per text and token.
    axes = {n: {0: "batch", 1: "sequence"} for n in (*input_names, *outputs[1:])}
    axes[outputs[0]] = {0: "batch"}
    with tempfile.TemporaryDirectory() as tmp:
        staging = Path(tmp) / "model"
        staging.mkdir()
        torch.onnx.export(
            model,
            tuple(enc[n] for n in input_names),
            str(staging / "model.onnx"),
            input_names=input_names,
            output_names=list(outputs),
            dynamic_axes=axes,
            opset_version=settings.opset,
            dynamo=False,
        )
        if fuse is not None:
            _fuse_transformer_ops(staging / "model.onnx", *fuse)
            # The head reads the first position only: the last layer computes just that
            # one (~1.15x faster at 512 tokens; unrecognised graphs are left alone).
            prune_last_layer_to_first_token(staging / "model.onnx")
        tokenizer.backend_tokenizer.save(str(staging / "tokenizer.json"))
        description = description.model_copy(
            update={"input_names": _declared_inputs(staging / "model.onnx")}
        )
        (staging / DESCRIPTION_FILE).write_text(description.model_dump_json(indent=2) + "\n")
        diff = _verify(model, encode(samples), staging / "model.onnx", input_names, torch)
        if not diff <= settings.tolerance:
            raise CtxCompressError(
                f"exported graph differs from PyTorch by {diff:.3g} (> {settings.tolerance:g}); "
                "nothing written"
            )
        if settings.int8:
            from onnxruntime.quantization import QuantType, quantize_dynamic

            quantize_dynamic(
                str(staging / "model.onnx"),
                str(staging / "model_int8.onnx"),
                weight_type=QuantType.QInt8,
                per_channel=True,
                # Fused ops (Attention, SkipLayerNormalization) defeat shape inference.
                extra_options={"DefaultTensorType": 1},  # onnx.TensorProto.FLOAT
            )
        if settings.fp16:
            _to_fp16(staging)
        out.mkdir(parents=True, exist_ok=True)
        files = []
        for f in sorted(staging.iterdir()):
            shutil.move(str(f), out / f.name)
            files.append(f.name)
    return ExportReport(out, diff, tuple(files))


# Model types whose graphs onnxruntime's BERT optimizer knows how to fuse.
_FUSABLE = ("bert", "roberta", "xlm-roberta", "electra")


def _fusable(config: Any) -> tuple[int, int] | None:
    """(heads, hidden size) when the graph can be fused, else None."""
    if getattr(config, "model_type", None) not in _FUSABLE:
        return None
    return int(config.num_attention_heads), int(config.hidden_size)


def _fuse_transformer_ops(onnx_file: Path, num_heads: int, hidden_size: int) -> None:
    """Fuse attention, embedding + LayerNorm, bias + GELU and skip + LayerNorm into
    onnxruntime's contrib ops, in place: ~1.3x faster on a CPU. The model must be exported
    with eager attention (SDPA's graph is not recognised). The comparison with PyTorch runs
    on the fused graph, so a bad fusion is caught like a bad export."""
    from onnxruntime.transformers.optimizer import optimize_model

    optimized = optimize_model(
        str(onnx_file), model_type="bert", num_heads=num_heads, hidden_size=hidden_size
    )
    optimized.save_model_to_file(str(onnx_file))


def _declared_inputs(onnx_file: Path) -> tuple[str, ...]:
    """The inputs the exported graph declares: torch.onnx drops unused ones (DeBERTa-v2
    without token types), so the description must not promise them."""
    import onnxruntime

    session = onnxruntime.InferenceSession(str(onnx_file), providers=["CPUExecutionProvider"])
    return tuple(i.name for i in session.get_inputs())


def _verify(model: Any, enc: Any, onnx_file: Path, input_names: list[str], torch: Any) -> float:
    import onnxruntime

    session = onnxruntime.InferenceSession(str(onnx_file), providers=["CPUExecutionProvider"])
    with torch.no_grad():
        reference = model(*(enc[n] for n in input_names))
    if isinstance(reference, tuple):  # several outputs: the first is the one scored
        reference = reference[0]
    reference = getattr(reference, "logits", reference).numpy()
    # The exporter drops inputs the graph does not use (DeBERTa-v2 without token types).
    declared = {i.name for i in session.get_inputs()}
    feeds = {n: enc[n].numpy().astype(np.int64) for n in input_names if n in declared}
    got = session.run(None, feeds)[0]
    return float(np.max(np.abs(got - reference)))


def _to_fp16(staging: Path) -> None:
    try:
        import onnx
        from onnxruntime.transformers.float16 import convert_float_to_float16
    except ImportError as exc:
        raise MissingDependencyError("onnx", "export", "fp16 export") from exc
    model = onnx.load(str(staging / "model.onnx"))
    onnx.save(convert_float_to_float16(model, keep_io_types=True), str(staging / "model_fp16.onnx"))
