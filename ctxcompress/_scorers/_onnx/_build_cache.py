"""Graphs built from a repository's safetensors, kept in the ctxcompress cache.

A repository without ONNX files is built once (the torch-free builder, ``_graph``) into
``<cache>/models/hf/<name>-<digest>``, the digest covering what decides the graph: the
builder's revision, the weights (their Hugging Face blob names, which are their SHA-256,
or for other files their size, time and path), config.json, the tokenizer and the
description. The build runs in a temporary directory renamed into place, so the cache
holds whole models or nothing; a concurrent build of the same model loses the rename
and uses the winner's.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import tempfile
from collections.abc import Callable
from pathlib import Path

from ..._exceptions import MissingDependencyError
from ._description import DESCRIPTION_FILE, read_description
from ._hf_layout import HfLayout, local_listing

__all__ = ["BUILD_REVISION", "built_from_safetensors", "ctxcompress_cache_dir"]

logger = logging.getLogger("ctxcompress")

# Raised whenever the builder's output changes, so older builds are not taken for new ones.
BUILD_REVISION = 1
_BLOB = re.compile(r"[0-9a-f]{64}")
# Small files whose content decides the graph or its description.
_HASHED = ("config.json", "tokenizer.json", "modules.json", "sentence_bert_config.json")


def ctxcompress_cache_dir() -> Path:
    """Where ctxcompress keeps built models (``CTXCOMPRESS_CACHE_DIR``, else the user
    cache directory from platformdirs)."""
    override = os.environ.get("CTXCOMPRESS_CACHE_DIR")
    if override:
        return Path(override).expanduser()
    try:
        import platformdirs
    except ImportError as exc:
        raise MissingDependencyError("platformdirs", "cpu", "the model cache") from exc
    return Path(platformdirs.user_cache_dir("ctxcompress"))


def _identity(file: Path) -> str:
    real = Path(os.path.realpath(file))
    if _BLOB.fullmatch(real.name):  # a Hugging Face cache blob is named by its SHA-256
        return real.name
    stat = real.stat()
    return f"{stat.st_size}:{stat.st_mtime_ns}:{real}"


def _digest(layout: HfLayout, fp16: bool) -> str:
    h = hashlib.sha256(f"build-r{BUILD_REVISION}:fp16={fp16}\n".encode())
    h.update(layout.description.model_dump_json().encode())
    for rel in local_listing(layout.root):
        file = layout.root / rel
        if rel.endswith(".safetensors") or rel.endswith(".safetensors.index.json"):
            h.update(f"\n{rel}={_identity(file)}".encode())
        elif rel in _HASHED or rel.endswith("Pooling/config.json"):
            h.update(f"\n{rel}=".encode() + file.read_bytes())
    return h.hexdigest()[:16]


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-.")[:80] or "model"


def built_from_safetensors(
    layout: HfLayout,
    *,
    name: str,
    fp16: bool = False,
    on_stage: Callable[[str], None] | None = None,
) -> Path:
    """The ctxcompress model directory built from ``layout``'s safetensors (fp32 and
    int8; fp16 too with ``fp16``), building it on first use."""
    from ._graph import build_model_dir, read_spec

    read_spec(layout.root, layout.kind)  # an architecture it lacks: refused before any I/O
    base = ctxcompress_cache_dir() / "models" / "hf" / f"{_safe(name)}-{_digest(layout, False)}"
    with_fp16 = base.with_name(f"{base.name}-fp16")
    for found in [with_fp16] if fp16 else [base, with_fp16]:
        if (found / DESCRIPTION_FILE).is_file():
            return found
    target = with_fp16 if fp16 else base
    target.parent.mkdir(parents=True, exist_ok=True)
    message = f"building the ONNX graph of {layout.description.source} into {target}"
    logger.info(message)
    if on_stage is not None:
        on_stage(message)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=f".{target.name}.") as tmp:
        staging = Path(tmp) / "model"
        build_model_dir(
            layout.root,
            staging,
            kind=layout.kind,
            int8=True,
            fp16=fp16,
            max_length=layout.description.max_length,
        )
        # What the repository says beyond the builder's reading: which class of a
        # two-label head is "relevant", and where the model came from.
        built = read_description(staging)
        described = built.model_copy(
            update={
                "positive_index": layout.description.positive_index,
                "source": layout.description.source,
            }
        )
        (staging / DESCRIPTION_FILE).write_text(described.model_dump_json(indent=2) + "\n")
        try:
            os.replace(staging, target)
        except OSError:
            if not (target / DESCRIPTION_FILE).is_file():  # not a concurrent build's win
                raise
    return target
