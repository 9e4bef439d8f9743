"""A standard Hugging Face model repository as the scorers' :class:`ModelFiles`.

What a ctxcompress.json says, a plain repository says in its own files:

- ``config.json``: the architecture gives the kind (``*ForSequenceClassification``: a
  cross-encoder; a sentence-transformers repository or a bare encoder: a bi-encoder);
  a cross-encoder's ``id2label`` gives the activation (one label: sigmoid; two: softmax,
  and which of the two means "relevant"); ``max_position_embeddings`` caps the length.
- ``tokenizer.json`` (the fast tokenizer, whose post-processor joins a pair) and
  ``tokenizer_config.json`` (``model_max_length``).
- ``modules.json`` / ``1_Pooling/config.json`` / ``sentence_bert_config.json``: a
  bi-encoder's pooling and length.

The ONNX file run is the repository's own (``onnx/model.onnx``, its int8 variant for this
CPU, its fp16 file) when it has one, else a graph built from ``model.safetensors`` with
the torch-free builder, once, into the ctxcompress cache (keyed by the weights' digests).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from ..._exceptions import InvalidInputError, UnsupportedModelError
from ._cpu import cpu_int8_variants
from ._description import ModelDescription

__all__ = [
    "METADATA_FILES",
    "HfLayout",
    "choose_onnx",
    "external_data",
    "guess_precision",
    "is_hf_layout",
    "local_listing",
    "onnx_variants",
    "read_layout",
]

Kind = Literal["cross-encoder", "bi-encoder"]
#: The small files that describe a repository (fetched before its weights are chosen).
METADATA_FILES = (
    "config.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "modules.json",
    "sentence_bert_config.json",
    "1_Pooling/config.json",
)
# Model types whose positions are numbered from padding_idx + 1 (514 positions -> 512
# tokens), as transformers' RoBERTa family does.
_OFFSET_POSITIONS = {"roberta", "xlm-roberta", "xlm-roberta-xl", "camembert", "longformer"}
# transformers' "no limit" placeholder for model_max_length (int(1e30)).
_NO_LIMIT = 1_000_000
_QUANT = ("qint8", "quint8")
# Names a two-label reranker gives its "relevant" and "not relevant" classes.
_POSITIVE = {"relevant", "positive", "pos", "entailment", "yes", "true", "match", "label_1", "1"}
_NEGATIVE = {
    "irrelevant", "not_relevant", "negative", "neg", "contradiction", "no", "false",
    "not_match", "no_match", "label_0", "0",
}  # fmt: skip


@dataclass(frozen=True)
class HfLayout:
    """What a Hugging Face model directory says about how to run it."""

    root: Path
    kind: Kind
    architecture: str
    description: ModelDescription


def is_hf_layout(root: Path) -> bool:
    return (root / "config.json").is_file()


def _read_json(file: Path) -> Any:
    try:
        return json.loads(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidInputError(f"cannot read {file}: {exc}") from exc


def _kind(root: Path, config: dict[str, Any]) -> tuple[Kind, str]:
    architecture = str((config.get("architectures") or [config.get("model_type") or "?"])[0])
    if architecture.endswith("ForSequenceClassification"):
        return "cross-encoder", architecture
    if (root / "modules.json").is_file() or architecture.endswith("Model"):
        return "bi-encoder", architecture
    raise UnsupportedModelError(
        f"{root}: architecture {architecture} is neither a cross-encoder "
        "(*ForSequenceClassification) nor an encoder (a sentence-transformers model or a "
        "bare *Model); for a decoder reranker use `ctxcompress export --kind "
        f"decoder-reranker {root} OUT_DIR` (pip install 'ctxcompress[export]')"
    )


def _labels(root: Path, config: dict[str, Any]) -> tuple[Literal["sigmoid", "softmax"], int]:
    """The activation and the index of the "relevant" class (transformers' rule for the
    number of labels: id2label when present, else num_labels, else 2)."""
    id2label = config.get("id2label") or {}
    labels = len(id2label) or int(config.get("num_labels") or 2)
    if labels == 1:
        return "sigmoid", -1
    if labels != 2:
        raise InvalidInputError(
            f"{root}/config.json: {labels} labels; a reranker has one (sigmoid) or two (softmax)"
        )
    names = {
        int(k): str(v).strip().lower().replace("-", "_").replace(" ", "_")
        for k, v in id2label.items()
    }
    positive = [i for i, n in names.items() if n in _POSITIVE]
    negative = [i for i, n in names.items() if n in _NEGATIVE]
    if len(positive) == 1:
        return "softmax", positive[0]
    if len(negative) == 1:
        return "softmax", 1 - negative[0]
    return "softmax", 1  # transformers' and sentence-transformers' convention


def _max_length(root: Path, config: dict[str, Any], pooling_length: int | None) -> int:
    """model_max_length (a bi-encoder's max_seq_length first), capped by the positions."""
    positions = int(config.get("max_position_embeddings") or 512)
    if config.get("model_type") in _OFFSET_POSITIONS:
        pad = config.get("pad_token_id")
        positions -= (int(pad) if pad is not None else 1) + 1
    limits = [positions]
    tokenizer_config = root / "tokenizer_config.json"
    if tokenizer_config.is_file():
        value = _read_json(tokenizer_config).get("model_max_length")
        if isinstance(value, (int, float)) and 0 < value < _NO_LIMIT:
            limits.append(int(value))
    if pooling_length:
        limits.append(pooling_length)
    length = min(limits)
    if length < 8:
        raise InvalidInputError(f"{root}: a model window of {length} tokens is too small")
    return length


def _check_tokenizer(root: Path, kind: Kind) -> None:
    file = root / "tokenizer.json"
    if not file.is_file():
        raise InvalidInputError(
            f"{root} has no tokenizer.json (the fast tokenizer the runtime reads; save one "
            "with transformers' AutoTokenizer.save_pretrained)"
        )
    if kind != "cross-encoder":
        return
    from tokenizers import Tokenizer

    try:
        tokenizer = Tokenizer.from_file(str(file))
    except Exception as exc:  # the Rust library raises plain Exceptions
        raise InvalidInputError(f"{file} is not a readable tokenizer: {exc}") from exc
    # The pair template lives in the post-processor; without one, query and passage would
    # run together with no separator and the scores would mean nothing.
    if tokenizer.num_special_tokens_to_add(is_pair=True) == 0:
        raise InvalidInputError(
            f"{file} has no post-processor joining a (query, passage) pair with special "
            "tokens; a cross-encoder needs one"
        )


def read_layout(root: Path, *, source: str | None = None) -> HfLayout:
    """Read ``root``'s config and tokenizer files into a :class:`ModelDescription`."""
    config = _read_json(root / "config.json")
    if not isinstance(config, dict):
        raise InvalidInputError(f"{root}/config.json: expected a JSON object")
    kind, architecture = _kind(root, config)
    _check_tokenizer(root, kind)
    if kind == "cross-encoder":
        activation, positive = _labels(root, config)
        description = ModelDescription(
            kind=kind,
            activation=activation,
            positive_index=positive,
            max_length=_max_length(root, config, None),
            source=source or str(root),
        )
    else:
        from ._graph import read_pooling

        pooling = read_pooling(root)
        description = ModelDescription(
            kind=kind,
            activation="none",
            pooling=pooling.mode,
            max_length=_max_length(root, config, pooling.max_length),
            source=source or str(root),
        )
    return HfLayout(root, kind, architecture, description)


def onnx_variants(listing: Iterable[str]) -> dict[str, str]:
    """Per precision, the repository's ONNX file for it (repo-relative), best first:
    ``onnx/`` before the root; for int8 the qint8 file of this CPU's instruction set,
    then a generic quantised file (Xenova's ``model_quantized.onnx``)."""
    names = set(listing)
    found: dict[str, str] = {}
    for folder in ("onnx/", ""):
        # sentence-transformers names its AVX2 file quint8 (unsigned: AVX2 has no fast
        # signed int8 dot product), the others qint8.
        int8 = [f"{folder}model_{q}_{v}.onnx" for v in cpu_int8_variants() for q in _QUANT]
        int8 += [f"{folder}model_quantized.onnx", f"{folder}model_int8.onnx"]
        options = {
            "fp32": [f"{folder}model.onnx"],
            "fp16": [f"{folder}model_fp16.onnx"],
            "int8": int8,
        }
        for precision, candidates in options.items():
            match = next((c for c in candidates if c in names), None)
            if match is not None:
                found.setdefault(precision, match)
    return found


def guess_precision(file: str) -> str:
    """The precision an explicitly named ONNX file most likely holds."""
    name = Path(file).name.lower()
    if "fp16" in name or "float16" in name:
        return "fp16"
    if any(t in name for t in ("quantized", "int8", "qint8", "quint8", "uint8")):
        return "int8"
    return "fp32"


def choose_onnx(
    listing: Sequence[str],
    *,
    kind: Kind,
    precision: str | None,
    file: str | None,
    on_gpu: bool,
    where: str,
) -> tuple[str, str] | None:
    """The (precision, repo-relative file) to run, or None when the repository has no
    ONNX file (then it is built from safetensors). ``precision`` None: on a GPU fp16
    when present, else fp32; on a CPU fp32 for a cross-encoder, int8 for a bi-encoder
    (as for ctxcompress model directories), each falling back to what is there."""
    if file is not None:
        if file not in listing:
            present = sorted(f for f in listing if f.endswith(".onnx"))
            raise InvalidInputError(
                f"{where} has no file {file!r}; its ONNX files: {', '.join(present) or 'none'}"
            )
        return precision or guess_precision(file), file
    variants = onnx_variants(listing)
    if not variants:
        return None
    if precision is not None:
        if precision not in variants:
            raise InvalidInputError(
                f"{where} has no {precision} ONNX file; it has {', '.join(sorted(variants))} "
                f"({', '.join(variants[p] for p in sorted(variants))})"
            )
        return precision, variants[precision]
    cpu_first = "fp32" if kind == "cross-encoder" else "int8"
    order = ("fp16", "fp32", "int8") if on_gpu else (cpu_first, "fp32", "int8", "fp16")
    chosen = next(p for p in order if p in variants)
    return chosen, variants[chosen]


def external_data(listing: Iterable[str], file: str) -> list[str]:
    """The external-data files of ONNX ``file`` (``model.onnx.data``, optimum's
    ``model.onnx_data``), which must sit beside it."""
    return sorted(f for f in listing if f.startswith((f"{file}.data", f"{file}_data")))


def local_listing(root: Path) -> list[str]:
    """Every file under ``root``, repo-relative with ``/`` separators."""
    out: list[str] = []
    for folder, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        base = Path(folder).relative_to(root)
        out.extend((base / f).as_posix() for f in files if not f.startswith("."))
    return sorted(out)
