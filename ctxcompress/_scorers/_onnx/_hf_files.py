"""A Hugging Face model directory (a hub snapshot or a local folder) to :class:`ModelFiles`:
its own ONNX files when it has them, else the graph built from its safetensors."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

from ._build_cache import built_from_safetensors
from ._files import ModelFiles
from ._hf_layout import choose_onnx, local_listing, onnx_variants, read_layout

__all__ = ["hf_model_files"]


def hf_model_files(
    root: Path,
    *,
    precision: str | None = None,
    file: str | None = None,
    on_gpu: bool = False,
    name: str | None = None,
    source: str | None = None,
    on_stage: Callable[[str], None] | None = None,
) -> ModelFiles:
    """The files to run for the Hugging Face model in ``root``.

    ``file`` names one of its ONNX files (repo-relative); ``precision`` asks for the
    repository's file of that precision (an error lists what it has). Without either,
    every ONNX file the repository has is offered and the scorer picks as it does in a
    ctxcompress directory. A repository without ONNX files is built from safetensors into
    the ctxcompress cache (fp16 too when ``precision="fp16"``)."""
    layout = read_layout(root, source=source)
    listing = local_listing(root)
    label = name or root.name
    chosen = choose_onnx(
        listing,
        kind=layout.kind,
        precision=precision,
        file=file,
        on_gpu=on_gpu,
        where=source or str(root),
    )
    if chosen is None:
        built = built_from_safetensors(
            layout, name=label, fp16=precision == "fp16", on_stage=on_stage
        )
        return dataclasses.replace(ModelFiles.of_dir(built), name=label)
    if file is not None:
        onnx = {chosen[0]: root / file}
    else:
        onnx = {p: root / f for p, f in onnx_variants(listing).items()}
    return ModelFiles(root, layout.description, onnx, root / "tokenizer.json", label)
