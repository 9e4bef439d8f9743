"""What every CLI command shares: the usage-error type, input readers, the progress bar."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any, TextIO

from .._cache import SQLiteCache
from .._chunking import decode_text, read_file_bytes
from .._exceptions import InvalidInputError, ModelFileError, UsageError
from .._policies import Policy, build_policy
from .._scorers._base import BaseScorer
from .._scorers._cached import CachedScorer
from .._scorers._registry import load_scorer
from .._types import Criterion

__all__ = [
    "ProgressBar",
    "UsageError",
    "add_compression_options",
    "add_policy_options",
    "add_scorer_option",
    "policy_from_args",
    "read_criteria_file",
    "read_pages_file",
    "read_text_arg",
    "scorer_from_args",
    "show_page_progress",
]


def add_scorer_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--scorer",
        default="default",
        metavar="SPEC",
        help=(
            "scorer spec: default (BM25 + the embedded MiniLM), bm25, bi-encoder, a model "
            "directory, hub:<owner>/<name>, remote:<provider>[/<model>]"
        ),
    )
    parser.add_argument(
        "--cache",
        metavar="FILE",
        help="SQLite file caching pair scores (and, for the default scorer, page embeddings) "
        "across runs, keyed by model, criterion and page text; created if missing; "
        "see `ctxcompress cache`",
    )
    parser.add_argument(
        "--base-url",
        metavar="URL",
        help="base URL of a remote rerank API (default: the provider's environment variable)",
    )
    parser.add_argument(
        "--rerank-path",
        metavar="PATH",
        help="path of a remote rerank API's endpoint under the base URL, where a proxy or "
        "gateway mounts it elsewhere (default: the provider's, e.g. /v2/rerank)",
    )
    parser.add_argument(
        "--precision",
        choices=["fp32", "fp16", "int8"],
        help="which ONNX file of a model to run (default: fp32; int8 for the embedded MiniLM "
        "on a CPU)",
    )
    parser.add_argument(
        "--providers",
        metavar="LIST",
        help="ONNX execution providers: auto, cpu, cuda, or comma-separated provider names",
    )
    parser.add_argument(
        "--device-id",
        type=int,
        metavar="N",
        help="which GPU a local ONNX model runs on (CUDA device index, default 0)",
    )


def add_policy_options(parser: argparse.ArgumentParser) -> None:
    """The policy knobs. Each one given changes that knob of the default policy
    (top_k=5, threshold=0.01, min_keep=1) and keeps the others (see build_policy)."""
    parser.add_argument(
        "--threshold",
        type=float,
        help="keep pages scoring at least this (0..1; default 0.01, 0 switches it off)",
    )
    parser.add_argument(
        "--top-k", type=int, help="keep at most this many pages per criterion (default 5)"
    )
    parser.add_argument("--max-tokens", type=int, help="token budget per criterion (default: none)")
    parser.add_argument(
        "--min-keep",
        type=int,
        help="keep at least this many pages even below the threshold (default 1)",
    )


def policy_from_args(args: argparse.Namespace) -> Policy:
    """The policy asked for by the flags of :func:`add_policy_options`."""
    return build_policy(
        threshold=args.threshold,
        top_k=args.top_k,
        max_tokens=args.max_tokens,
        min_keep=args.min_keep,
    )


TOKENIZER_SPECS = "tiktoken[:<encoding>], tiktoken-model:<model>, hf:<tokenizer.json>, whitespace"


def add_compression_options(parser: argparse.ArgumentParser, *, union: str, on_error: str) -> None:
    """What a command that runs the compressor takes: the scorer, the policy knobs, the
    whole-document budget, the tokenizer and what a failed criterion does; ``union`` and
    ``on_error`` are the help of those two, which the commands word for their output."""
    add_scorer_option(parser)
    add_policy_options(parser)
    parser.add_argument("--union-max-tokens", type=int, help=union)
    parser.add_argument("--tokenizer", default="tiktoken", metavar="SPEC", help=TOKENIZER_SPECS)
    parser.add_argument("--on-error", choices=["raise", "keep"], default="raise", help=on_error)


def scorer_from_args(args: argparse.Namespace, **tuning: object) -> BaseScorer:
    """Build the scorer named by --scorer (and --base-url); bad specs are usage errors.

    ``tuning`` adds options the command line did not set (the batch engine's per-actor
    ONNX threads and provider); options given on the command line win.
    """
    options: dict[str, object] = {}
    if args.base_url:
        options["base_url"] = args.base_url
    if getattr(args, "rerank_path", None):
        options["path"] = args.rerank_path
    if args.precision:
        options["precision"] = args.precision
    if args.providers:
        named = args.providers in ("auto", "cpu", "cuda")
        options["providers"] = args.providers if named else args.providers.split(",")
    if getattr(args, "device_id", None) is not None:
        options["device_id"] = args.device_id
    for key, value in tuning.items():
        options.setdefault(key, value)
    try:
        cache = SQLiteCache(args.cache) if getattr(args, "cache", None) else None
    except InvalidInputError as exc:
        raise UsageError(f"--cache: {exc}") from exc
    if cache is not None and args.scorer.split(":")[0] in ("default", "bi-encoder"):
        # The same file also keeps page embeddings: new criteria on a document seen before
        # skip the model.
        options["cache"] = cache
    try:
        scorer = load_scorer(args.scorer, **options)
    except ModelFileError:
        raise  # the spec was fine; the file it names is damaged: a runtime error
    except InvalidInputError as exc:
        raise UsageError(str(exc)) from exc
    return CachedScorer(scorer, cache) if cache is not None else scorer


def show_page_progress(scorer: object, bar: ProgressBar) -> None:
    """Let a scorer that reports its progress through a long document (the default
    scorer's ``progress`` hook) draw ``bar``; others are left alone."""
    inner = getattr(scorer, "scorer", scorer)  # a CachedScorer wraps the model scorer
    if hasattr(inner, "progress"):
        inner.progress = bar


def read_text_arg(path: str | None, stdin: TextIO | None = None) -> tuple[str, str | None]:
    """Read a file argument ('-' or None means stdin). Returns (text, source name).

    Stdin is read as bytes and decoded as files are (UTF-8, or UTF-16 with a BOM), whatever
    the locale says: under a strict non-UTF-8 locale a text stream would fail mid-read.
    """
    if path is None or path == "-":
        stream = stdin or sys.stdin
        if stream.isatty():
            raise UsageError("no input: give a FILE or pipe text on stdin")
        buffer = getattr(stream, "buffer", None)
        if buffer is None:  # an in-memory text stream (tests): already text
            return stream.read(), None
        return decode_text(buffer.read(), "stdin"), None
    file = Path(path)
    if not file.exists() and not file.is_symlink():
        raise UsageError(f"no such file: {path}")
    return decode_text(read_file_bytes(file), path), str(file)


def read_criteria_file(path: str, first_index: int = 0) -> list[Criterion]:
    """Criteria from a file: JSONL or a JSON list of strings/objects, else one per line.

    Objects take ``text`` (or ``criterion``/``question``), optional ``id`` and ``instruction``;
    criteria without an id are numbered ``c<first_index>``, ``c<first_index + 1>``...
    """
    text, _ = read_text_arg(path)
    stripped = text.strip()
    if not stripped:
        raise UsageError(f"criteria file {path} is empty")
    items: list[Any]
    if stripped.startswith("["):
        items = _load_json(stripped, path)
        if not isinstance(items, list):
            raise UsageError(f"criteria file {path}: expected a JSON list")
    elif stripped.startswith("{"):
        items = [_load_json(line, f"{path} line {n}") for n, line in _lines(stripped)]
    else:
        items = [line.strip() for _, line in _lines(stripped) if not line.lstrip().startswith("#")]
    criteria: list[Criterion] = []
    for i, item in enumerate(items):
        default_id = f"c{first_index + i}"
        if isinstance(item, str):
            criteria.append(Criterion(id=default_id, text=item))
        elif isinstance(item, dict):
            key = next((k for k in ("text", "criterion", "question") if k in item), None)
            if key is None:
                raise UsageError(
                    f"criteria file {path}: item {i} has no 'text' (or 'criterion'/'question')"
                )
            body = item[key]
            if not isinstance(body, str) or not body.strip():
                raise UsageError(
                    f"criteria file {path}: item {i}'s {key!r} is "
                    f"{_what(body)}, not a non-empty string"
                )
            criteria.append(
                Criterion(
                    id=str(item.get("id", default_id)),
                    text=body,
                    instruction=item.get("instruction"),
                )
            )
        else:
            raise UsageError(f"criteria file {path}: item {i} is {type(item).__name__}, not text")
    return criteria


def read_pages_file(path: str) -> list[str]:
    """Pages from JSONL (``{"text": ...}`` per line) or a JSON list of strings or objects."""
    text, _ = read_text_arg(path)
    stripped = text.strip()
    if not stripped:
        raise InvalidInputError(f"pages file {path} is empty")
    if stripped.startswith("["):
        items = _load_json(stripped, path)
    else:
        items = [_load_json(line, f"{path} line {n}") for n, line in _lines(stripped)]
    if not isinstance(items, list):
        raise InvalidInputError(f"pages file {path}: expected a JSON list or JSONL")
    pages: list[str] = []
    for i, item in enumerate(items):
        if isinstance(item, dict) and "text" not in item:
            raise InvalidInputError(f"pages file {path}: page {i} has no 'text'")
        page = item["text"] if isinstance(item, dict) else item
        if not isinstance(page, str):
            where = "'text'" if isinstance(item, dict) else "entry"
            raise InvalidInputError(
                f"pages file {path}: page {i}'s {where} is {_what(page)}, not a string"
            )
        pages.append(page)
    return pages


def _what(value: object) -> str:
    """A JSON value described for an error message: its type, and short values themselves."""
    if value is None:
        return "null"
    if isinstance(value, str):
        return "an empty string"
    shown = repr(value)
    return f"{type(value).__name__} {shown}" if len(shown) <= 20 else type(value).__name__


def _lines(text: str) -> list[tuple[int, str]]:
    return [(n, line) for n, line in enumerate(text.splitlines(), start=1) if line.strip()]


def _load_json(text: str, where: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidInputError(f"{where}: invalid JSON ({exc.msg} at char {exc.pos})") from exc


class ProgressBar:
    """A one-line progress bar on stderr, drawn only on a terminal and only for long work."""

    def __init__(
        self,
        stream: TextIO | None = None,
        *,
        enabled: bool = True,
        min_total: int = 200,
        unit: str = "pairs",
        label: str = "scoring",
    ):
        self.unit = unit
        self.label = label
        self.stream = stream or sys.stderr
        self.enabled = enabled and self.stream.isatty()
        self.min_total = min_total
        self._last = 0.0
        self._drawn = False

    def __call__(self, done: int, total: int) -> None:
        if not self.enabled or total < self.min_total:
            return
        now = time.monotonic()
        if done < total and now - self._last < 0.1:
            return
        self._last = now
        width = 30
        filled = width * done // total if total else width
        self.stream.write(
            f"\r{self.label} [{'#' * filled}{'.' * (width - filled)}] {done}/{total} {self.unit}"
        )
        self._drawn = True
        if done >= total:
            self.close()
        self.stream.flush()

    def close(self) -> None:
        if self._drawn:
            self.stream.write("\n")
            self._drawn = False
