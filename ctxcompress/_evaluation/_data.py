"""Reading labelled evaluation data: the page-selection format and the BEIR layout.

Page-selection format (a folder): ``documents.jsonl`` with ``{"doc_id", "pages": [str]}``
and ``criteria.jsonl`` with ``{"id", "doc_id", "criterion", "relevant_pages": [int],
"label"?}``; an empty ``relevant_pages`` means no page is relevant.

BEIR layout (a folder): ``corpus.jsonl`` (``_id``, ``title``, ``text``), ``queries.jsonl``
(``_id``, ``text``) and ``qrels/<split>.tsv``; the whole corpus becomes one document whose
pages are the corpus entries, and each query with judgements in the split a criterion.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .._exceptions import InvalidInputError

__all__ = ["EvalCriterion", "EvalDataset", "EvalDocument", "Evidence", "load_dataset"]


@dataclass(frozen=True)
class EvalDocument:
    doc_id: str
    pages: tuple[str, ...]


@dataclass(frozen=True)
class Evidence:
    """One annotated evidence item: its page, its text, and (ContractNLI) its exact
    character offsets into that page."""

    page: int
    text: str
    start: int | None = None
    end: int | None = None


@dataclass(frozen=True)
class EvalCriterion:
    """One labelled criterion: ``relevant`` holds the indices of its document's relevant
    pages (empty: none is), ``label`` the dataset's own label where it has one, and
    ``evidence`` the annotated evidence items where it marks them."""

    id: str
    doc_id: str
    text: str
    relevant: frozenset[int]
    label: str | None = None
    evidence: tuple[Evidence, ...] = ()


@dataclass(frozen=True)
class EvalDataset:
    name: str
    documents: dict[str, EvalDocument]
    criteria: tuple[EvalCriterion, ...]

    def by_document(self) -> Iterator[tuple[EvalDocument, list[EvalCriterion]]]:
        groups: dict[str, list[EvalCriterion]] = {}
        for c in self.criteria:
            groups.setdefault(c.doc_id, []).append(c)
        for doc_id, criteria in groups.items():
            yield self.documents[doc_id], criteria

    def subset(self, doc_ids: set[str]) -> EvalDataset:
        return EvalDataset(
            self.name,
            {k: v for k, v in self.documents.items() if k in doc_ids},
            tuple(c for c in self.criteria if c.doc_id in doc_ids),
        )


def _jsonl(path: Path) -> Iterator[dict[str, Any]]:
    with path.open(encoding="utf-8") as f:
        for n, line in enumerate(f, start=1):
            if line.strip():
                try:
                    yield json.loads(line)
                except json.JSONDecodeError as exc:
                    raise InvalidInputError(f"{path} line {n}: invalid JSON ({exc.msg})") from exc


def load_dataset(path: str | Path, *, split: str = "test", limit: int | None = None) -> EvalDataset:
    """Load a page-selection folder or a BEIR folder (``split`` picks the BEIR qrels).

    ``limit`` keeps the first ``limit`` criteria (for quick runs).
    """
    root = Path(path)
    if (root / "documents.jsonl").is_file() and (root / "criteria.jsonl").is_file():
        data = _load_page_selection(root)
    elif (root / "corpus.jsonl").is_file() and (root / "qrels").is_dir():
        data = _load_beir(root, split)
    else:
        raise InvalidInputError(
            f"{root} is neither page-selection data (documents.jsonl + criteria.jsonl) "
            "nor BEIR data (corpus.jsonl + queries.jsonl + qrels/)"
        )
    if limit is not None:
        kept = data.criteria[:limit]
        ids = {c.doc_id for c in kept}
        data = EvalDataset(data.name, {k: v for k, v in data.documents.items() if k in ids}, kept)
    if not data.criteria:
        raise InvalidInputError(f"{root} holds no criteria")
    return data


def _load_page_selection(root: Path) -> EvalDataset:
    documents: dict[str, EvalDocument] = {}
    for row in _jsonl(root / "documents.jsonl"):
        pages = row.get("pages")
        if not isinstance(pages, list) or not all(isinstance(p, str) for p in pages):
            raise InvalidInputError(
                f"document {row.get('doc_id')!r}: pages must be a list of strings"
            )
        documents[str(row["doc_id"])] = EvalDocument(str(row["doc_id"]), tuple(pages))
    criteria = []
    for row in _jsonl(root / "criteria.jsonl"):
        doc_id = str(row["doc_id"])
        if doc_id not in documents:
            raise InvalidInputError(
                f"criterion {row.get('id')!r} names unknown document {doc_id!r}"
            )
        relevant = frozenset(int(i) for i in row.get("relevant_pages", []))
        n = len(documents[doc_id].pages)
        if any(not 0 <= i < n for i in relevant):
            raise InvalidInputError(
                f"criterion {row.get('id')!r}: relevant page out of range 0..{n - 1}"
            )
        evidence = _evidence(row, n)
        criteria.append(
            EvalCriterion(
                str(row["id"]), doc_id, str(row["criterion"]), relevant, row.get("label"), evidence
            )
        )
    return EvalDataset(root.name, documents, tuple(criteria))


def _evidence(row: dict[str, Any], n_pages: int) -> tuple[Evidence, ...]:
    items = row.get("evidence") or []
    if not isinstance(items, list):
        raise InvalidInputError(f"criterion {row.get('id')!r}: evidence must be a list")
    out = []
    for item in items:
        if not isinstance(item, dict) or not isinstance(item.get("text"), str):
            raise InvalidInputError(
                f"criterion {row.get('id')!r}: each evidence item needs a page and a text"
            )
        page = int(item.get("page", -1))
        if not 0 <= page < n_pages:
            raise InvalidInputError(
                f"criterion {row.get('id')!r}: evidence page out of range 0..{n_pages - 1}"
            )
        start, end = item.get("start"), item.get("end")
        out.append(
            Evidence(
                page,
                item["text"],
                None if start is None else int(start),
                None if end is None else int(end),
            )
        )
    return tuple(out)


def _load_beir(root: Path, split: str) -> EvalDataset:
    qrels_file = root / "qrels" / f"{split}.tsv"
    if not qrels_file.is_file():
        raise InvalidInputError(f"no qrels for split {split!r} at {qrels_file}")
    ids: list[str] = []
    pages: list[str] = []
    for row in _jsonl(root / "corpus.jsonl"):
        ids.append(str(row["_id"]))
        title = row.get("title") or ""
        pages.append(f"{title}\n{row.get('text', '')}".strip())
    position = {doc_id: i for i, doc_id in enumerate(ids)}
    qrels: dict[str, set[int]] = {}
    with qrels_file.open(encoding="utf-8") as f:
        reader = csv.reader(f, delimiter="\t")
        next(reader, None)  # header
        for qid, cid, score, *_ in reader:
            if int(score) > 0 and cid in position:
                qrels.setdefault(qid, set()).add(position[cid])
    queries = {str(r["_id"]): str(r["text"]) for r in _jsonl(root / "queries.jsonl")}
    criteria = tuple(
        EvalCriterion(qid, "corpus", queries[qid], frozenset(rel))
        for qid, rel in qrels.items()
        if qid in queries
    )
    return EvalDataset(root.name, {"corpus": EvalDocument("corpus", tuple(pages))}, criteria)
