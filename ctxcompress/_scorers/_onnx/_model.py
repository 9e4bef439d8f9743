"""A ctxcompress model directory as a value: found on disk or in the Hugging Face cache.

``Model.from_dir(path)`` checks the layout (``ctxcompress.json``, ``tokenizer.json``, at
least one ``model*.onnx``); ``Model.from_hub(repo_id)`` downloads only those files with
``huggingface_hub`` when online and falls back to the local cache offline, with an error
that says which of the two failed and why. ``model.scorer(**options)`` builds the scorer
the description's ``kind`` calls for.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..._exceptions import CtxCompressError, InvalidInputError, MissingDependencyError
from .._base import BaseScorer
from ._description import PRECISION_FILES, ModelDescription, read_description

__all__ = ["Model"]

# What a scorer reads from a model directory; everything else in a hub repo is skipped.
_FILES = ["ctxcompress.json", "tokenizer.json", *PRECISION_FILES.values()]
_TRUE = ("1", "true", "yes", "on")


@dataclass(frozen=True)
class Model:
    path: Path
    description: ModelDescription
    source: str

    @classmethod
    def from_dir(cls, path: str | os.PathLike[str]) -> Model:
        root = Path(path).expanduser()
        if not root.is_dir():
            raise InvalidInputError(f"{root} is not a directory")
        description = read_description(root)
        if not (root / "tokenizer.json").is_file():
            raise InvalidInputError(f"{root} has no tokenizer.json")
        if not any((root / f).is_file() for f in PRECISION_FILES.values()):
            raise InvalidInputError(
                f"{root} has no ONNX model ({', '.join(PRECISION_FILES.values())})"
            )
        return cls(root, description, str(root))

    @classmethod
    def from_hub(
        cls,
        repo_id: str,
        *,
        revision: str | None = None,
        cache_dir: str | os.PathLike[str] | None = None,
        offline: bool | None = None,
    ) -> Model:
        """Download (or find in the local cache) a ctxcompress model directory on the hub.

        ``offline`` defaults to the ``HF_HUB_OFFLINE`` environment variable; offline, only
        the cache is used.
        """
        try:
            from huggingface_hub import snapshot_download
        except ImportError as exc:
            raise MissingDependencyError("huggingface_hub", "hub", "hub: models") from exc
        if not repo_id or repo_id.count("/") != 1:
            raise InvalidInputError(f"hub models are named <owner>/<name>, got {repo_id!r}")
        if offline is None:
            offline = os.environ.get("HF_HUB_OFFLINE", "").lower() in _TRUE
        options: dict[str, Any] = {
            "revision": revision,
            "cache_dir": cache_dir,
            "allow_patterns": _FILES,
        }
        online_error: Exception | None = None
        if not offline:
            try:
                path = snapshot_download(repo_id, **options)
                return cls._found(Path(path), repo_id)
            except Exception as exc:  # network, auth, missing repo: try the cache next
                online_error = exc
        try:
            path = snapshot_download(repo_id, local_files_only=True, **options)
        except Exception as exc:
            reason = (
                f"the hub could not be reached or refused it ({type(online_error).__name__}: "
                f"{online_error})"
                if online_error is not None
                else "offline (HF_HUB_OFFLINE)"
            )
            raise CtxCompressError(
                f"cannot load hub:{repo_id}: {reason}, and it is not in the local Hugging "
                f"Face cache ({type(exc).__name__})"
            ) from exc
        return cls._found(Path(path), repo_id)

    @classmethod
    def _found(cls, path: Path, repo_id: str) -> Model:
        model = cls.from_dir(path)
        return cls(model.path, model.description, f"hub:{repo_id}")

    def scorer(self, **options: Any) -> BaseScorer:
        """The scorer for this model's kind, with ``options`` for its constructor."""
        kind = self.description.kind
        if kind == "cross-encoder":
            from ._cross_encoder import CrossEncoderScorer

            return CrossEncoderScorer(self.path, **options)
        if kind == "bi-encoder":
            from ._bi_encoder import bi_encoder_scorer

            return bi_encoder_scorer(self.path, **options)
        from ._decoder import DecoderRerankerScorer

        return DecoderRerankerScorer(self.path, **options)
