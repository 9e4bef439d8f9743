"""Pooling a bi-encoder's last hidden state in numpy, for graphs that stop there.

Hugging Face repositories' own ONNX exports of sentence-transformers models (optimum,
Xenova) output ``last_hidden_state``; sentence-transformers pools it in Python. The
runtime does the same here, as sentence-transformers does, so those files need no
rewriting: mean (padding left out), CLS, max (padding never wins) or mean / sqrt(length),
then L2 normalisation (the scorer takes a dot product as the cosine).
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["pool"]


def pool(
    hidden: np.ndarray[Any, Any], mask: np.ndarray[Any, Any], mode: str
) -> np.ndarray[Any, Any]:
    """(batch × dim) unit vectors from ``hidden`` (batch × tokens × dim) and ``mask``
    (batch × tokens, 1 for a real token)."""
    hidden = np.asarray(hidden, dtype=np.float32)
    weights = mask[:, :, None].astype(np.float32)
    if mode == "cls":
        vectors = hidden[:, 0]
    elif mode == "max":
        vectors = np.where(weights > 0, hidden, np.float32(-1e9)).max(axis=1)
    else:
        summed = (hidden * weights).sum(axis=1)
        count = np.maximum(weights.sum(axis=1), 1e-9)
        vectors = summed / (np.sqrt(count) if mode == "mean_sqrt_len" else count)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    unit: np.ndarray[Any, Any] = vectors / np.maximum(norms, 1e-12)
    return unit
