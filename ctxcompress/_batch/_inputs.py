"""Batch inputs: the documents and criteria files, checked in full before any work starts.

Documents are JSONL lines ``{"doc_id", "pages": [str]}`` or ``{"doc_id", "text"}`` (the
text is split as :func:`ctxcompress.load_document` splits it), or Parquet (a file or a
directory of files) with those columns. Criteria are JSONL lines ``{"id", "criterion",
"doc_id"?}``, the evaluation data's format: a line with ``doc_id`` applies to that document
only, a line without it to every document. Every error names the file and line (or row).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, StrictInt, StrictStr, ValidationError

from ctxcompress import Criterion, InvalidInputError, Page, split_pages

from ._arrow import import_pyarrow

__all__ = [
    "CriteriaPlan",
    "Document",
    "DocumentIndex",
    "DocumentSource",
    "read_criteria",
    "scan_documents",
]


class _DocumentRecord(BaseModel):
    """One document line: an id and either its pages or its text."""

    model_config = ConfigDict(extra="ignore")

    doc_id: StrictStr | StrictInt
    pages: list[StrictStr] | None = None
    text: StrictStr | None = None


class _CriterionRecord(BaseModel):
    """One criterion line; extra fields of the evaluation data (labels, evidence) are ignored."""

    model_config = ConfigDict(extra="ignore")

    id: StrictStr | StrictInt
    criterion: StrictStr
    doc_id: StrictStr | StrictInt | None = None
    instruction: StrictStr | None = None


@dataclass(frozen=True, slots=True)
class Document:
    """One document to compress: its id and either its pages or its whole text."""

    doc_id: str
    pages: tuple[str, ...] | None
    text: str | None

    def page_list(self) -> list[Page]:
        if self.pages is not None:
            return [Page(text=t, index=i) for i, t in enumerate(self.pages)]
        return split_pages(self.text or "")

    @classmethod
    def from_fields(cls, doc_id: Any, pages: Any, text: Any, where: str) -> Document:
        """Check one record's fields; ``where`` names its line or row in errors."""
        try:
            record = _DocumentRecord(doc_id=doc_id, pages=pages, text=text)
        except ValidationError as exc:
            raise InvalidInputError(f"{where}: {_first_error(exc)}") from None
        ident = str(record.doc_id)
        if not ident.strip():
            raise InvalidInputError(f"{where}: doc_id is empty")
        if record.pages is not None and record.text is not None:
            raise InvalidInputError(f"{where}: document {ident!r} has both 'pages' and 'text'")
        if record.pages is not None:
            if not any(p.strip() for p in record.pages):
                raise InvalidInputError(f"{where}: document {ident!r} has no pages with text")
            return cls(ident, tuple(record.pages), None)
        if record.text is None or not record.text.strip():
            raise InvalidInputError(f"{where}: document {ident!r} has no 'pages' and no 'text'")
        return cls(ident, None, record.text)


def _first_error(exc: ValidationError) -> str:
    error = exc.errors()[0]
    loc = ".".join(str(part) for part in error["loc"])
    return f"{loc}: {error['msg']}" if loc else str(error["msg"])


@dataclass(frozen=True, slots=True)
class DocumentSource:
    """Where the documents are: a JSONL file, or a Parquet file or directory."""

    path: Path

    @classmethod
    def open(cls, path: str | Path) -> DocumentSource:
        resolved = Path(path).expanduser().resolve()
        if not resolved.exists():
            raise FileNotFoundError(2, "no such file or directory", str(path))
        return cls(resolved)

    @property
    def is_parquet(self) -> bool:
        return self.path.is_dir() or self.path.suffix.lower() in (".parquet", ".pq")

    def parquet_files(self) -> list[Path]:
        if self.path.is_file():
            return [self.path]
        # Hidden and underscore files are not data, as for every Parquet reader.
        files = sorted(
            p
            for p in self.path.rglob("*")
            if p.is_file() and not p.name.startswith((".", "_")) and p.suffix != ".crc"
        )
        if not files:
            raise InvalidInputError(f"{self.path}: no Parquet files in this directory")
        return files

    def parquet_columns(self) -> list[str]:
        """The document columns present (``doc_id`` and ``pages`` and/or ``text``)."""
        pq = import_pyarrow("parquet")
        first = self.parquet_files()[0]
        names = set(_read_parquet_schema(pq, first).names)
        if "doc_id" not in names:
            raise InvalidInputError(f"{first}: no 'doc_id' column (columns: {sorted(names)})")
        body = [c for c in ("pages", "text") if c in names]
        if not body:
            raise InvalidInputError(f"{first}: no 'pages' or 'text' column")
        return ["doc_id", *body]

    def __iter__(self) -> Iterator[Document]:
        return (doc for _, doc in self.records())

    def records(self) -> Iterator[tuple[str, Document]]:
        """Each document with where it is (file and line, or file and row)."""
        return self._iter_parquet() if self.is_parquet else self._iter_jsonl()

    def _iter_jsonl(self) -> Iterator[tuple[str, Document]]:
        for number, line in _read_lines(self.path):
            where = f"{self.path.name} line {number}"
            item = _json_object(line, where)
            doc = Document.from_fields(
                item.get("doc_id"), item.get("pages"), item.get("text"), where
            )
            yield where, doc

    def _iter_parquet(self) -> Iterator[tuple[str, Document]]:
        pq = import_pyarrow("parquet")
        columns = self.parquet_columns()
        for file in self.parquet_files():
            row = 0
            try:
                reader = pq.ParquetFile(file)
                batches = reader.iter_batches(columns=columns, batch_size=1024)
                for batch in batches:
                    for item in batch.to_pylist():
                        row += 1
                        where = f"{file.name} row {row}"
                        doc = Document.from_fields(
                            item.get("doc_id"), item.get("pages"), item.get("text"), where
                        )
                        yield where, doc
            except (OSError, ValueError) as exc:
                if isinstance(exc, InvalidInputError):
                    raise
                raise InvalidInputError(f"{file}: not a readable Parquet file ({exc})") from None


def _read_parquet_schema(pq: Any, file: Path) -> Any:
    try:
        return pq.read_schema(file)
    except (OSError, ValueError) as exc:
        raise InvalidInputError(f"{file}: not a readable Parquet file ({exc})") from None


def _read_lines(path: Path) -> Iterator[tuple[int, str]]:
    try:
        with path.open(encoding="utf-8-sig") as stream:
            for number, line in enumerate(stream, start=1):
                if line.strip():
                    yield number, line
    except UnicodeDecodeError as exc:
        raise InvalidInputError(f"{path}: not UTF-8 text (byte {exc.start})") from None


def _json_object(line: str, where: str) -> dict[str, Any]:
    try:
        item = json.loads(line)
    except json.JSONDecodeError as exc:
        raise InvalidInputError(f"{where}: invalid JSON ({exc.msg} at char {exc.pos})") from None
    if not isinstance(item, dict):
        raise InvalidInputError(f"{where}: expected a JSON object, got {type(item).__name__}")
    return item


@dataclass(frozen=True)
class DocumentIndex:
    """What a full pass over the documents found: every doc_id and where it is."""

    where: Mapping[str, str]

    def __len__(self) -> int:
        return len(self.where)


def scan_documents(source: DocumentSource) -> DocumentIndex:
    """Read every document once and check it; duplicates are an error naming both places."""
    where: dict[str, str] = {}
    for here, doc in source.records():
        first = where.get(doc.doc_id)
        if first is not None:
            raise InvalidInputError(f"{here}: duplicate doc_id {doc.doc_id!r} (first at {first})")
        where[doc.doc_id] = here
    if not where:
        raise InvalidInputError(f"{source.path}: no documents")
    return DocumentIndex(where)


@dataclass(frozen=True)
class CriteriaPlan:
    """Which criteria each document gets: the shared ones, then its own, in file order."""

    shared: tuple[Criterion, ...] = ()
    by_doc: Mapping[str, tuple[Criterion, ...]] = field(default_factory=dict)

    def for_doc(self, doc_id: str) -> list[Criterion]:
        return [*self.shared, *self.by_doc.get(doc_id, ())]

    @property
    def size(self) -> int:
        return len(self.shared) + sum(len(v) for v in self.by_doc.values())

    def pairs(self, doc_ids: Sequence[str] | Mapping[str, Any]) -> int:
        """How many (document, criterion) rows these documents make."""
        return sum(len(self.shared) + len(self.by_doc.get(d, ())) for d in doc_ids)

    @classmethod
    def build(cls, items: Sequence[tuple[Criterion, str | None]]) -> CriteriaPlan:
        shared = tuple(c for c, doc in items if doc is None)
        by_doc: dict[str, list[Criterion]] = {}
        for criterion, doc in items:
            if doc is not None:
                by_doc.setdefault(doc, []).append(criterion)
        return cls(shared, {k: tuple(v) for k, v in by_doc.items()})


def read_criteria(path: str | Path, documents: DocumentIndex) -> CriteriaPlan:
    """Read and check the criteria file against the documents found by :func:`scan_documents`.

    Errors name the line: a malformed record, a ``doc_id`` no document has, an id given twice
    to one document; and a document left without any criterion.
    """
    file = Path(path).expanduser()
    if file.is_dir():
        raise InvalidInputError(f"{path} is a directory, not a criteria file (JSONL)")
    if not file.is_file():
        raise FileNotFoundError(2, "no such file", str(path))
    items: list[tuple[Criterion, str | None]] = []
    seen: dict[tuple[str | None, str], str] = {}
    for number, line in _read_lines(file):
        where = f"{file.name} line {number}"
        try:
            record = _CriterionRecord.model_validate(_json_object(line, where))
        except ValidationError as exc:
            raise InvalidInputError(f"{where}: {_first_error(exc)}") from None
        doc = None if record.doc_id is None else str(record.doc_id)
        if doc is not None and doc not in documents.where:
            raise InvalidInputError(f"{where}: doc_id {doc!r} is not in the documents")
        ident = str(record.id)
        try:
            criterion = Criterion(id=ident, text=record.criterion, instruction=record.instruction)
        except InvalidInputError as exc:
            raise InvalidInputError(f"{where}: {exc}") from None
        clash = seen.get((doc, ident)) or (seen.get((None, ident)) if doc is not None else None)
        if clash is not None:
            raise InvalidInputError(f"{where}: criterion id {ident!r} already given at {clash}")
        seen[(doc, ident)] = where
        items.append((criterion, doc))
    if not items:
        raise InvalidInputError(f"{file}: no criteria")
    plan = CriteriaPlan.build(items)
    _check_shared_ids(plan, seen)
    if not plan.shared:
        for doc_id, place in documents.where.items():
            if doc_id not in plan.by_doc:
                raise InvalidInputError(
                    f"{place}: document {doc_id!r} has no criteria (give criteria without "
                    "doc_id for every document, or some with its doc_id)"
                )
    return plan


def _check_shared_ids(plan: CriteriaPlan, seen: Mapping[tuple[str | None, str], str]) -> None:
    # A shared criterion given after a per-document one with the same id.
    shared_ids = {c.id for c in plan.shared}
    for doc, criteria in plan.by_doc.items():
        for criterion in criteria:
            if criterion.id in shared_ids:
                raise InvalidInputError(
                    f"{seen[(None, criterion.id)]}: criterion id {criterion.id!r} is also "
                    f"given to document {doc!r} at {seen[(doc, criterion.id)]}"
                )
