"""The small JSON description that sits beside a model's ONNX files (``ctxcompress.json``)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from ..._exceptions import InvalidInputError

__all__ = [
    "DESCRIPTION_FILE",
    "PRECISION_FILES",
    "ModelDescription",
    "Precision",
    "file_fingerprint",
    "read_description",
]

DESCRIPTION_FILE = "ctxcompress.json"
#: The ONNX file of each precision in a model directory.
PRECISION_FILES = {"fp32": "model.onnx", "fp16": "model_fp16.onnx", "int8": "model_int8.onnx"}
#: A precision to run at: which of the PRECISION_FILES a session loads.
Precision = Literal["fp32", "fp16", "int8"]


class ModelDescription(BaseModel):
    """What a model directory holds and how to run it. Frozen: a description is a fact."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["cross-encoder", "decoder-reranker", "bi-encoder"]
    activation: Literal["sigmoid", "softmax", "none"] = "sigmoid"
    max_length: int = Field(default=512, ge=8)
    input_names: tuple[str, ...] = ("input_ids", "attention_mask")
    prompt_template: str | None = None
    license: str | None = None
    source: str | None = None
    # Decoder rerankers: the template has {instruction}, {query} and {document} slots; the
    # score comes from the last position's logits: softmax over [no_token, yes_token], or
    # sigmoid(logit(yes_token) / logit_scale) when there is no no_token (zerank-style).
    default_instruction: str | None = None
    yes_token: str | None = None
    no_token: str | None = None
    logit_scale: float = Field(default=1.0, gt=0)
    # Standard Hugging Face repositories (``hub:`` or a local directory without a
    # ctxcompress.json) run their own ONNX exports, which differ from ctxcompress's:
    # ``positive_index`` is the column of a two-label cross-encoder's softmax that means
    # "relevant" (config.json's id2label; the last by default); ``pooling`` set means the
    # bi-encoder graph outputs the last hidden state (optimum/Xenova exports) and the
    # runtime pools it this way and normalises, in numpy.
    positive_index: int = Field(default=-1, ge=-1)
    pooling: Literal["mean", "cls", "max", "mean_sqrt_len"] | None = None

    @model_validator(mode="after")
    def _check_decoder(self) -> ModelDescription:
        if self.kind != "decoder-reranker":
            return self
        template = self.prompt_template or ""
        for slot in ("{query}", "{document}"):
            if template.count(slot) != 1:
                raise ValueError(f"a decoder reranker's prompt_template needs one {slot} slot")
        if template.index("{query}") > template.index("{document}"):
            raise ValueError("the prompt_template must put {query} before {document}")
        if not self.yes_token:
            raise ValueError("a decoder reranker needs yes_token")
        return self

    def fingerprint_json(self) -> str:
        """The description as JSON for fingerprints, without the fields added for
        Hugging Face repositories while they hold their defaults, so that score caches
        of models described before those fields existed stay valid."""
        added = {
            name
            for name in ("positive_index", "pooling")
            if getattr(self, name) == type(self).model_fields[name].default
        }
        return self.model_dump_json(exclude=added)


def read_description(model_dir: Path) -> ModelDescription:
    file = model_dir / DESCRIPTION_FILE
    if not file.is_file():
        raise InvalidInputError(
            f"{model_dir} has no {DESCRIPTION_FILE} (not a ctxcompress model directory)"
        )
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InvalidInputError(f"{file}: invalid model description: not JSON ({exc})") from exc
    if not isinstance(data, dict):
        raise InvalidInputError(
            f"{file}: invalid model description: a JSON object is needed, got {type(data).__name__}"
        )
    try:
        return ModelDescription.model_validate(data)
    except ValidationError as exc:
        # One line that names each bad field: pydantic's own text starts with a line
        # ("1 validation error for ...") that says nothing, and CLIs show the first line.
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'description'}: {e['msg']}"
            + (f" (got {e['input']!r})" if e["type"] != "missing" and e["loc"] else "")
            for e in exc.errors()
        )
        raise InvalidInputError(f"{file}: invalid model description: {problems}") from exc


def file_fingerprint(path: Path) -> str:
    """A short SHA-256 of a model file: caches key scores by it, so new weights under an
    old name never reuse old scores."""
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()[:16]
