"""A Hugging Face model's weights, read from safetensors with numpy (never torch).

``model.safetensors`` or a sharded ``model.safetensors.index.json``. Every tensor is
read into float32 (fp16 and bf16 checkpoints too: the graph is built in fp32 and the
fp16 variant converted from it). A file that is missing, truncated or not safetensors at
all gets one error naming the file; a tensor that is missing or shaped differently from
what config.json implies gets one naming the tensor, so a mismatched checkpoint never
turns into a graph that computes something else.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ...._exceptions import InvalidInputError, MissingDependencyError

__all__ = ["Weights", "load_weights"]

SINGLE_FILE = "model.safetensors"
INDEX_FILE = "model.safetensors.index.json"
# Every encoder's embedding table ends with this name; what precedes it is the prefix
# of the encoder's tensors ("bert.", "roberta.", or nothing in a bare BertModel).
_ANCHOR = "embeddings.word_embeddings.weight"
# Old BERT checkpoints name LayerNorm parameters gamma/beta (transformers renames them).
_OLD_NAMES = {".weight": ".gamma", ".bias": ".beta"}


class Weights:
    """The tensors of one checkpoint, looked up by their transformers names."""

    def __init__(self, tensors: dict[str, np.ndarray[Any, Any]], source: Path) -> None:
        self.tensors = tensors
        self.source = source
        anchors = [k for k in tensors if k.endswith(_ANCHOR)]
        if len(anchors) != 1:
            raise InvalidInputError(
                f"{source}: expected one {_ANCHOR!r} tensor, found {len(anchors)}: "
                "not a BERT-family encoder checkpoint"
            )
        self.prefix = anchors[0][: -len(_ANCHOR)]

    def encoder(self, name: str, shape: Sequence[int]) -> np.ndarray[Any, Any]:
        """The encoder's tensor ``name`` (without the model's prefix), checked for ``shape``."""
        return self.get(self.prefix + name, shape)

    def get(self, name: str, shape: Sequence[int]) -> np.ndarray[Any, Any]:
        """The tensor ``name`` (full name), checked for ``shape``."""
        found = self.tensors.get(name)
        if found is None:
            for new, old in _OLD_NAMES.items():
                if name.endswith(new):
                    found = self.tensors.get(name[: -len(new)] + old)
        if found is None:
            raise InvalidInputError(f"{self.source}: the checkpoint has no tensor {name!r}")
        if tuple(found.shape) != tuple(shape):
            raise InvalidInputError(
                f"{self.source}: tensor {name!r} has shape {tuple(found.shape)}, but "
                f"config.json implies {tuple(shape)}"
            )
        return found


def load_weights(src: Path) -> Weights:
    """Every tensor of ``src``'s safetensors checkpoint, as float32 numpy arrays."""
    try:
        from safetensors import SafetensorError, safe_open
    except ImportError as exc:
        raise MissingDependencyError("safetensors", "cpu", "building ONNX graphs") from exc
    single, index = src / SINGLE_FILE, src / INDEX_FILE
    if single.is_file():
        files = [single]
        source = single
    elif index.is_file():
        files, source = _shards(index), index
    else:
        torch_only = (src / "pytorch_model.bin").is_file()
        raise InvalidInputError(
            f"{src} has no {SINGLE_FILE}"
            + (" (only pytorch_model.bin, which needs torch to read)" if torch_only else "")
            + f"; convert it with torch instead: `ctxcompress export {src} OUT_DIR`"
        )
    tensors: dict[str, np.ndarray[Any, Any]] = {}
    for file in files:
        try:
            with safe_open(str(file), framework="numpy") as reader:
                for name in reader.keys():  # noqa: SIM118 (a reader, not a dict)
                    tensors[name] = _as_float32(reader, file, name)
        except (SafetensorError, OSError, ValueError) as exc:
            raise InvalidInputError(
                f"{file} is not a readable safetensors file (truncated or corrupt?): {exc}"
            ) from exc
    return Weights(tensors, source)


def _shards(index: Path) -> list[Path]:
    try:
        weight_map = json.loads(index.read_text(encoding="utf-8"))["weight_map"]
        names = sorted(set(weight_map.values()))
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise InvalidInputError(f"{index}: not a safetensors index ({exc})") from exc
    files = [index.parent / n for n in names]
    missing = [f.name for f in files if not f.is_file()]
    if missing:
        raise InvalidInputError(f"{index} lists shards that are missing: {', '.join(missing)}")
    return files


def _as_float32(reader: Any, file: Path, name: str) -> np.ndarray[Any, Any]:
    try:
        array = reader.get_tensor(name)
    except TypeError:  # bfloat16: numpy has no such dtype, so read the raw bits
        return _bfloat16(file, name)
    if array.dtype.kind == "f":
        return np.ascontiguousarray(array, dtype=np.float32)
    return np.asarray(array)  # integer buffers (position_ids) are read but never used


def _bfloat16(file: Path, name: str) -> np.ndarray[Any, Any]:
    """A bfloat16 tensor as float32: its 16 bits are the top half of a float32's."""
    with file.open("rb") as f:
        (length,) = struct.unpack("<Q", f.read(8))
        entry = json.loads(f.read(length))[name]
        if entry["dtype"] != "BF16":
            raise InvalidInputError(
                f"{file}: tensor {name!r} has unsupported dtype {entry['dtype']}"
            )
        start, end = entry["data_offsets"]
        f.seek(8 + length + start)
        raw = np.frombuffer(f.read(end - start), dtype="<u2")
    floats: np.ndarray[Any, Any] = (raw.astype(np.uint32) << 16).view(np.float32)
    shaped: np.ndarray[Any, Any] = floats.reshape(tuple(entry["shape"]))
    return shaped
