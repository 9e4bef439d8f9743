"""A ctxcompress model directory built from a Hugging Face model without torch.

``build_model_dir`` reads ``config.json``, the safetensors weights and ``tokenizer.json``,
writes the ONNX graph (``_bert`` + ``_heads``), then gives it what the torch export gives
its graph: onnxruntime's transformer fusion (cross-encoders), the last layer cut down to
the first position (cross-encoders), int8 dynamic quantisation and an fp16 copy. The
fused graph is compared with the unfused one on sample inputs before anything is kept,
as the exporter compares its graph with PyTorch. Everything is written to a temporary
directory beside the target and renamed into place, so a failure (a truncated
checkpoint, an interrupted build) leaves nothing half-written.
"""

from __future__ import annotations

import logging
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ...._exceptions import CtxCompressError, InvalidInputError, MissingDependencyError
from .._description import DESCRIPTION_FILE, ModelDescription
from .._export import _declared_inputs, _to_fp16
from .._prune import prune_last_layer_to_first_token
from .._quiet import quietly
from ._bert import INPUT_IDS, MASK, TOKEN_TYPES, encoder
from ._heads import EMBEDDINGS, LOGITS, TOKEN_EMBEDDINGS, classifier, pooled
from ._spec import Kind, ModelSpec, Pooling, read_pooling, read_spec
from ._weights import Weights, load_weights
from ._writer import GraphWriter

__all__ = ["OPSET", "BuildReport", "build_graph", "build_model_dir"]

OPSET = 17
# Protocol buffers stop at 2 GiB: graphs with more weights than this keep them in
# model.onnx.data beside model.onnx (bge-reranker-v2-m3 has 2.2 GB in fp32).
EXTERNAL_DATA_BYTES = 1_800_000_000
EXTERNAL_DATA_FILE = "model.onnx.data"


@dataclass(frozen=True)
class BuildReport:
    """What :func:`build_model_dir` wrote and how the graph was post-processed."""

    out_dir: Path
    kind: Kind
    architecture: str
    files: tuple[str, ...]
    fused: bool
    pruned: bool
    # Largest |difference| of the first output between the fused (and pruned) graph and
    # the graph as built, on the sample inputs; 0.0 when it was not fused.
    max_abs_diff: float


def _require() -> Any:
    """The onnx module, once onnx and onnxruntime (fusion, quantisation) are known to be
    installed: a missing one is named before any work."""
    try:
        import onnx
        import onnxruntime  # noqa: F401
    except ImportError as exc:
        raise MissingDependencyError(exc.name or "onnx", "cpu", "building ONNX graphs") from exc
    return onnx


def build_graph(spec: ModelSpec, weights: Weights, pooling: Pooling | None = None) -> Any:
    """The ``onnx.ModelProto`` of ``spec``'s model with ``weights`` (a cross-encoder's
    logits, or a bi-encoder's pooled embeddings with ``pooling``, mean by default)."""
    _require()
    from onnx import TensorProto, helper

    g = GraphWriter()
    hidden = encoder(g, spec, weights)
    if spec.kind == "cross-encoder":
        classifier(g, spec, weights, hidden)
        outputs = [
            helper.make_tensor_value_info(LOGITS, TensorProto.FLOAT, ["batch", spec.num_labels])
        ]
    else:
        pooled(g, pooling or Pooling(), hidden)
        outputs = [
            helper.make_tensor_value_info(EMBEDDINGS, TensorProto.FLOAT, ["batch", spec.hidden]),
            helper.make_tensor_value_info(
                TOKEN_EMBEDDINGS, TensorProto.FLOAT, ["batch", "sequence", spec.hidden]
            ),
        ]
    names = [INPUT_IDS, MASK] + ([TOKEN_TYPES] if spec.family == "bert" else [])
    inputs = [
        helper.make_tensor_value_info(n, TensorProto.INT64, ["batch", "sequence"]) for n in names
    ]
    graph = helper.make_graph(
        g.nodes, f"{spec.model_type}-{spec.kind}", inputs, outputs, g.initializers
    )
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", OPSET)],
        producer_name="ctxcompress",
    )
    model.ir_version = min(model.ir_version, 9)  # readable by onnxruntime >= 1.17
    return model


@quietly
def build_model_dir(
    src_dir: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    *,
    kind: Kind | None = None,
    int8: bool = True,
    fp16: bool = False,
    fuse: bool | None = None,
    max_length: int | None = None,
    tolerance: float = 1e-4,
) -> BuildReport:
    """Build the ctxcompress model directory ``out_dir`` (new, or an empty directory)
    from the Hugging Face model directory ``src_dir`` (config.json, model.safetensors,
    tokenizer.json; for bi-encoders the sentence-transformers files when present).

    ``kind`` None takes it from config.json's architecture (``*ForSequenceClassification``:
    cross-encoder). ``fuse`` None fuses cross-encoders only, as the torch export does
    (the default scorer's weights were fitted on the unfused bi-encoder). ``max_length``
    defaults to the model's positions (at most 512; a bi-encoder's
    sentence_bert_config.json max_seq_length when it has one). Raises
    ``UnsupportedModelError`` for architectures the builder lacks (use ``ctxcompress
    export``), ``InvalidInputError`` for a missing or corrupt file, and
    ``CtxCompressError`` if the fused graph differs from the built one by more than
    ``tolerance``; nothing is left in ``out_dir`` then.
    """
    onnx = _require()
    src, out = Path(src_dir).expanduser(), Path(out_dir).expanduser()
    if not src.is_dir():
        raise InvalidInputError(f"{src} is not a directory")
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise InvalidInputError(f"{out} exists and is not an empty directory")
    spec = read_spec(src, kind)
    if spec.kind == "cross-encoder" and spec.num_labels not in (1, 2):
        raise InvalidInputError(
            f"{src}: {spec.num_labels} labels; a reranker has one (sigmoid) or two (softmax)"
        )
    if not (src / "tokenizer.json").is_file():
        raise InvalidInputError(
            f"{src} has no tokenizer.json (a fast tokenizer is needed; save one with "
            "transformers' AutoTokenizer.save_pretrained)"
        )
    pooling = read_pooling(src) if spec.kind == "bi-encoder" else None
    limit = _limit(spec, pooling, max_length, src)
    fuse = spec.kind == "cross-encoder" if fuse is None else fuse
    model = build_graph(spec, load_weights(src), pooling)

    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out.parent, prefix=f".{out.name}.build-") as tmp:
        staging = Path(tmp) / "model"
        staging.mkdir()
        onnx_file = staging / "model.onnx"
        external = _save(onnx, model, onnx_file)
        del model  # the weights live in the file now; a large model's copy is 2 GB
        diff, pruned = 0.0, False
        if fuse:
            feeds = _sample_feeds(spec, limit)
            before = _run(onnx_file, feeds)
            _fuse(onnx_file, spec, external)
            # The head reads the first position only: the last layer computes just that
            # one. _prune loads and saves the graph whole, so not for external data.
            if spec.kind == "cross-encoder" and not external:
                pruned = prune_last_layer_to_first_token(onnx_file)
            diff = float(np.max(np.abs(_run(onnx_file, feeds) - before)))
            if not diff <= tolerance:
                raise CtxCompressError(
                    f"the fused graph of {src} differs from the built one by {diff:.3g} "
                    f"(> {tolerance:g}); nothing written"
                )
        _save_tokenizer(src / "tokenizer.json", staging / "tokenizer.json")
        description = ModelDescription(
            kind=spec.kind,
            activation=_activation(spec),
            max_length=limit,
            input_names=_declared_inputs(onnx_file),
            license=spec.license,
            source=str(src),
        )
        (staging / DESCRIPTION_FILE).write_text(description.model_dump_json(indent=2) + "\n")
        if int8:
            _quantize_int8(onnx_file, staging / "model_int8.onnx", external)
        if fp16:
            _to_fp16(staging)
        files = tuple(sorted(f.name for f in staging.iterdir()))
        _move_into_place(staging, out)
    return BuildReport(out, spec.kind, spec.architecture, files, fuse, pruned, diff)


def _activation(spec: ModelSpec) -> Any:
    if spec.kind == "bi-encoder":
        return "none"
    return "softmax" if spec.num_labels == 2 else "sigmoid"


def _limit(spec: ModelSpec, pooling: Pooling | None, max_length: int | None, src: Path) -> int:
    usable = spec.usable_positions
    if max_length is not None:
        if not 8 <= max_length <= usable:
            raise InvalidInputError(
                f"max_length must be between 8 and {usable} for {src} (its positions), "
                f"got {max_length}"
            )
        return max_length
    preferred = pooling.max_length if pooling and pooling.max_length else usable
    return max(8, min(preferred, usable, 512))


def _save(onnx: Any, model: Any, path: Path) -> bool:
    """Save ``model``, its weights beside it when too large for one protobuf; returns
    whether they went to external data."""
    size = sum(len(t.raw_data) for t in model.graph.initializer)
    external = size > EXTERNAL_DATA_BYTES
    onnx.save_model(
        model,
        str(path),
        save_as_external_data=external,
        all_tensors_to_one_file=True,
        location=EXTERNAL_DATA_FILE,
    )
    # A malformed graph is the builder's bug: say so here rather than at scoring time.
    onnx.checker.check_model(str(path))
    return external


def _fuse(onnx_file: Path, spec: ModelSpec, external: bool) -> None:
    """onnxruntime's BERT fusion (attention, embedding + LayerNorm, bias + GELU, skip +
    LayerNorm), in place, as ``_export._fuse_transformer_ops`` does for torch exports;
    that one imports torch (through onnxruntime, see below) and cannot keep external
    data."""
    from onnxruntime.transformers.optimizer import optimize_model

    # It warns that the producer is not "pytorch": true, and the fusion is checked below.
    quiet = logging.getLogger("onnxruntime.transformers.optimizer")
    level = quiet.level
    quiet.setLevel(logging.ERROR)
    try:
        # opt_level 0: the Python fusions alone. Level 1 (the default for "bert") first
        # runs onnxruntime's basic optimisations through a function that imports torch
        # (to ask whether it is a ROCm build); the built graph has none of the export
        # clutter those would fold away.
        optimized = optimize_model(
            str(onnx_file),
            model_type="bert",
            num_heads=spec.heads,
            hidden_size=spec.hidden,
            opt_level=0,
        )
    finally:
        quiet.setLevel(level)
    if external:
        (onnx_file.parent / EXTERNAL_DATA_FILE).unlink()
    optimized.save_model_to_file(str(onnx_file), use_external_data_format=external)


def _quantize_int8(source: Path, target: Path, external: bool) -> None:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    # The parameters of the torch export's int8 file (see _export._export).
    quantize_dynamic(
        str(source),
        str(target),
        weight_type=QuantType.QInt8,
        per_channel=True,
        use_external_data_format=external,
        # Fused ops (Attention, SkipLayerNormalization) defeat shape inference.
        extra_options={"DefaultTensorType": 1},  # onnx.TensorProto.FLOAT
    )


def _save_tokenizer(source: Path, target: Path) -> None:
    """The repo's tokenizer.json without the padding and truncation some repos store
    (all-MiniLM-L6-v2 pads to 128): the scorers set their own."""
    try:
        from tokenizers import Tokenizer
    except ImportError as exc:
        raise MissingDependencyError("tokenizers", "cpu", "building ONNX models") from exc
    try:
        tokenizer = Tokenizer.from_file(str(source))
    except Exception as exc:  # the Rust library raises plain Exceptions
        raise InvalidInputError(f"{source} is not a readable tokenizer: {exc}") from exc
    tokenizer.no_padding()
    tokenizer.no_truncation()
    tokenizer.save(str(target))


def _sample_feeds(spec: ModelSpec, limit: int) -> dict[str, np.ndarray[Any, Any]]:
    """Three padded rows of seeded random ids (one full, two shorter), for comparing the
    graph before and after fusion."""
    rng = np.random.default_rng(0)
    width = min(limit, 24)
    lengths = [width, max(2, width - 7), 2]
    ids = np.full((3, width), spec.pad_id, dtype=np.int64)
    mask = np.zeros((3, width), dtype=np.int64)
    types = np.zeros((3, width), dtype=np.int64)
    for row, n in enumerate(lengths):
        ids[row, :n] = rng.integers(0, spec.vocab, n)
        mask[row, :n] = 1
        if spec.type_vocab > 1:
            types[row, n // 2 : n] = 1
    feeds = {INPUT_IDS: ids, MASK: mask}
    if spec.family == "bert":
        feeds[TOKEN_TYPES] = types
    return feeds


def _run(onnx_file: Path, feeds: dict[str, np.ndarray[Any, Any]]) -> np.ndarray[Any, Any]:
    import onnxruntime

    session = onnxruntime.InferenceSession(str(onnx_file), providers=["CPUExecutionProvider"])
    return np.asarray(session.run(None, feeds)[0])


def _move_into_place(staging: Path, out: Path) -> None:
    """One rename (staging is beside ``out``, on the same file system): ``out`` holds
    either nothing or the whole model."""
    if out.is_dir():
        out.rmdir()  # empty (checked above); a rename cannot replace it on every OS
    try:
        os.replace(staging, out)
    except OSError as exc:  # another build of the same directory finished first
        raise InvalidInputError(f"cannot move the built model into {out}: {exc}") from exc
