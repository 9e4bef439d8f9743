"""The output directory: Parquet blocks written atomically, and what resuming needs.

Layout::

    DIR/selections/part-<id>.parquet   one row per (document, criterion)
    DIR/union/part-<id>.parquet        one row per document
    DIR/_job.json                      what decides the rows (scorer, policy...), for --resume
    DIR/_manifest.json                 written when the job finished: counts, timings

A block is one ``part-<id>`` pair. Each file is written under a hidden temporary name, then
renamed (``os.replace`` is atomic), the selections file first: a block is complete exactly
when its union file exists. A job killed at any moment leaves at most a temporary file or
a selections file without its union file; resuming deletes both and skips the documents of
complete blocks, so nothing is lost and nothing is written twice.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ctxcompress import InvalidInputError

from ._arrow import import_pyarrow
from ._work import DocumentResult

__all__ = [
    "OutputDir",
    "OutputTotals",
    "selection_schema",
    "union_schema",
    "write_block",
]

SELECTIONS = "selections"
UNION = "union"
JOB_FILE = "_job.json"
MANIFEST_FILE = "_manifest.json"


def selection_schema() -> Any:
    """``DIR/selections``: one row per (document, criterion)."""
    pa = import_pyarrow()
    return pa.schema(
        [
            pa.field("doc_id", pa.string(), nullable=False),
            pa.field("criterion_id", pa.string(), nullable=False),
            pa.field("kept_pages", pa.list_(pa.int64()), nullable=False),
            pa.field("scores", pa.list_(pa.float64()), nullable=False),  # null: unscored page
            pa.field("chars_kept", pa.int64(), nullable=False),
            pa.field("chars_total", pa.int64(), nullable=False),
            pa.field("tokens_kept", pa.int64(), nullable=False),
            pa.field("tokens_total", pa.int64(), nullable=False),
            pa.field("truncated_by_budget", pa.bool_(), nullable=False),
            pa.field("error", pa.string()),
        ]
    )


def union_schema() -> Any:
    """``DIR/union``: one row per document."""
    pa = import_pyarrow()
    return pa.schema(
        [
            pa.field("doc_id", pa.string(), nullable=False),
            pa.field("kept_pages", pa.list_(pa.int64()), nullable=False),
            pa.field("chars_kept", pa.int64(), nullable=False),
            pa.field("chars_total", pa.int64(), nullable=False),
            pa.field("tokens_kept", pa.int64(), nullable=False),
            pa.field("tokens_total", pa.int64(), nullable=False),
        ]
    )


def write_block(root: str | Path, results: Sequence[DocumentResult]) -> str | None:
    """Write one block of documents atomically; returns its name (None for no documents).

    Safe to call from many processes at once (Ray tasks): a block is named by its documents,
    so blocks of different documents never share a name, and a task that Ray runs again
    (a retried or rebuilt task) rewrites the same files instead of adding a second copy.
    """
    if not results:
        return None
    pa = import_pyarrow()
    base = Path(root)
    ids = "\n".join(sorted(r.doc_id for r in results)).encode("utf-8")
    name = f"part-{hashlib.sha256(ids).hexdigest()[:32]}.parquet"
    selections = [{"doc_id": r.doc_id, **row} for r in results for row in r.selections]
    unions = [{"doc_id": r.doc_id, **r.union} for r in results]
    _write_atomic(base / SELECTIONS / name, pa.Table.from_pylist(selections, selection_schema()))
    _write_atomic(base / UNION / name, pa.Table.from_pylist(unions, union_schema()))
    return name


def _write_atomic(path: Path, table: Any) -> None:
    pq = import_pyarrow("parquet")
    tmp = path.with_name(f".{path.name}.tmp")
    with tmp.open("wb") as stream:
        pq.write_table(table, stream)
        stream.flush()
        os.fsync(stream.fileno())
    os.replace(tmp, path)


@dataclass(frozen=True, slots=True)
class OutputTotals:
    """Counts over every complete block in the directory (this run and earlier ones)."""

    documents: int
    pairs: int
    failed_pairs: int
    failed_documents: int
    blocks: int


class OutputDir:
    """The job's output directory: checked and tidied before work, read for resuming."""

    def __init__(self, root: Path) -> None:
        self.root = root

    @classmethod
    def prepare(cls, root: str | Path, *, resume: bool, job: Mapping[str, Any]) -> OutputDir:
        """Refuse a non-empty DIR without ``resume``; with it, check the job matches and
        remove what an interrupted run left half-written."""
        out = cls(Path(root).expanduser().resolve())
        if out.root.exists() and not out.root.is_dir():
            raise InvalidInputError(f"--out {root} exists and is not a directory")
        if out.root.is_dir() and any(out.root.iterdir()):
            if not resume:
                raise InvalidInputError(
                    f"--out {root} is not empty: give --resume to continue the job there, "
                    "or an empty or new directory"
                )
            out._check_same_job(job)
            out._remove_incomplete()
        (out.root / SELECTIONS).mkdir(parents=True, exist_ok=True)
        (out.root / UNION).mkdir(exist_ok=True)
        (out.root / MANIFEST_FILE).unlink(missing_ok=True)  # the job is running again
        _write_json(out.root / JOB_FILE, job)
        return out

    def _check_same_job(self, job: Mapping[str, Any]) -> None:
        path = self.root / JOB_FILE
        if not path.is_file():
            if (self.root / UNION).is_dir() or (self.root / SELECTIONS).is_dir():
                raise InvalidInputError(f"{self.root} has no {JOB_FILE}: not a batch job's output")
            raise InvalidInputError(f"--out {self.root} is not empty and not a batch job's output")
        try:
            before = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise InvalidInputError(f"{path}: unreadable ({exc})") from None
        changed = [k for k in job if before.get(k) != job[k]]
        if changed:
            what = ", ".join(f"{k} {before.get(k)!r} -> {job[k]!r}" for k in changed)
            raise InvalidInputError(
                f"--resume with different settings than the job in {self.root} ({what}): "
                "its rows would mix two jobs; use a new --out"
            )

    def _remove_incomplete(self) -> None:
        complete = {p.name for p in self._files(UNION)}
        for sub in (SELECTIONS, UNION):
            folder = self.root / sub
            if not folder.is_dir():
                continue
            for path in folder.iterdir():
                if path.name.startswith(".") and path.name.endswith(".tmp"):
                    path.unlink()  # a write the kill interrupted
                elif sub == SELECTIONS and path.suffix == ".parquet" and path.name not in complete:
                    path.unlink()  # its union file never made it: the block is redone

    def _files(self, sub: str) -> list[Path]:
        folder = self.root / sub
        if not folder.is_dir():
            return []
        return sorted(
            p for p in folder.iterdir() if p.suffix == ".parquet" and not p.name.startswith(".")
        )

    def done_doc_ids(self) -> set[str]:
        """Documents whose rows are complete: those in a union file."""
        pq = import_pyarrow("parquet")
        done: set[str] = set()
        for path in self._files(UNION):
            done.update(pq.read_table(path, columns=["doc_id"]).column(0).to_pylist())
        return done

    def totals(self) -> OutputTotals:
        pq = import_pyarrow("parquet")
        documents = pairs = failed = 0
        failed_docs: set[str] = set()
        blocks = self._files(UNION)
        for path in blocks:
            documents += pq.read_metadata(path).num_rows
            table = pq.read_table(self.root / SELECTIONS / path.name, columns=["doc_id", "error"])
            pairs += table.num_rows
            for doc_id, error in zip(
                table.column(0).to_pylist(), table.column(1).to_pylist(), strict=True
            ):
                if error is not None:
                    failed += 1
                    failed_docs.add(doc_id)
        return OutputTotals(documents, pairs, failed, len(failed_docs), len(blocks))

    def write_manifest(self, manifest: Mapping[str, Any]) -> None:
        _write_json(self.root / MANIFEST_FILE, manifest)


def _write_json(path: Path, data: Mapping[str, Any] | Iterable[Any]) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(tmp, path)
