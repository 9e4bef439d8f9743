"""``ctxcompress compress``: select the pages of a document that matter to some criteria."""

from __future__ import annotations

import argparse
import json
from dataclasses import replace

from .._chunking import chunk_text, load_document, split_pages
from .._compressor import Compressor
from .._exceptions import InvalidInputError, UsageError
from .._tokens import load_token_counter
from .._types import CompressionResult, Criterion, Page
from ._common import (
    ProgressBar,
    add_compression_options,
    policy_from_args,
    read_criteria_file,
    read_text_arg,
    scorer_from_args,
    show_page_progress,
)

__all__ = ["add_parser"]


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "compress",
        help="keep the pages relevant to each criterion",
        description="Score every page against every criterion and keep what the policy allows.",
    )
    p.add_argument("file", nargs="?", help="a .txt, .md or .pdf file; '-' or nothing reads stdin")
    p.add_argument("--criterion", action="append", default=[], metavar="TEXT", help="repeatable")
    p.add_argument("--criteria", metavar="FILE", help="JSONL / JSON list / one criterion per line")
    p.add_argument("--instruction", help="per-call instruction passed to scorers that accept one")
    add_compression_options(
        p,
        union="token budget for the whole-document context",
        on_error="keep: a criterion whose scoring failed keeps every page (fail open)",
    )
    p.add_argument(
        "--prune",
        choices=["passages"],
        help="keep only the passages of each kept page that matter (sentences, table rows)",
    )
    p.add_argument("--order", choices=["document", "score"], default="document")
    p.add_argument("--format", choices=["json", "markdown", "text"], default="markdown")
    p.add_argument(
        "--chunk-size", type=int, help="cut into chunks of this many characters instead of pages"
    )
    p.add_argument("--overlap", type=int, default=0, help="characters of overlap between chunks")
    p.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    p.set_defaults(run=run)


def _criteria(args: argparse.Namespace) -> list[Criterion]:
    criteria = [Criterion(id=f"c{i}", text=t) for i, t in enumerate(args.criterion)]
    if args.criteria:
        criteria += read_criteria_file(args.criteria, first_index=len(criteria))
    if not criteria:
        raise UsageError("give at least one --criterion TEXT or --criteria FILE")
    if args.instruction:
        criteria = [
            c if c.instruction else replace(c, instruction=args.instruction) for c in criteria
        ]
    return criteria


def _pages(args: argparse.Namespace) -> list[Page]:
    if args.file and args.file != "-":
        return load_document(args.file, chunk_size=args.chunk_size, overlap=args.overlap)
    text, source = read_text_arg(None)
    if not text.strip():
        raise InvalidInputError("document is empty")
    if args.chunk_size:
        return chunk_text(text, size=args.chunk_size, overlap=args.overlap, source=source)
    return split_pages(text, source=source)


def run(args: argparse.Namespace) -> int:
    try:
        policy = policy_from_args(args)
        if args.union_max_tokens is not None and args.union_max_tokens < 1:
            raise InvalidInputError(f"--union-max-tokens must be >= 1, got {args.union_max_tokens}")
        if args.chunk_size is not None and args.chunk_size < 1:
            raise InvalidInputError(f"--chunk-size must be >= 1, got {args.chunk_size}")
        if args.overlap < 0 or (args.chunk_size is not None and args.overlap >= args.chunk_size):
            raise InvalidInputError(
                f"--overlap must be >= 0 and smaller than --chunk-size, got {args.overlap}"
            )
        criteria = _criteria(args)
        counter = load_token_counter(args.tokenizer)
    except InvalidInputError as exc:
        raise UsageError(str(exc)) from exc
    scorer = scorer_from_args(args)
    pages = _pages(args)
    progress = ProgressBar(enabled=not args.no_progress)
    # A long document's pages go through the model before any pair is scored: show that.
    show_page_progress(
        scorer, ProgressBar(enabled=not args.no_progress, unit="pages", label="embedding")
    )
    compressor = Compressor(
        scorer,
        policy,
        counter,
        order=args.order,
        on_error=args.on_error,
        union_max_tokens=args.union_max_tokens,
        progress=progress,
        prune=args.prune,
    )
    try:
        result = compressor.compress(pages, criteria)
    finally:
        progress.close()
    print(render(result, args.format))
    return 0


def render(result: CompressionResult, fmt: str) -> str:
    if fmt == "json":
        return json.dumps(result.to_dict(), indent=2, ensure_ascii=False)
    if fmt == "text":
        return result.union.context()
    return render_markdown(result)


def render_markdown(result: CompressionResult) -> str:
    lines = [
        f"# ctxcompress: {len(result.pages)} pages, scorer `{result.scorer}`, "
        f"policy `{result.policy}`",
        "",
    ]
    for s in result.selections:
        lines.append(f"## {s.criterion.id}: {s.criterion.text}")
        if s.error:
            lines.append(f"**Scoring failed, every page kept:** {s.error}")
        kept = ", ".join(
            f"p{sp.page.label} ({'unscored' if sp.score is None else f'{sp.score:.2f}'}"
            + (f", {len(sp.spans)} spans" if sp.pruned else "")
            + ")"
            for sp in s.kept
        )
        lines.append(f"- kept {len(s.kept)} pages: {kept or 'none'}")
        lines.append(
            f"- characters {s.chars_kept:,} / {s.chars_total:,} ({s.chars_kept_fraction:.1%}), "
            f"tokens {s.tokens_kept:,} / {s.tokens_total:,}"
            + (" (token budget truncated)" if s.truncated_by_budget else "")
        )
        lines.append("")
    u = result.union
    lines.append(
        f"## Whole document: {len(u.pages)} pages kept, characters {u.chars_kept:,} / "
        f"{u.chars_total:,} ({u.chars_kept_fraction:.1%}), tokens {u.tokens_kept:,} / "
        f"{u.tokens_total:,}"
    )
    return "\n".join(lines)
