"""The encoder graph of BERT-family models (BERT, MiniLM, RoBERTa, XLM-RoBERTa).

Built from standard ONNX ops (opset 17) in the shape torch.onnx gives transformers'
eager BERT, so that onnxruntime's BERT optimizer recognises and fuses it exactly as it
fuses a torch export: Q/K/V as MatMul, Add, Reshape, Transpose; scores divided by
sqrt(head size) plus the additive mask (1 - mask) * -10000; GELU as x * (1 + erf(x / sqrt 2))
* 0.5; residual Add then LayerNormalization. Position ids for BERT are a slice of
0..max_positions-1 (the pattern the optimizer fuses into EmbedLayerNormalization).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ._spec import ModelSpec
from ._weights import Weights
from ._writer import GraphWriter

__all__ = ["INPUT_IDS", "MASK", "TOKEN_TYPES", "encoder"]

INPUT_IDS, MASK, TOKEN_TYPES = "input_ids", "attention_mask", "token_type_ids"


def encoder(g: GraphWriter, spec: ModelSpec, w: Weights) -> str:
    """Add the embeddings and every layer to ``g``; returns the last hidden state's name
    (batch × sequence × hidden). Reads ``input_ids`` and ``attention_mask``, and for
    BERT ``token_type_ids``."""
    x = _embeddings(g, spec, w)
    mask_bias = _mask_bias(g)
    for i in range(spec.layers):
        x = _layer(g, spec, w, f"encoder.layer.{i}.", x, mask_bias)
    return x


def _embeddings(g: GraphWriter, spec: ModelSpec, w: Weights) -> str:
    h = spec.hidden
    words = w.encoder("embeddings.word_embeddings.weight", (spec.vocab, h))
    types = w.encoder("embeddings.token_type_embeddings.weight", (spec.type_vocab, h))
    positions = w.encoder("embeddings.position_embeddings.weight", (spec.max_positions, h))
    x = g.op("Gather", g.const("embeddings.word_embeddings.weight", words), INPUT_IDS)
    if spec.family == "bert":
        t = g.op("Gather", g.const("embeddings.token_type_embeddings.weight", types), TOKEN_TYPES)
    else:
        # RoBERTa's tokenizers give no token types: every position adds type 0's row.
        t = g.const("embeddings.token_type_embeddings.row0", types[0])
    x = g.op("Add", x, t)
    x = g.op(
        "Add",
        x,
        g.op(
            "Gather",
            g.const("embeddings.position_embeddings.weight", positions),
            _position_ids(g, spec),
        ),
    )
    return _layer_norm(g, w, "embeddings.LayerNorm", x, spec)


def _position_ids(g: GraphWriter, spec: ModelSpec) -> str:
    if spec.family == "bert":
        # position_ids[:, :sequence], as transformers slices its buffer.
        length = g.op("Gather", g.op("Shape", INPUT_IDS), g.shared("one", 1, np.int64), axis=0)
        end = g.op("Unsqueeze", length, g.shared("axes0", [0], np.int64))
        table = g.const("embeddings.position_ids", np.arange(spec.max_positions)[None, :], np.int64)
        zero, one = g.shared("zeros1", [0], np.int64), g.shared("ones1", [1], np.int64)
        return g.op("Slice", table, zero, end, one, one)
    # RoBERTa numbers real tokens from padding_idx + 1 and gives padding padding_idx.
    # transformers counts the tokens that are not padding in input_ids; the attention
    # mask marks the same tokens (and does not depend on which id the caller pads with).
    counted = g.op("CumSum", MASK, g.shared("one", 1, np.int64))
    return g.op("Add", g.op("Mul", counted, MASK), g.shared("pad_id", spec.pad_id, np.int64))


def _mask_bias(g: GraphWriter) -> str:
    """(1 - mask) * -10000, broadcast over heads and query positions: added to the
    attention scores, it leaves real keys alone and removes padded ones (exp(-10000)
    is 0 in float32, as exp(float32.min) is). -10000 is the value onnxruntime's fused
    Attention uses by default: any other value becomes a mask_filter_value attribute,
    which _prune does not rewrite."""
    m = g.op("Unsqueeze", MASK, g.shared("axes1", [1], np.int64))
    m = g.op("Unsqueeze", m, g.shared("axes2", [2], np.int64))
    m = g.op("Cast", m, to=1)  # FLOAT
    m = g.op("Sub", g.shared("one_f", 1.0, np.float32), m)
    return g.op("Mul", m, g.shared("mask_value", -10000.0, np.float32))


def _linear(g: GraphWriter, w: Weights, name: str, x: str, rows: int, cols: int) -> str:
    """x @ W.T + b for a torch Linear(cols -> rows) stored as ``name``.weight/.bias."""
    weight = w.encoder(f"{name}.weight", (rows, cols))
    bias = w.encoder(f"{name}.bias", (rows,))
    y = g.op("MatMul", x, g.const(f"{name}.weight_t", weight.T))
    return g.op("Add", y, g.const(f"{name}.bias", bias))


def _layer_norm(g: GraphWriter, w: Weights, name: str, x: str, spec: ModelSpec) -> str:
    h = spec.hidden
    scale = g.const(f"{name}.weight", w.encoder(f"{name}.weight", (h,)))
    bias = g.const(f"{name}.bias", w.encoder(f"{name}.bias", (h,)))
    return g.op("LayerNormalization", x, scale, bias, axis=-1, epsilon=spec.eps)


def _layer(g: GraphWriter, spec: ModelSpec, w: Weights, p: str, x: str, mask_bias: str) -> str:
    h, heads = spec.hidden, spec.heads
    size = h // heads
    split = g.shared("shape_heads", [0, 0, heads, size], np.int64)

    def project(part: str, perm: list[int]) -> str:
        y = _linear(g, w, f"{p}attention.self.{part}", x, h, h)
        return g.op("Transpose", g.op("Reshape", y, split), perm=perm)

    q = project("query", [0, 2, 1, 3])
    k = project("key", [0, 2, 3, 1])  # already transposed for q @ k
    v = project("value", [0, 2, 1, 3])
    scores = g.op("Div", g.op("MatMul", q, k), g.shared("sqrt_head", math.sqrt(size), np.float32))
    probs = g.op("Softmax", g.op("Add", scores, mask_bias), axis=-1)
    context = g.op("Transpose", g.op("MatMul", probs, v), perm=[0, 2, 1, 3])
    context = g.op("Reshape", context, g.shared("shape_hidden", [0, 0, h], np.int64))
    attended = _linear(g, w, f"{p}attention.output.dense", context, h, h)
    x = _layer_norm(g, w, f"{p}attention.output.LayerNorm", g.op("Add", attended, x), spec)
    inner = _linear(g, w, f"{p}intermediate.dense", x, spec.intermediate, h)
    inner = _activation(g, spec.activation, inner)
    out = _linear(g, w, f"{p}output.dense", inner, h, spec.intermediate)
    return _layer_norm(g, w, f"{p}output.LayerNorm", g.op("Add", out, x), spec)


def _activation(g: GraphWriter, kind: str, x: str) -> str:
    f32: Any = np.float32
    if kind == "relu":
        return g.op("Relu", x)
    if kind == "gelu":  # exact: x * (1 + erf(x / sqrt 2)) * 0.5
        erf = g.op("Erf", g.op("Div", x, g.shared("sqrt2", math.sqrt(2.0), f32)))
        y = g.op("Mul", x, g.op("Add", erf, g.shared("one_f", 1.0, f32)))
        return g.op("Mul", y, g.shared("half", 0.5, f32))
    # tanh approximation: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))
    cube = g.op("Mul", g.op("Mul", x, x), x)
    inner = g.op("Add", x, g.op("Mul", cube, g.shared("gelu_c", 0.044715, f32)))
    t = g.op("Tanh", g.op("Mul", inner, g.shared("gelu_k", math.sqrt(2.0 / math.pi), f32)))
    y = g.op("Mul", x, g.op("Add", t, g.shared("one_f", 1.0, f32)))
    return g.op("Mul", y, g.shared("half", 0.5, f32))
