"""Cutting a fused cross-encoder's last layer down to the position its head reads."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from ctxcompress._scorers._onnx._prune import prune_last_layer_to_first_token  # noqa: E402

FIXTURES = Path(__file__).parent / "fixtures"


def test_an_unfused_graph_is_left_as_it_is(tmp_path: Path) -> None:
    # The committed tiny fixture was exported without fusion: no Attention op to rewrite.
    model = tmp_path / "model.onnx"
    original = (FIXTURES / "tiny-bert-cross-encoder" / "model.onnx").read_bytes()
    model.write_bytes(original)
    assert prune_last_layer_to_first_token(model) is False
    assert model.read_bytes() == original


def test_a_graph_read_at_every_position_is_left_as_it_is(tmp_path: Path) -> None:
    # A fused graph whose output is the whole last hidden state (a bi-encoder, a token
    # classifier) needs every position of the last layer.
    from onnx import TensorProto, helper

    hidden, heads = 8, 2
    rng = np.random.default_rng(0)

    def weight(name: str, *shape: int) -> onnx.TensorProto:
        return onnx.numpy_helper.from_array(rng.normal(size=shape).astype(np.float32), name)

    nodes = [
        helper.make_node("Cast", ["attention_mask"], ["mask"], to=TensorProto.INT32),
        helper.make_node(
            "Attention",
            ["x", "qkv_w", "qkv_b", "mask"],
            ["att"],
            domain="com.microsoft",
            num_heads=heads,
        ),
        helper.make_node("MatMul", ["att", "proj_w"], ["proj"]),
        helper.make_node(
            "SkipLayerNormalization", ["proj", "x", "g", "b"], ["ln1"], domain="com.microsoft"
        ),
        helper.make_node("MatMul", ["ln1", "up_w"], ["up"]),
        helper.make_node("BiasGelu", ["up", "up_b"], ["act"], domain="com.microsoft"),
        helper.make_node("MatMul", ["act", "down_w"], ["down"]),
        helper.make_node(
            "SkipLayerNormalization", ["down", "ln1", "g", "b"], ["out"], domain="com.microsoft"
        ),
    ]
    graph = helper.make_graph(
        nodes,
        "every-position",
        [
            helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", "seq", hidden]),
            helper.make_tensor_value_info("attention_mask", TensorProto.INT64, ["batch", "seq"]),
        ],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, ["batch", "seq", hidden])],
        [
            weight("qkv_w", hidden, 3 * hidden),
            weight("qkv_b", 3 * hidden),
            weight("proj_w", hidden, hidden),
            weight("g", hidden),
            weight("b", hidden),
            weight("up_w", hidden, 2 * hidden),
            weight("up_b", 2 * hidden),
            weight("down_w", 2 * hidden, hidden),
        ],
    )
    path = tmp_path / "model.onnx"
    onnx.save(
        helper.make_model(
            graph,
            opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("com.microsoft", 1)],
            ir_version=8,  # what torch.onnx writes at opset 17; onnxruntime reads it
        ),
        str(path),
    )
    original = path.read_bytes()
    assert prune_last_layer_to_first_token(path) is False
    assert path.read_bytes() == original
    ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])  # a valid graph
