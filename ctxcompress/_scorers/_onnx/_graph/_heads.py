"""What follows the encoder: a cross-encoder's classification head (logits) or a
bi-encoder's pooling and L2 normalisation (one embedding per text).

Output names are those of the torch export, which the runtime reads: ``logits`` for a
cross-encoder; ``embeddings`` then ``token_embeddings`` (the last hidden state) for a
bi-encoder.
"""

from __future__ import annotations

import numpy as np

from ._bert import MASK
from ._spec import ModelSpec, Pooling
from ._weights import Weights
from ._writer import GraphWriter

__all__ = ["EMBEDDINGS", "LOGITS", "TOKEN_EMBEDDINGS", "classifier", "pooled"]

LOGITS, EMBEDDINGS, TOKEN_EMBEDDINGS = "logits", "embeddings", "token_embeddings"
# sentence-transformers' max pooling fills padded positions with -1e9 before the max.
_MAX_POOL_FILL = -1e9


def _first_token(g: GraphWriter, hidden: str) -> str:
    # A Gather at index 0 of axis 1: the form _prune recognises as "reads only the first
    # position", which lets the last layer be cut down to that position.
    return g.op("Gather", hidden, g.shared("index0", 0, np.int64), axis=1)


def _dense(g: GraphWriter, w: Weights, name: str, x: str, rows: int, cols: int) -> str:
    weight = w.get(f"{name}.weight", (rows, cols))
    bias = w.get(f"{name}.bias", (rows,))
    y = g.op("MatMul", x, g.const(f"{name}.weight_t", weight.T))
    return g.op("Add", y, g.const(f"{name}.bias", bias))


def classifier(g: GraphWriter, spec: ModelSpec, w: Weights, hidden: str) -> str:
    """The sequence-classification head on the first token: BERT's pooler (dense + tanh)
    then ``classifier``; RoBERTa's ``classifier.dense`` + tanh then
    ``classifier.out_proj``. Returns ``logits`` (batch × num_labels)."""
    h, labels = spec.hidden, spec.num_labels
    first = _first_token(g, hidden)
    if spec.family == "bert":
        pooled = g.op("Tanh", _dense(g, w, f"{w.prefix}pooler.dense", first, h, h))
        logits = _dense(g, w, "classifier", pooled, labels, h)
    else:
        pooled = g.op("Tanh", _dense(g, w, "classifier.dense", first, h, h))
        logits = _dense(g, w, "classifier.out_proj", pooled, labels, h)
    return g.op("Identity", logits, out=LOGITS)


def pooled(g: GraphWriter, pooling: Pooling, hidden: str) -> tuple[str, str]:
    """``embeddings`` (batch × hidden: pooled, then L2-normalised) and ``token_embeddings``
    (the last hidden state, as it is).

    The embedding is always normalised, whether or not the repo lists a Normalize
    module: the bi-encoder scorer takes a dot product as the cosine, as it does for the
    torch export (which normalises too)."""
    if pooling.mode == "cls":
        vector = _first_token(g, hidden)
    else:
        mask = g.op("Cast", g.op("Unsqueeze", MASK, g.shared("axes_last", [-1], np.int64)), to=1)
        if pooling.mode == "max":
            keep = g.op("Cast", mask, to=9)  # BOOL
            fill = g.shared("max_pool_fill", _MAX_POOL_FILL, np.float32)
            vector = g.op("ReduceMax", g.op("Where", keep, hidden, fill), axes=[1], keepdims=0)
        else:
            axis = g.shared("axes1", [1], np.int64)
            summed = g.op("ReduceSum", g.op("Mul", hidden, mask), axis, keepdims=0)
            count = g.op("ReduceSum", mask, axis, keepdims=0)
            count = g.op("Max", count, g.shared("count_floor", 1e-9, np.float32))
            if pooling.mode == "mean_sqrt_len":
                count = g.op("Sqrt", count)
            vector = g.op("Div", summed, count)
    # torch.nn.functional.normalize: x / max(||x||, 1e-12)
    norm = g.op("ReduceL2", vector, axes=[1], keepdims=1)
    norm = g.op("Max", norm, g.shared("norm_floor", 1e-12, np.float32))
    embeddings = g.op("Div", vector, norm, out=EMBEDDINGS)
    tokens = g.op("Identity", hidden, out=TOKEN_EMBEDDINGS)
    return embeddings, tokens
