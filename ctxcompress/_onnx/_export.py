"""Exporting a Hugging Face cross-encoder to a ctxcompress model directory (extra ``export``).

Loads the model with transformers (a local ``save_pretrained`` directory, or a hub id when
online), exports it with torch.onnx (dynamic batch and sequence axes), checks the ONNX
graph against PyTorch on sample pairs before anything is kept, and writes the
layout ``CrossEncoderScorer`` reads: model.onnx, optional model_int8.onnx /
model_fp16.onnx, tokenizer.json and ctxcompress.json.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .._exceptions import CtxCompressError, InvalidInputError, MissingDependencyError
from ._description import DESCRIPTION_FILE, ModelDescription

__all__ = ["ExportReport", "export_cross_encoder"]

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


def _require() -> tuple[Any, Any]:
    try:
        import torch
        import transformers
    except ImportError as exc:
        raise MissingDependencyError(exc.name or "torch", "export", "ctxcompress export") from exc
    return torch, transformers


def export_cross_encoder(
    source: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    *,
    int8: bool = False,
    fp16: bool = False,
    max_length: int | None = None,
    tolerance: float = 1e-4,
    opset: int = 17,
) -> ExportReport:
    """Export ``source`` to ``out_dir``; raises if the ONNX logits differ by more than
    ``tolerance`` from PyTorch's on the sample pairs (nothing is written then)."""
    torch, transformers = _require()
    out = Path(out_dir)
    if out.exists() and any(out.iterdir()):
        raise InvalidInputError(f"{out} exists and is not empty")
    try:
        tokenizer = transformers.AutoTokenizer.from_pretrained(str(source))
        model = transformers.AutoModelForSequenceClassification.from_pretrained(str(source)).eval()
    except (OSError, ValueError) as exc:
        raise InvalidInputError(
            f"cannot load a sequence-classification model from {source}: {exc}"
        ) from exc
    if not getattr(tokenizer, "is_fast", False):
        raise InvalidInputError(f"{source} has no fast tokenizer (tokenizer.json is needed)")
    limit = int(max_length or min(getattr(model.config, "max_position_embeddings", 512), 512))
    enc = tokenizer(
        [q for q, _ in SAMPLE_PAIRS[:2]],
        [p for _, p in SAMPLE_PAIRS[:2]],
        return_tensors="pt",
        padding=True,
        truncation="only_second",
        max_length=limit,
    )
    input_names = [n for n in ("input_ids", "attention_mask", "token_type_ids") if n in enc]
    axes = {n: {0: "batch", 1: "sequence"} for n in input_names} | {"logits": {0: "batch"}}
    with tempfile.TemporaryDirectory() as tmp:
        staging = Path(tmp) / "model"
        staging.mkdir()
        torch.onnx.export(
            model,
            tuple(enc[n] for n in input_names),
            str(staging / "model.onnx"),
            input_names=input_names,
            output_names=["logits"],
            dynamic_axes=axes,
            opset_version=opset,
            dynamo=False,
        )
        tokenizer.backend_tokenizer.save(str(staging / "tokenizer.json"))
        n_labels = int(model.config.num_labels)
        description = ModelDescription(
            kind="cross-encoder",
            activation="softmax" if n_labels == 2 else "sigmoid",
            max_length=limit,
            input_names=tuple(input_names),
            license=getattr(model.config, "license", None),
            source=str(source),
        )
        (staging / DESCRIPTION_FILE).write_text(description.model_dump_json(indent=2) + "\n")
        diff = _verify(model, tokenizer, staging / "model.onnx", input_names, limit, torch)
        if not diff <= tolerance:
            raise CtxCompressError(
                f"exported graph differs from PyTorch by {diff:.3g} (> {tolerance:g}); nothing written"
            )
        if int8:
            from onnxruntime.quantization import QuantType, quantize_dynamic

            quantize_dynamic(
                str(staging / "model.onnx"),
                str(staging / "model_int8.onnx"),
                weight_type=QuantType.QInt8,
                per_channel=True,
            )
        if fp16:
            _to_fp16(staging)
        out.mkdir(parents=True, exist_ok=True)
        files = []
        for f in sorted(staging.iterdir()):
            shutil.move(str(f), out / f.name)
            files.append(f.name)
    return ExportReport(out, diff, tuple(files))


def _verify(
    model: Any, tokenizer: Any, onnx_file: Path, input_names: list[str], limit: int, torch: Any
) -> float:
    import onnxruntime

    session = onnxruntime.InferenceSession(str(onnx_file), providers=["CPUExecutionProvider"])
    enc = tokenizer(
        [q for q, _ in SAMPLE_PAIRS],
        [p for _, p in SAMPLE_PAIRS],
        return_tensors="pt",
        padding=True,
        truncation="only_second",
        max_length=limit,
    )
    with torch.no_grad():
        reference = model(**{n: enc[n] for n in input_names}).logits.numpy()
    got = session.run(None, {n: enc[n].numpy().astype(np.int64) for n in input_names})[0]
    return float(np.max(np.abs(got - reference)))


def _to_fp16(staging: Path) -> None:
    try:
        import onnx
        from onnxruntime.transformers.float16 import convert_float_to_float16
    except ImportError as exc:
        raise MissingDependencyError("onnx", "export", "fp16 export") from exc
    model = onnx.load(str(staging / "model.onnx"))
    onnx.save(convert_float_to_float16(model, keep_io_types=True), str(staging / "model_fp16.onnx"))
