"""The files a scorer opens, wherever they live.

A ctxcompress model directory keeps them under fixed names (``model.onnx``,
``model_int8.onnx``, ``model_fp16.onnx``, ``tokenizer.json``, ``ctxcompress.json``); a
standard Hugging Face repository keeps its own ONNX exports under ``onnx/`` and its
description in ``config.json``. :class:`ModelFiles` is what both come down to: a
description, the ONNX file of each precision that is present, and the tokenizer.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from ..._exceptions import InvalidInputError
from ._description import PRECISION_FILES, ModelDescription, read_description

__all__ = ["ModelFiles"]


@dataclass(frozen=True)
class ModelFiles:
    """``onnx`` maps each precision present ("fp32", "fp16", "int8") to its file;
    ``name`` is what scorer names show (a directory name, or ``owner--name``)."""

    root: Path
    description: ModelDescription
    onnx: Mapping[str, Path]
    tokenizer: Path
    name: str

    @classmethod
    def of_dir(cls, path: str | os.PathLike[str]) -> ModelFiles:
        """The files of the ctxcompress model directory ``path``."""
        root = Path(path).expanduser()
        description = read_description(root)
        present = {p: root / f for p, f in PRECISION_FILES.items() if (root / f).is_file()}
        return cls(root, description, present, root / "tokenizer.json", root.name)

    def file(self, precision: str) -> Path:
        """The ONNX file for ``precision``; an error names what is there."""
        if precision not in PRECISION_FILES:
            raise InvalidInputError(
                f"precision must be one of {', '.join(PRECISION_FILES)}, got {precision!r}"
            )
        path = self.onnx.get(precision)
        if path is None or not path.is_file():
            wanted = path.name if path is not None else PRECISION_FILES[precision]
            raise InvalidInputError(
                f"{self.root} has no {precision} model ({wanted}); "
                f"present: {', '.join(p for p in self.onnx if self.onnx[p].is_file()) or 'none'}"
            )
        return path
