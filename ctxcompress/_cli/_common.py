"""What every CLI command shares: the usage-error type, input readers, the progress bar."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any, TextIO

from .._cache import SQLiteCache
from .._exceptions import InvalidInputError, UsageError
from .._scorers._base import BaseScorer
from .._scorers._cached import CachedScorer
from .._scorers._registry import load_scorer
from .._types import Criterion

__all__ = [
    "ProgressBar",
    "UsageError",
    "add_scorer_option",
    "read_criteria_file",
    "read_pages_file",
    "read_text_arg",
    "scorer_from_args",
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
    cache = SQLiteCache(args.cache) if getattr(args, "cache", None) else None
    if cache is not None and args.scorer.split(":")[0] in ("default", "bi-encoder"):
        # The same file also keeps page embeddings: new criteria on a document seen before
        # skip the model.
        options["cache"] = cache
    try:
        scorer = load_scorer(args.scorer, **options)
    except InvalidInputError as exc:
        raise UsageError(str(exc)) from exc
    return CachedScorer(scorer, cache) if cache is not None else scorer


def read_text_arg(path: str | None, stdin: TextIO | None = None) -> tuple[str, str | None]:
    """Read a file argument ('-' or None means stdin). Returns (text, source name)."""
    if path is None or path == "-":
        stream = stdin or sys.stdin
        if stream.isatty():
            raise UsageError("no input: give a FILE or pipe text on stdin")
        return stream.read(), None
    file = Path(path)
    if not file.is_file():
        raise UsageError(f"no such file: {path}")
    data = file.read_bytes()
    if b"\x00" in data[:8192]:
        raise InvalidInputError(f"{path} looks like a binary file; give a text file")
    try:
        return data.decode("utf-8-sig"), str(file)
    except UnicodeDecodeError as exc:
        raise InvalidInputError(f"{path} is not UTF-8 text (byte {exc.start})") from exc


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
            body = item.get("text") or item.get("criterion") or item.get("question")
            if not isinstance(body, str):
                raise UsageError(f"criteria file {path}: item {i} has no 'text'")
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
        page = item.get("text") if isinstance(item, dict) else item
        if not isinstance(page, str):
            raise InvalidInputError(f"pages file {path}: page {i} has no text string")
        pages.append(page)
    return pages


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
    ):
        self.unit = unit
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
            f"\rscoring [{'#' * filled}{'.' * (width - filled)}] {done}/{total} {self.unit}"
        )
        self._drawn = True
        if done >= total:
            self.close()
        self.stream.flush()

    def close(self) -> None:
        if self._drawn:
            self.stream.write("\n")
            self._drawn = False
