"""Skip the last encoder layer's work on positions the classification head never reads.

A BERT-family cross-encoder's head reads only the first token ([CLS] / <s>) of the last
hidden state, yet the exported graph runs the last layer's attention queries, output
projection and feed-forward block for every position: at 512 tokens and 6 layers that is
~14% of the model's arithmetic thrown away. This rewrites a graph already fused by
onnxruntime's BERT optimizer so that the last layer computes keys and values for every
position but queries, projection and feed-forward for the first position only
(onnxruntime's ``MultiHeadAttention`` takes a query shorter than its keys). The result is
the same function; the exporter still compares it with PyTorch before writing anything.

Graphs that do not have the expected shape (a last ``Attention`` followed by MatMul, skip
LayerNorm, MatMul, BiasGelu, MatMul, skip LayerNorm, read only through ``Gather(axis=1,
index 0)``) are left as they are.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["prune_last_layer_to_first_token"]


def prune_last_layer_to_first_token(onnx_file: Path) -> bool:
    """Rewrite ``onnx_file`` in place; returns whether the graph was rewritten."""
    import onnx
    from onnx import helper, numpy_helper

    model = onnx.load(str(onnx_file))
    graph = model.graph
    layer = _last_layer(graph)
    if layer is None or "attention_mask" not in {i.name for i in graph.input}:
        return False
    attention, skip1 = layer
    inits = {t.name: t for t in graph.initializer}
    if attention.input[1] not in inits or attention.input[2] not in inits:
        return False
    # Only the plain encoder form: a padding mask, no past state, no extra bias, no causal
    # or custom-scale attributes (MultiHeadAttention below assumes exactly that).
    if len(attention.input) < 4 or not attention.input[3] or any(attention.input[4:]):
        return False
    if {a.name for a in attention.attribute} != {"num_heads"}:
        return False
    heads = next(
        helper.get_attribute_value(a) for a in attention.attribute if a.name == "num_heads"
    )
    qkv_name = attention.input[1]
    qkv_weight = numpy_helper.to_array(inits[qkv_name])
    hidden = qkv_weight.shape[0]
    if qkv_weight.shape != (hidden, 3 * hidden):
        return False  # unequal Q/K/V sizes (qkv_hidden_sizes): not handled
    x = attention.input[0]

    def name(suffix: str) -> str:
        return f"prune_first_token/{suffix}"

    graph.initializer.extend(
        [
            numpy_helper.from_array(np.ascontiguousarray(qkv_weight[:, :hidden]), name("q_weight")),
            numpy_helper.from_array(
                np.ascontiguousarray(qkv_weight[:, hidden:]), name("kv_weight")
            ),
            numpy_helper.from_array(np.array([0], np.int64), name("zero")),
            numpy_helper.from_array(np.array([1], np.int64), name("one")),
            numpy_helper.from_array(np.array([hidden, hidden], np.int64), name("kv_split")),
        ]
    )
    new_nodes = [
        # The first position of the layer's input: the only query the head needs.
        helper.make_node(
            "Slice", [x, name("zero"), name("one"), name("one")], [name("x0")], name("slice")
        ),
        helper.make_node("MatMul", [name("x0"), name("q_weight")], [name("q")], name("q")),
        helper.make_node("MatMul", [x, name("kv_weight")], [name("kv")], name("kv")),
        helper.make_node(
            "Split", [name("kv"), name("kv_split")], [name("k"), name("v")], name("split"), axis=-1
        ),
        helper.make_node(
            "Cast", ["attention_mask"], [name("mask")], name("mask"), to=onnx.TensorProto.INT32
        ),
        # The packed Q/K/V bias is MultiHeadAttention's own bias input; the mask marks
        # padded keys as the fused Attention's mask did.
        helper.make_node(
            "MultiHeadAttention",
            [name("q"), name("k"), name("v"), attention.input[2], name("mask")],
            [attention.output[0]],
            name("attention"),
            domain="com.microsoft",
            num_heads=heads,
        ),
    ]
    position = list(graph.node).index(attention)
    graph.node.remove(attention)
    if not any(qkv_name in n.input for n in graph.node):
        graph.initializer.remove(inits[qkv_name])
    for offset, node in enumerate(new_nodes):
        graph.node.insert(position + offset, node)
    # The residual around the attention block now carries the first position only.
    skip1.input[1] = name("x0")
    _drop_shapes(graph)
    onnx.save(model, str(onnx_file))
    return True


def _last_layer(graph: Any) -> tuple[Any, Any] | None:
    """The last layer's fused attention and the skip LayerNorm after it (whose residual input
    is the layer's input), if nothing reads the layer's positions other than the first."""
    nodes = list(graph.node)

    def readers(output: str) -> list[Any]:
        return [n for n in nodes if output in n.input]

    attentions = [n for n in nodes if n.op_type == "Attention" and n.domain == "com.microsoft"]
    if not attentions:
        return None
    chain = [attentions[-1]]
    for op in ("MatMul", "SkipLayerNormalization", "MatMul", "BiasGelu", "MatMul"):
        nxt = [n for n in readers(chain[-1].output[0]) if n.op_type == op]
        if len(nxt) != 1 or nxt[0].input[0] != chain[-1].output[0]:
            return None
        chain.append(nxt[0])
    attention, proj, skip1, ffn_in, gelu, ffn_out = chain
    last = [n for n in readers(ffn_out.output[0]) if n.op_type == "SkipLayerNormalization"]
    if len(last) != 1:
        return None
    skip2 = last[0]
    if skip1.input[1] != attention.input[0] or skip2.input[1] != skip1.output[0]:
        return None
    # Every tensor inside the layer feeds the layer only (they will hold one position).
    inside = {id(n) for n in (proj, skip1, ffn_in, gelu, ffn_out, skip2)}
    for node in (attention, proj, skip1, ffn_in, gelu, ffn_out):
        if any(id(r) not in inside for r in readers(node.output[0])):
            return None
    outputs = {o.name for o in graph.output}
    if skip2.output[0] in outputs or any(n.output[0] in outputs for n in chain):
        return None
    final = readers(skip2.output[0])
    if not final or not all(_reads_first_position(n, graph) for n in final):
        return None
    return attention, skip1


def _reads_first_position(node: Any, graph: Any) -> bool:
    from onnx import helper, numpy_helper

    if node.op_type != "Gather":
        return False
    axis = next((helper.get_attribute_value(a) for a in node.attribute if a.name == "axis"), 0)
    if axis != 1:
        return False
    index = node.input[1]
    for init in graph.initializer:
        if init.name == index:
            return bool(numpy_helper.to_array(init).tolist() == 0)
    for const in graph.node:
        if const.op_type == "Constant" and const.output[0] == index:
            value = next(a for a in const.attribute if a.name == "value")
            return bool(numpy_helper.to_array(value.t).tolist() == 0)
    return False


def _drop_shapes(graph: Any) -> None:
    # Intermediate shapes recorded by the exporter say "sequence" where the last layer now
    # has one position; onnxruntime infers them again.
    del graph.value_info[:]
