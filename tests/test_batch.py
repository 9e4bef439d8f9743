"""``ctxcompress batch`` with the local engine: output equal to ``Compressor.compress``, bad
input refused before work, failures as rows, and resume after a SIGKILL."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from ctxcompress import register_scheme
from ctxcompress._cli import main

from .batch_helpers import (
    ROOT,
    SHARED,
    FailingScorer,
    assert_matches_compressor,
    kill_after_blocks,
    make_criteria,
    make_documents,
    read_rows,
    resume,
    write_jsonl,
)

TINY = ROOT / "tests" / "fixtures" / "tiny-bert-cross-encoder"


def _inputs(
    tmp_path: Path, docs: list[dict[str, Any]], criteria: list[dict[str, Any]]
) -> list[str]:
    d = write_jsonl(tmp_path / "docs.jsonl", docs)
    c = write_jsonl(tmp_path / "criteria.jsonl", criteria)
    return ["batch", "--documents", str(d), "--criteria", str(c)]


def test_local_engine_equals_compressor(tmp_path: Path) -> None:
    docs = make_documents(7)
    criteria = make_criteria(docs)
    out = tmp_path / "out"
    argv = [*_inputs(tmp_path, docs, criteria), "--out", str(out), "--scorer", "bm25"]
    assert main([*argv, "--batch-size", "3"]) == 0
    assert_matches_compressor(out, docs, criteria)
    assert len(list((out / "union").glob("*.parquet"))) == 3  # blocks of 3, 3, 1 documents
    manifest = json.loads((out / "_manifest.json").read_text())
    assert manifest["totals"]["documents"] == 7
    assert manifest["totals"]["pairs"] == 7 * 2 + 4
    assert manifest["scorer"].startswith("bm25@")
    assert manifest["policy"].startswith("Hybrid(")


def test_output_schema(tmp_path: Path) -> None:
    docs = make_documents(2)
    out = tmp_path / "out"
    assert main([*_inputs(tmp_path, docs, SHARED), "--out", str(out), "--scorer", "bm25"]) == 0
    selections = pq.read_table(out / "selections").schema
    assert selections.names == [
        "doc_id",
        "criterion_id",
        "kept_pages",
        "scores",
        "chars_kept",
        "chars_total",
        "tokens_kept",
        "tokens_total",
        "truncated_by_budget",
        "error",
    ]
    assert selections.field("scores").type == pa.list_(pa.float64())
    assert pq.read_table(out / "union").schema.names == [
        "doc_id",
        "kept_pages",
        "chars_kept",
        "chars_total",
        "tokens_kept",
        "tokens_total",
    ]


def test_onnx_cross_encoder_and_policy_flags(tmp_path: Path) -> None:
    from ctxcompress import Compressor, Hybrid, load_scorer

    from .batch_helpers import criteria_for, doc_pages

    docs = make_documents(3)
    out = tmp_path / "out"
    argv = [*_inputs(tmp_path, docs, SHARED), "--out", str(out), "--scorer", str(TINY)]
    assert main([*argv, "--top-k", "2", "--union-max-tokens", "600"]) == 0
    compressor = Compressor(load_scorer(str(TINY)), Hybrid(top_k=2), union_max_tokens=600)
    rows = {(r["doc_id"], r["criterion_id"]): r for r in read_rows(out, "selections")}
    unions = {r["doc_id"]: r for r in read_rows(out, "union")}
    for doc in docs:
        result = compressor.compress(doc_pages(doc), criteria_for(doc["doc_id"], SHARED))
        for s in result.selections:
            row = rows[(doc["doc_id"], s.criterion.id)]
            assert row["kept_pages"] == sorted(s.kept_indices)
            want = [d.score for d in s.decisions]
            assert max(abs(a - b) for a, b in zip(row["scores"], want, strict=True)) <= 1e-9
        assert unions[doc["doc_id"]]["kept_pages"] == sorted(result.union.kept_indices)
        assert unions[doc["doc_id"]]["tokens_kept"] <= 600


def test_parquet_documents(tmp_path: Path) -> None:
    docs = make_documents(4)
    folder = tmp_path / "docs"
    folder.mkdir()
    table = pa.Table.from_pylist(
        [{"doc_id": d["doc_id"], "pages": d.get("pages"), "text": d.get("text")} for d in docs]
    )
    pq.write_table(table.slice(0, 2), folder / "a.parquet")
    pq.write_table(table.slice(2), folder / "b.parquet")
    criteria = write_jsonl(tmp_path / "criteria.jsonl", SHARED)
    out = tmp_path / "out"
    argv = ["batch", "--documents", str(folder), "--criteria", str(criteria), "--out", str(out)]
    assert main([*argv, "--scorer", "bm25"]) == 0
    assert_matches_compressor(out, docs, SHARED)


@pytest.mark.parametrize(
    ("docs_text", "criteria", "message"),
    [
        ('{"pages": ["a"]}\n', SHARED, "docs.jsonl line 1: doc_id"),
        (
            '{"doc_id": "a", "pages": ["x"]}\n{"doc_id": "b"}\n',
            SHARED,
            "line 2: document 'b' has no",
        ),
        ('{"doc_id": "a", "pages": ["  "]}\n', SHARED, "line 1: document 'a' has no pages"),
        (
            '{"doc_id": "a", "text": "x"}\n\n{"doc_id": "a", "text": "y"}\n',
            SHARED,
            "line 3: duplicate doc_id 'a' (first at docs.jsonl line 1)",
        ),
        ('{"doc_id": "a", "text": "x"}\nnot json\n', SHARED, "docs.jsonl line 2: invalid JSON"),
        (
            '{"doc_id": "a", "text": "x"}\n',
            [{"id": "q", "criterion": "?", "doc_id": "zz"}],
            "criteria.jsonl line 1: doc_id 'zz' is not in the documents",
        ),
        ('{"doc_id": "a", "text": "x"}\n', [{"id": "q"}], "criteria.jsonl line 1: criterion"),
        (
            '{"doc_id": "a", "text": "x"}\n{"doc_id": "b", "text": "y"}\n',
            [{"id": "q", "criterion": "?", "doc_id": "a"}],
            "document 'b' has no criteria",
        ),
    ],
)
def test_bad_input_is_one_clear_error_before_work(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], docs_text: str, criteria: Any, message: str
) -> None:
    docs = tmp_path / "docs.jsonl"
    docs.write_text(docs_text)
    crit = write_jsonl(tmp_path / "criteria.jsonl", criteria)
    out = tmp_path / "out"
    argv = ["batch", "--documents", str(docs), "--criteria", str(crit), "--out", str(out)]
    assert main([*argv, "--scorer", "bm25"]) == 1
    err = capsys.readouterr().err
    assert message in err
    assert len(err.strip().splitlines()) == 1
    assert not out.exists()  # nothing started


def test_unreadable_files_and_usage_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    docs = make_documents(2)
    argv = _inputs(tmp_path, docs, SHARED)
    binary = tmp_path / "docs.parquet"
    binary.write_bytes(b"\x00\x01 not parquet")
    crit = str(tmp_path / "criteria.jsonl")
    bad = ["batch", "--documents", str(binary), "--criteria", crit, "--out", str(tmp_path / "o")]
    assert main(bad) == 1
    assert "not a readable Parquet file" in capsys.readouterr().err
    missing = ["batch", "--documents", "nope.jsonl", "--criteria", crit, "--out", "o"]
    assert main(missing) == 2
    assert "no such file" in capsys.readouterr().err
    assert main([*argv, "--out", str(tmp_path / "o"), "--batch-size", "0"]) == 2
    capsys.readouterr()
    full = tmp_path / "full"
    full.mkdir()
    (full / "x.txt").write_text("x")
    assert main([*argv, "--out", str(full), "--scorer", "bm25"]) == 1
    assert "not empty: give --resume" in capsys.readouterr().err


def test_failing_document_becomes_error_rows(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    register_scheme("test-failing", lambda _arg, **_opts: FailingScorer("FAIL-HERE"))
    docs = make_documents(3)
    docs.append({"doc_id": "bad", "pages": ["FAIL-HERE intro", "second page", "third"]})
    criteria = make_criteria(docs)
    argv = [*_inputs(tmp_path, docs, criteria), "--scorer", "test-failing"]

    assert main([*argv, "--out", str(tmp_path / "raise")]) == 1
    assert "failed" in capsys.readouterr().err
    rows = read_rows(tmp_path / "raise", "selections")
    bad = [r for r in rows if r["doc_id"] == "bad"]
    assert {r["criterion_id"] for r in bad} == {"diagnosis", "mtx"}
    for r in bad:
        assert "RuntimeError: remote said 400" in r["error"]
        assert r["kept_pages"] == []
        assert r["scores"] == [None, None, None]
    assert all(r["error"] is None for r in rows if r["doc_id"] != "bad")
    assert_matches_compressor_subset(tmp_path / "raise", docs[:3], criteria)

    assert main([*argv, "--out", str(tmp_path / "keep"), "--on-error", "keep"]) == 0
    rows = read_rows(tmp_path / "keep", "selections")
    bad = [r for r in rows if r["doc_id"] == "bad"]
    assert len(bad) == 2
    assert all(r["kept_pages"] == [0, 1, 2] and r["error"] for r in bad)
    union = {r["doc_id"]: r for r in read_rows(tmp_path / "keep", "union")}
    assert union["bad"]["kept_pages"] == [0, 1, 2]


def assert_matches_compressor_subset(out: Path, docs: list[dict[str, Any]], criteria: Any) -> None:
    # The healthy documents' rows are what Compressor gives; the rest is checked above.
    import tempfile

    keep = {d["doc_id"] for d in docs}
    with tempfile.TemporaryDirectory() as tmp:
        sub = Path(tmp)
        for name in ("selections", "union"):
            (sub / name).mkdir()
            table = pq.read_table(out / name)
            rows = [r for r in table.to_pylist() if r["doc_id"] in keep]
            pq.write_table(pa.Table.from_pylist(rows, table.schema), sub / name / "p.parquet")
        assert_matches_compressor(sub, docs, criteria)


def test_resume_removes_half_written_blocks(tmp_path: Path) -> None:
    docs = make_documents(6)
    criteria = make_criteria(docs)
    out = tmp_path / "out"
    argv = [*_inputs(tmp_path, docs, criteria), "--out", str(out), "--scorer", "bm25"]
    assert main([*argv, "--batch-size", "2"]) == 0
    # What a kill leaves: a block whose union file was never renamed, and a temporary file.
    union_files = sorted((out / "union").glob("*.parquet"))
    union_files[0].unlink()
    (out / "selections" / ".part-x.parquet.tmp").write_bytes(b"half")
    (out / "_manifest.json").unlink()
    assert main([*argv, "--resume", "--batch-size", "2"]) == 0
    assert_matches_compressor(out, docs, criteria)
    manifest = json.loads((out / "_manifest.json").read_text())
    assert manifest["this_run"]["documents"] == 2
    assert manifest["this_run"]["skipped_documents"] == 4
    assert not list((out / "selections").glob(".*"))


def test_resume_refuses_a_different_job(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    docs = make_documents(2)
    out = tmp_path / "out"
    argv = [*_inputs(tmp_path, docs, SHARED), "--out", str(out), "--scorer", "bm25"]
    assert main(argv) == 0
    assert main([*argv, "--resume", "--top-k", "1"]) == 1
    assert "--resume with different settings" in capsys.readouterr().err


# A real process running the real CLI, with a scorer slow enough (10 ms a document) that
# the kill lands mid-job.
_SLOW_CLI = """
import sys, time
from ctxcompress import load_scorer, register_scheme
from ctxcompress._cli import main

class Slow:
    pointwise = False
    name = "slow-bm25"
    fingerprint = "slow-bm25@test"
    def __init__(self):
        self.inner = load_scorer("bm25")
    def score_batch(self, criteria, pages):
        time.sleep(0.01)
        return self.inner.score_batch(criteria, pages)
    def score(self, criterion, pages):
        return self.score_batch([criterion], pages)[0]

register_scheme("slow", lambda _arg, **_opts: Slow())
sys.exit(main(sys.argv[1:]))
"""


def test_sigkill_then_resume_gives_every_row_once(tmp_path: Path) -> None:
    docs = make_documents(150, pages_per_doc=2)
    criteria = make_criteria(docs, per_doc_every=3)
    script = tmp_path / "slow_cli.py"
    script.write_text(_SLOW_CLI)
    out = tmp_path / "out"
    argv = [*_inputs(tmp_path, docs, criteria), "--out", str(out), "--scorer", "slow"]
    cmd = [sys.executable, str(script), *argv, "--batch-size", "4", "--no-progress"]
    kill_after_blocks(cmd, out, blocks=5, timeout_s=60)
    done_before = len(list((out / "union").glob("*.parquet")))
    assert 5 <= done_before < 150 // 4

    manifest = resume(cmd, out)
    assert_matches_compressor(out, docs, criteria)
    assert manifest["totals"]["documents"] == 150
    assert manifest["this_run"]["skipped_documents"] >= 4 * 5


def test_bundled_sample_data(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # The README's example input: 4 documents, 2 shared criteria and 2 of one document's own.
    sample = ROOT / "examples" / "batch"
    out = tmp_path / "out"
    argv = ["batch", "--documents", str(sample / "documents.jsonl")]
    argv += ["--criteria", str(sample / "criteria.jsonl"), "--out", str(out), "--scorer", "bm25"]
    assert main(argv) == 0
    assert "batch: 4 documents, 10 pairs" in capsys.readouterr().out
    assert len(read_rows(out, "selections")) == 10


def test_a_block_written_again_replaces_itself_instead_of_adding_rows(tmp_path: Path) -> None:
    # What a Ray task that is retried after it wrote its block does: write the same
    # documents again. The block is named by its documents, so the write replaces itself.
    from ctxcompress._batch._output import write_block
    from ctxcompress._batch._work import DocumentResult

    docs = make_documents(2)
    out = tmp_path / "out"
    assert main([*_inputs(tmp_path, docs, make_criteria(docs)), "--out", str(out)]) == 0
    rows = read_rows(out, "selections")
    unions = {r["doc_id"]: r for r in read_rows(out, "union")}
    results = [
        DocumentResult(
            doc_id,
            [{k: v for k, v in r.items() if k != "doc_id"} for r in rows if r["doc_id"] == doc_id],
            {k: v for k, v in unions[doc_id].items() if k != "doc_id"},
        )
        for doc_id in sorted(unions)
    ]
    first = write_block(out, results)
    after_first = len(read_rows(out, "selections"))
    second = write_block(out, list(reversed(results)))
    assert first == second
    assert len(read_rows(out, "selections")) == after_first  # replaced, not added


def test_a_directory_given_as_criteria_is_named_as_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    docs = make_documents(1)
    argv = _inputs(tmp_path, docs, make_criteria(docs))
    argv[argv.index("--criteria") + 1] = str(tmp_path)
    code = main([*argv, "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code in (1, 2) and "is a directory" in err and "no such file" not in err
