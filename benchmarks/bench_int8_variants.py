"""Benchmark (not a test): dynamic int8 quantisation variants of the cross-encoder, CPU.

Builds the MiniLM-L6-shaped cross-encoder of ``bench_cross_encoder.py`` (fused, last layer
pruned), quantises its fp32 graph in several ways with onnxruntime's ``quantize_dynamic``,
and times every variant in interleaved rounds on the same full 512-token pairs, one pair
per run (as ``CrossEncoderScorer`` runs int8 graphs), beside the largest |Δ logit| from the
fp32 graph. The weights are random, so only the speed and the size of the error mean
anything; ranking quality is checked by the golden tests on real-shaped models.

    python benchmarks/bench_int8_variants.py [--pairs 16] [--repeat 3] [--threads N]

To see what a CPU with AVX-512 VNNI but no AMX (e.g. AMD Zen 4) gets on a Sapphire Rapids
or newer Intel machine, refuse onnxruntime's request for AMX tile state with an
LD_PRELOAD shim (docs/benchmarks.md shows the 20-line one used).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from _interleave import interleaved_rounds, median_ratio, median_seconds
from bench_cross_encoder import build_model, make_pairs


def variants(fp32: Path, shipped: Path, out: Path) -> dict[str, Path]:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    options: dict[str, dict[str, Any]] = {
        "int8 weights, per tensor": {"weight_type": QuantType.QInt8, "per_channel": False},
        "int8 weights, per channel, reduce_range": {
            "weight_type": QuantType.QInt8,
            "per_channel": True,
            "reduce_range": True,
        },
        "uint8 weights, per channel": {"weight_type": QuantType.QUInt8, "per_channel": True},
        "int8 weights, MatMul only (attention fp32)": {
            "weight_type": QuantType.QInt8,
            "per_channel": True,
            "op_types_to_quantize": ["MatMul"],
        },
    }
    files = {"shipped: int8 weights, per channel": shipped}
    for i, (name, kwargs) in enumerate(options.items()):
        target = out / f"variant{i}.onnx"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            # Fused ops (Attention, SkipLayerNormalization) defeat shape inference.
            quantize_dynamic(
                str(fp32), str(target), extra_options={"DefaultTensorType": 1}, **kwargs
            )
        files[name] = target
    return files


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=16)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()

    import onnxruntime as ort
    from tokenizers import Tokenizer

    with tempfile.TemporaryDirectory() as tmp:
        _, onnx_dir = build_model(Path(tmp))
        fp32 = onnx_dir / "model.onnx"
        files = {"fp32": fp32, **variants(fp32, onnx_dir / "model_int8.onnx", Path(tmp))}
        tokenizer = Tokenizer.from_file(str(onnx_dir / "tokenizer.json"))
        tokenizer.enable_truncation(512, strategy="only_second")
        feeds = []
        for query, passage in make_pairs(args.pairs):
            e = tokenizer.encode(query, passage)
            feeds.append(
                {
                    "input_ids": np.array([e.ids], np.int64),
                    "attention_mask": np.array([e.attention_mask], np.int64),
                    "token_type_ids": np.array([e.type_ids], np.int64),
                }
            )
        engines: dict[str, Callable[[], object]] = {}
        logits: dict[str, np.ndarray[Any, Any]] = {}
        for name, path in files.items():
            options = ort.SessionOptions()
            options.intra_op_num_threads = args.threads
            session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
            inputs = [i.name for i in session.get_inputs()]

            def run(s: Any = session, names: list[str] = inputs) -> np.ndarray[Any, Any]:
                return np.array(
                    [s.run(None, {n: f[n] for n in names})[0].ravel()[0] for f in feeds]
                )

            logits[name] = run()
            engines[name] = run
        rounds = interleaved_rounds(engines, args.repeat)
    seconds = median_seconds(rounds)
    print(
        f"{args.pairs} pairs of 512 tokens, one per run, {args.threads} threads, median of "
        f"{args.repeat} interleaved rounds\n"
    )
    print("| graph | pairs/s | vs fp32 | max abs logit difference from fp32 |")
    print("| --- | --- | --- | --- |")
    for name in files:
        error = float(np.abs(logits[name] - logits["fp32"]).max())
        ratio = median_ratio(rounds, "fp32", name)
        print(f"| {name} | {args.pairs / seconds[name]:.1f} | {ratio:.2f}x | {error:.4f} |")


if __name__ == "__main__":
    main()
