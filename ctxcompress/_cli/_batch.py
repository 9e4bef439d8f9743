"""``ctxcompress batch``: compress many documents, each with its criteria, into Parquet.

Everything is checked before any work starts (documents, criteria, the output directory,
the scorer); then the local engine runs in this process, or the ray engine on a local or
joined Ray cluster. Output layout and resume rules: ``ctxcompress/_batch/_output.py``.
"""

from __future__ import annotations

import argparse
import functools
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .. import InvalidInputError, load_token_counter
from .._batch._inputs import (
    CriteriaPlan,
    DocumentIndex,
    DocumentSource,
    read_criteria,
    scan_documents,
)
from .._batch._local import run_local
from .._batch._output import OutputDir
from .._batch._work import DocumentWorker, RunStats, onnx_tuning
from .._exceptions import UsageError
from .._version import __version__
from ._common import ProgressBar, add_compression_options, policy_from_args, scorer_from_args

__all__ = ["add_parser"]

# The scorer's flags: what travels to each Ray actor, which builds its own scorer from them.
_SCORER_FLAGS = ("scorer", "cache", "base_url", "rerank_path", "precision", "providers")
# The ray engine's own flags: compress_dataset's arguments of the same names.
_RAY_FLAGS = ("actors", "cpus_per_actor", "gpus_per_actor", "batch_size")


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "batch",
        help="compress many documents into Parquet (local or Ray), resumable",
        description="Compress every document of DOCS against its criteria; write one Parquet "
        "row per (document, criterion) to DIR/selections and one per document to DIR/union.",
    )
    p.add_argument(
        "--documents",
        required=True,
        metavar="DOCS",
        help='JSONL {"doc_id", "pages": [...]} or {"doc_id", "text"} lines, or a Parquet '
        "file or directory with those columns",
    )
    p.add_argument(
        "--criteria",
        required=True,
        metavar="CRITERIA",
        help='JSONL {"id", "criterion", "doc_id"?} lines; without doc_id: every document',
    )
    p.add_argument("--out", required=True, metavar="DIR", help="output directory")
    p.add_argument("--engine", choices=["local", "ray"], default="local")
    p.add_argument(
        "--address",
        metavar="ADDR",
        help="Ray cluster to join (auto, ray://head:10001); default: start a local Ray",
    )
    add_compression_options(
        p,
        union="token budget for each document's whole context",
        on_error="a document whose scoring failed: its rows carry the error and keep no page "
        "(raise, exit code 1) or every page (keep)",
    )
    p.add_argument("--actors", type=int, help="ray: actors (default: all CPUs but one, or GPUs)")
    p.add_argument("--cpus-per-actor", type=float, default=1.0, help="ray: CPUs per actor")
    p.add_argument("--gpus-per-actor", type=float, default=0.0, help="ray: GPUs per actor")
    p.add_argument(
        "--batch-size", type=int, default=64, help="documents per actor call and output block"
    )
    p.add_argument(
        "--resume", action="store_true", help="continue a job in DIR: skip documents done"
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    p.set_defaults(run=run)


def _check_flags(args: argparse.Namespace) -> None:
    if args.batch_size < 1:
        raise UsageError(f"--batch-size must be >= 1, got {args.batch_size}")
    if args.actors is not None and args.actors < 1:
        raise UsageError(f"--actors must be >= 1, got {args.actors}")
    if args.cpus_per_actor < 0 or (args.cpus_per_actor == 0 and args.gpus_per_actor == 0):
        raise UsageError(f"--cpus-per-actor must be > 0, got {args.cpus_per_actor}")
    if args.gpus_per_actor < 0:
        raise UsageError(f"--gpus-per-actor must be >= 0, got {args.gpus_per_actor}")
    if args.engine == "local" and args.address:
        raise UsageError("--address needs --engine ray")


def _inputs(args: argparse.Namespace) -> tuple[DocumentSource, DocumentIndex, CriteriaPlan]:
    for flag, path in (("--documents", args.documents), ("--criteria", args.criteria)):
        if not Path(path).expanduser().exists():
            raise UsageError(f"{flag}: no such file or directory: {path}")
    source = DocumentSource.open(args.documents)
    index = scan_documents(source)
    plan = read_criteria(args.criteria, index)
    return source, index, plan


def run(args: argparse.Namespace) -> int:
    started = time.perf_counter()
    started_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
    _check_flags(args)
    try:
        policy = policy_from_args(args)
        counter = load_token_counter(args.tokenizer)
        # The Compressor validates the budget; fail here, before the job starts.
        if args.union_max_tokens is not None and args.union_max_tokens < 1:
            raise InvalidInputError(f"--union-max-tokens must be >= 1, got {args.union_max_tokens}")
    except InvalidInputError as exc:
        raise UsageError(str(exc)) from exc
    if Path(args.scorer).expanduser().is_dir():
        # Ray workers need not share this directory as their working directory.
        args.scorer = str(Path(args.scorer).expanduser().resolve())
    source, index, plan = _inputs(args)
    scorer = scorer_from_args(args)
    job = {
        "scorer": getattr(scorer, "fingerprint", scorer.name),
        "policy": policy.describe(),
        "union_max_tokens": args.union_max_tokens,
        "token_counter": counter.name,
        "on_error": args.on_error,
    }
    out = OutputDir.prepare(args.out, resume=args.resume, job=job)
    skip = out.done_doc_ids() & set(index.where) if args.resume else set()
    todo = len(index) - len(skip)
    checked = time.perf_counter()
    stats = _run_engine(args, source, plan, out, skip, todo, scorer, policy, counter)
    finished = time.perf_counter()
    totals = out.totals()
    seconds = finished - checked
    manifest: dict[str, Any] = {
        "ctxcompress": __version__,
        "engine": args.engine,
        "documents_file": str(source.path),
        "criteria_file": str(Path(args.criteria).expanduser().resolve()),
        **job,
        "scorer_name": scorer.name,
        "totals": {
            "documents": totals.documents,
            "pairs": totals.pairs,
            "failed_pairs": totals.failed_pairs,
            "failed_documents": totals.failed_documents,
            "blocks": totals.blocks,
        },
        "this_run": {
            "documents": stats.documents,
            "pairs": stats.pairs,
            "failed_pairs": stats.failed_pairs,
            "failed_documents": stats.failed_documents,
            "blocks": stats.blocks,
            "skipped_documents": len(skip),
        },
        "timings": {
            "started": started_at,
            "finished": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "check_s": round(checked - started, 3),
            "run_s": round(seconds, 3),
            "documents_per_s": round(stats.documents / seconds, 3) if seconds else None,
            "pairs_per_s": round(stats.pairs / seconds, 3) if seconds else None,
        },
    }
    out.write_manifest(manifest)
    _summary(stats, len(skip), seconds, out.root)
    if totals.failed_pairs and args.on_error == "raise":
        print(
            f"ctxcompress: error: {totals.failed_pairs} pairs of {totals.failed_documents} "
            f"documents failed; their rows in {out.root / 'selections'} say why",
            file=sys.stderr,
        )
        return 1
    return 0


def _run_engine(
    args: argparse.Namespace,
    source: DocumentSource,
    plan: CriteriaPlan,
    out: OutputDir,
    skip: set[str],
    todo: int,
    scorer: Any,
    policy: Any,
    counter: Any,
) -> RunStats:
    # What both engines do with a document: its failures and its whole-document budget.
    handling = {"on_error": args.on_error, "union_max_tokens": args.union_max_tokens}
    if args.engine == "local":
        worker = DocumentWorker(scorer, policy, counter, **handling)
        bar = ProgressBar(enabled=not args.no_progress, min_total=1, unit="documents")
        try:
            return run_local(
                source,
                plan,
                worker,
                str(out.root),
                skip=skip,
                todo=todo,
                batch_size=args.batch_size,
                progress=bar,
            )
        finally:
            bar.close()
    from .._batch._ray_engine import run_ray  # needs the ray extra

    if todo == 0:
        return RunStats()
    # Each actor builds its own scorer from the same flags, fitted to its CPUs or GPU.
    tuning = onnx_tuning(args.scorer, args.cpus_per_actor, args.gpus_per_actor)
    scorer_flags = argparse.Namespace(**{k: getattr(args, k, None) for k in _SCORER_FLAGS})
    return run_ray(
        source,
        plan,
        str(out.root),
        skip=skip,
        address=args.address,
        scorer=functools.partial(scorer_from_args, scorer_flags, **tuning),
        policy=policy,
        token_counter=args.tokenizer,
        **handling,
        **{flag: getattr(args, flag) for flag in _RAY_FLAGS},
    )


def _summary(stats: RunStats, skipped: int, seconds: float, root: Path) -> None:
    rate = (
        f"{stats.documents / seconds:.1f} documents/s, {stats.pairs / seconds:.1f} pairs/s"
        if seconds > 0
        else "-"
    )
    resumed = f"; {skipped} documents already done" if skipped else ""
    print(
        f"batch: {stats.documents} documents, {stats.pairs} pairs in {seconds:.2f} s ({rate}); "
        f"{stats.failed_pairs} failed pairs in {stats.failed_documents} documents{resumed}"
    )
    print(f"output: {root}")
