"""``ctxcompress export``: a Hugging Face model to a ctxcompress model directory."""

from __future__ import annotations

import argparse
from pathlib import Path

from .._exceptions import InvalidInputError
from ._common import UsageError

__all__ = ["add_parser"]


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "export", help="export a Hugging Face cross-encoder or bi-encoder to ONNX (extra: export)"
    )
    p.add_argument("src", help="a save_pretrained directory or a hub id (online)")
    p.add_argument("out", help="the model directory to write (must be new or empty)")
    p.add_argument(
        "--kind",
        choices=["cross-encoder", "bi-encoder", "decoder-reranker"],
        default="cross-encoder",
        help="cross-encoder (logits), bi-encoder (mean-pooled, normalised embeddings) or "
        "decoder-reranker (a causal LM answering yes/no; last-position logits)",
    )
    d = p.add_argument_group("decoder rerankers")
    d.add_argument(
        "--template",
        metavar="FILE",
        help="prompt template file with {instruction}, {query} and {document} slots "
        "(default: Qwen3-Reranker's)",
    )
    d.add_argument("--instruction", help="the default instruction for the template's slot")
    d.add_argument("--yes-token", default="yes", help="the token whose logit scores (default yes)")
    d.add_argument(
        "--no-token",
        default="no",
        help="the opposing token for softmax([no, yes]); 'none' scores "
        "sigmoid(logit(yes) / --logit-scale) (zerank-style)",
    )
    d.add_argument("--logit-scale", type=float, default=1.0, help="zerank uses 5")
    p.add_argument("--int8", action="store_true", help="also write model_int8.onnx (CPU)")
    p.add_argument("--fp16", action="store_true", help="also write model_fp16.onnx (GPU)")
    p.add_argument(
        "--max-length", type=int, help="the model's window (default: its own, at most 512)"
    )
    p.add_argument(
        "--tolerance",
        type=float,
        default=1e-4,
        help="largest accepted |logit difference| against PyTorch",
    )
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from .._scorers._onnx._export import (
        export_bi_encoder,
        export_cross_encoder,
        export_decoder_reranker,
    )

    common = {
        "int8": args.int8,
        "fp16": args.fp16,
        "max_length": args.max_length,
        "tolerance": args.tolerance,
    }
    try:
        if args.kind == "decoder-reranker":
            template = Path(args.template).read_text(encoding="utf-8") if args.template else None
            report = export_decoder_reranker(
                args.src,
                args.out,
                prompt_template=template,
                default_instruction=args.instruction,
                yes_token=args.yes_token,
                no_token=None if args.no_token.lower() == "none" else args.no_token,
                logit_scale=args.logit_scale,
                **common,
            )
        else:
            export = export_bi_encoder if args.kind == "bi-encoder" else export_cross_encoder
            report = export(args.src, args.out, **common)
    except (InvalidInputError, OSError) as exc:
        raise UsageError(str(exc)) from exc
    print(f"exported {args.src} -> {report.out_dir}: {', '.join(report.files)}")
    print(
        f"max |{'embedding' if args.kind == 'bi-encoder' else 'logit'} difference| against "
        f"PyTorch on the sample pairs: {report.max_abs_logit_diff:.3g}"
    )
    return 0
