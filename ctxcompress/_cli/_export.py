"""``ctxcompress export``: a Hugging Face model to a ctxcompress model directory."""

from __future__ import annotations

import argparse

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
        choices=["cross-encoder", "bi-encoder"],
        default="cross-encoder",
        help="cross-encoder (logits) or bi-encoder (mean-pooled, normalised embeddings); "
        "decoder rerankers are not exportable yet",
    )
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
    from .._onnx._export import export_bi_encoder, export_cross_encoder

    export = export_bi_encoder if args.kind == "bi-encoder" else export_cross_encoder
    try:
        report = export(
            args.src,
            args.out,
            int8=args.int8,
            fp16=args.fp16,
            max_length=args.max_length,
            tolerance=args.tolerance,
        )
    except InvalidInputError as exc:
        raise UsageError(str(exc)) from exc
    print(f"exported {args.src} -> {report.out_dir}: {', '.join(report.files)}")
    print(
        f"max |{'embedding' if args.kind == 'bi-encoder' else 'logit'} difference| against "
        f"PyTorch on the sample pairs: {report.max_abs_logit_diff:.3g}"
    )
    return 0
