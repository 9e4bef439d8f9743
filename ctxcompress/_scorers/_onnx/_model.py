"""A local model as a value: a ctxcompress model directory or a Hugging Face repository,
found on disk or fetched from the hub.

``Model.from_dir(path)`` reads a ctxcompress model directory (``ctxcompress.json``,
``tokenizer.json``, at least one ``model*.onnx``), or, without a ctxcompress.json, a
standard Hugging Face model directory (``config.json`` and its tokenizer; see
``_hf_layout``): its own ONNX files, or a graph built from its safetensors.
``Model.from_hub(repo_id)`` fetches only the files needed into the Hugging Face cache
(``_hub``) and reads the snapshot the same way. ``model.scorer(**options)`` builds the
scorer the description's ``kind`` calls for.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..._exceptions import InvalidInputError
from .._base import BaseScorer
from ._description import DESCRIPTION_FILE, PRECISION_FILES, ModelDescription
from ._files import ModelFiles

__all__ = ["Model"]


def _on_gpu(providers: Any) -> bool:
    from ._session import GPU_PROVIDERS, resolve_providers

    return any(p in GPU_PROVIDERS for p in resolve_providers(providers))


@dataclass(frozen=True)
class Model:
    """A checked model directory (local, or downloaded from the hub) and its description.

    ``Model.from_dir(path)`` or ``Model.from_hub("owner/name")``; ``model.scorer(**options)``
    builds its scorer (what ``load_scorer`` does for a path or ``hub:owner/name``).

    Guide with examples: [Local models][guide-local-models].
    """

    path: Path
    description: ModelDescription
    source: str
    files: ModelFiles

    @classmethod
    def from_dir(
        cls,
        path: str | os.PathLike[str],
        *,
        precision: str | None = None,
        file: str | None = None,
        providers: Any = "auto",
        source: str | None = None,
        name: str | None = None,
        on_stage: Callable[[str], None] | None = None,
    ) -> Model:
        """``precision`` and ``file`` choose among a Hugging Face repository's ONNX files
        (``file``: a repo-relative path such as ``onnx/model_O4.onnx``); ``providers``
        says whether a GPU will run it (its default precision is fp16 there)."""
        root = Path(path).expanduser()
        if not root.is_dir():
            raise InvalidInputError(f"{root} is not a directory")
        shown = source or str(root)
        if not (root / DESCRIPTION_FILE).is_file() and (root / "config.json").is_file():
            from ._hf_files import hf_model_files

            files = hf_model_files(
                root,
                precision=precision,
                file=file,
                on_gpu=_on_gpu(providers),
                name=name,
                source=shown,
                on_stage=on_stage,
            )
            return cls(root, files.description, shown, files)
        if file is not None:
            raise InvalidInputError(
                f"file= picks an ONNX file of a Hugging Face repository; {root} is a "
                f"ctxcompress model directory (use precision=)"
            )
        files = ModelFiles.of_dir(root)
        if not files.tokenizer.is_file():
            raise InvalidInputError(f"{root} has no tokenizer.json")
        if not files.onnx:
            raise InvalidInputError(
                f"{root} has no ONNX model ({', '.join(PRECISION_FILES.values())})"
            )
        if name is not None:
            files = ModelFiles(files.root, files.description, files.onnx, files.tokenizer, name)
        return cls(root, files.description, shown, files)

    @classmethod
    def from_hub(
        cls,
        repo_id: str,
        *,
        revision: str | None = None,
        cache_dir: str | os.PathLike[str] | None = None,
        offline: bool | None = None,
        precision: str | None = None,
        file: str | None = None,
        providers: Any = "auto",
        on_stage: Callable[[str], None] | None = None,
    ) -> Model:
        """Fetch (or find in the local Hugging Face cache) ``repo_id``: a ctxcompress model
        directory or a standard Hugging Face repository (see :meth:`from_dir`).

        ``offline`` defaults to the ``HF_HUB_OFFLINE`` environment variable; offline, only
        the cache is used."""
        from ._hub import fetch_snapshot

        on_gpu = _on_gpu(providers) if precision is None and file is None else False
        snapshot = fetch_snapshot(
            repo_id,
            revision=revision,
            precision=precision,
            file=file,
            offline=offline,
            cache_dir=cache_dir,
            on_gpu=on_gpu,
        )
        model = cls.from_dir(
            snapshot,
            precision=precision,
            file=file,
            providers=providers,
            # The commit goes into the description (and so into built models' cache keys).
            source=f"hub:{repo_id}@{snapshot.name}",
            name=repo_id.replace("/", "--"),
            on_stage=on_stage,
        )
        return dataclasses.replace(model, source=f"hub:{repo_id}")

    def scorer(self, **options: Any) -> BaseScorer:
        """The scorer for this model's kind, with ``options`` for its constructor."""
        kind = self.description.kind
        if kind == "cross-encoder":
            from ._cross_encoder import CrossEncoderScorer

            return CrossEncoderScorer(self.files, **options)
        if kind == "bi-encoder":
            from ._bi_encoder import bi_encoder_scorer

            return bi_encoder_scorer(self.files, **options)
        from ._decoder import DecoderRerankerScorer

        return DecoderRerankerScorer(self.files, **options)
