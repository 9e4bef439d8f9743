"""Shared by the batch tests: synthetic documents, a scorer that fails on one document, the
reference rows that ``Compressor.compress`` gives for each document, and a job killed with
SIGKILL then resumed."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from ctxcompress import Compressor, Criterion, Page, load_scorer, split_pages

ROOT = Path(__file__).resolve().parents[1]
RECORD = ROOT / "examples" / "prior_auth" / "record.txt"

SHARED = [
    {"id": "diagnosis", "criterion": "Is rheumatoid arthritis diagnosed?"},
    {"id": "mtx", "criterion": "Is a failed trial of methotrexate documented?"},
]


def record_pages() -> list[str]:
    text = RECORD.read_text(encoding="utf-8")
    return [p.strip() for p in re.split(r"^--- Page \d+ ---$", text, flags=re.M) if p.strip()]


def make_documents(n: int, pages_per_doc: int = 4) -> list[dict[str, Any]]:
    """n documents cut from the 40-page record; every third one given as text."""
    pages = record_pages()
    docs: list[dict[str, Any]] = []
    for i in range(n):
        chosen = [pages[(i * 3 + j) % len(pages)] for j in range(pages_per_doc)]
        doc_id = f"doc-{i:04d}"
        if i % 3 == 2:
            text = "\n\n".join(f"--- Page {k} ---\n{p}" for k, p in enumerate(chosen, 1))
            docs.append({"doc_id": doc_id, "text": text})
        else:
            docs.append({"doc_id": doc_id, "pages": chosen})
    return docs


def make_criteria(docs: Sequence[dict[str, Any]], per_doc_every: int = 2) -> list[dict[str, Any]]:
    """The shared criteria, plus one of its own for every other document."""
    own = [
        {"id": f"own-{d['doc_id']}", "doc_id": d["doc_id"], "criterion": "Was TB screening done?"}
        for i, d in enumerate(docs)
        if i % per_doc_every == 0
    ]
    return [*SHARED, *own]


def write_jsonl(path: Path, rows: Sequence[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def doc_pages(doc: dict[str, Any]) -> list[Page]:
    if "pages" in doc:
        return [Page(t, i) for i, t in enumerate(doc["pages"])]
    return split_pages(doc["text"])


def criteria_for(doc_id: str, criteria: Sequence[dict[str, Any]]) -> list[Criterion]:
    shared = [Criterion(c["id"], c["criterion"]) for c in criteria if "doc_id" not in c]
    own = [Criterion(c["id"], c["criterion"]) for c in criteria if c.get("doc_id") == doc_id]
    return [*shared, *own]


def read_rows(out: Path, sub: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = pq.read_table(out / sub).to_pylist()
    return rows


def assert_matches_compressor(
    out: Path,
    docs: Sequence[dict[str, Any]],
    criteria: Sequence[dict[str, Any]],
    scorer: Any = "bm25",
) -> None:
    """Every (document, criterion) row exactly once, equal to ``Compressor.compress``."""
    compressor = Compressor(load_scorer(scorer) if isinstance(scorer, str) else scorer)
    selections = read_rows(out, "selections")
    unions = read_rows(out, "union")
    keys = [(r["doc_id"], r["criterion_id"]) for r in selections]
    assert len(keys) == len(set(keys)), "a (document, criterion) row is duplicated"
    by_key = {(r["doc_id"], r["criterion_id"]): r for r in selections}
    union_by_doc = {r["doc_id"]: r for r in unions}
    assert len(union_by_doc) == len(unions) == len(docs)
    expected_keys = set()
    for doc in docs:
        result = compressor.compress(doc_pages(doc), criteria_for(doc["doc_id"], criteria))
        for s in result.selections:
            expected_keys.add((doc["doc_id"], s.criterion.id))
            row = by_key[(doc["doc_id"], s.criterion.id)]
            assert row["kept_pages"] == sorted(s.kept_indices)
            assert row["error"] is None
            expected = [d.score for d in sorted(s.decisions, key=lambda d: d.index)]
            assert len(row["scores"]) == len(expected)
            for got, want in zip(row["scores"], expected, strict=True):
                assert abs(got - want) <= 1e-9
            assert (row["chars_kept"], row["chars_total"]) == (s.chars_kept, s.chars_total)
            assert (row["tokens_kept"], row["tokens_total"]) == (s.tokens_kept, s.tokens_total)
            assert row["truncated_by_budget"] == s.truncated_by_budget
        u = union_by_doc[doc["doc_id"]]
        assert u["kept_pages"] == sorted(result.union.kept_indices)
        assert (u["chars_kept"], u["tokens_kept"]) == (
            result.union.chars_kept,
            result.union.tokens_kept,
        )
    assert set(by_key) == expected_keys


class FailingScorer:
    """BM25, except that it raises for the pages of one document (found by a marker page).

    A plain object with the ``Scorer`` protocol's members (no private hooks), picklable, so
    Ray actors can run it too.
    """

    pointwise = False

    def __init__(self, marker: str) -> None:
        self.marker = marker
        self.inner = load_scorer("bm25")

    @property
    def name(self) -> str:
        return "failing-bm25"

    @property
    def fingerprint(self) -> str:
        return f"failing-bm25:{self.marker}"

    def score_batch(self, criteria: Sequence[Any], pages: Sequence[Any]) -> list[list[float]]:
        texts = [p.text if isinstance(p, Page) else p for p in pages]
        if any(self.marker in t for t in texts):
            raise RuntimeError("remote said 400: document too long")
        return self.inner.score_batch(criteria, pages)

    def score(self, criterion: Any, pages: Sequence[Any]) -> list[float]:
        return self.score_batch([criterion], pages)[0]


def _cli_env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT)}


def kill_after_blocks(cmd: Sequence[str], out: Path, blocks: int, timeout_s: float) -> None:
    """Run the batch command ``cmd`` and SIGKILL it once ``blocks`` union blocks are in
    ``out`` (it must still be running until then); it must die without a manifest."""
    proc = subprocess.Popen(cmd, env=_cli_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + timeout_s
    while len(list((out / "union").glob("*.parquet"))) < blocks and time.monotonic() < deadline:
        assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    proc.communicate()
    assert proc.returncode == -signal.SIGKILL
    assert not (out / "_manifest.json").exists()


def resume(cmd: Sequence[str], out: Path) -> dict[str, Any]:
    """Run ``cmd --resume`` to the end; its manifest."""
    resumed = subprocess.run([*cmd, "--resume"], env=_cli_env(), capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr
    manifest: dict[str, Any] = json.loads((out / "_manifest.json").read_text())
    return manifest
