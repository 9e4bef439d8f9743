"""The ray engine on a real local Ray (one instance for the module, 2 CPUs): the same rows
as the local engine and as ``Compressor.compress``, failures as rows, and resume."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

ray = pytest.importorskip("ray")

from ctxcompress import Compressor, Criterion, load_scorer  # noqa: E402
from ctxcompress._cli import main  # noqa: E402
from ctxcompress.ray import compress_dataset, result_schema  # noqa: E402

from . import batch_helpers  # noqa: E402
from .batch_helpers import (  # noqa: E402
    ROOT,
    SHARED,
    FailingScorer,
    assert_matches_compressor,
    criteria_for,
    doc_pages,
    kill_after_blocks,
    make_criteria,
    make_documents,
    read_rows,
    resume,
    write_jsonl,
)

TINY = ROOT / "tests" / "fixtures" / "tiny-bert-cross-encoder"


@pytest.fixture(scope="module", autouse=True)
def local_ray() -> Iterator[None]:
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    # The test scorer's class travels to the actors by value: they need not import tests/.
    ray.cloudpickle.register_pickle_by_value(batch_helpers)
    ray.data.DataContext.get_current().enable_progress_bars = False
    yield
    # Left running for the rest of the session (Ray stops at exit): a second local Ray in
    # the same process (the batch guide's snippet) can time out starting on a busy machine.


def _argv(tmp_path: Path, docs: list[dict[str, Any]], criteria: list[dict[str, Any]]) -> list[str]:
    d = write_jsonl(tmp_path / "docs.jsonl", docs)
    c = write_jsonl(tmp_path / "criteria.jsonl", criteria)
    return ["batch", "--documents", str(d), "--criteria", str(c), "--scorer", "bm25"]


def _sorted(out: Path, sub: str) -> list[dict[str, Any]]:
    key = "criterion_id" if sub == "selections" else "doc_id"
    return sorted(read_rows(out, sub), key=lambda r: (r["doc_id"], r[key]))


def test_ray_engine_equals_local_engine_and_compressor(tmp_path: Path) -> None:
    docs = make_documents(8)
    criteria = make_criteria(docs)
    argv = _argv(tmp_path, docs, criteria)
    assert (
        main([*argv, "--engine", "ray", "--out", str(tmp_path / "ray"), "--batch-size", "3"]) == 0
    )
    assert main([*argv, "--out", str(tmp_path / "local")]) == 0
    assert_matches_compressor(tmp_path / "ray", docs, criteria)
    for sub in ("selections", "union"):
        assert _sorted(tmp_path / "ray", sub) == _sorted(tmp_path / "local", sub)
    manifest = json.loads((tmp_path / "ray" / "_manifest.json").read_text())
    assert manifest["engine"] == "ray"
    assert manifest["totals"]["documents"] == 8
    assert manifest["totals"]["blocks"] >= 1  # Ray decides how batches make blocks


def test_ray_engine_reads_parquet(tmp_path: Path) -> None:
    docs = make_documents(5)
    folder = tmp_path / "docs"
    folder.mkdir()
    rows = [{"doc_id": d["doc_id"], "pages": d.get("pages"), "text": d.get("text")} for d in docs]
    pq.write_table(pa.Table.from_pylist(rows), folder / "part-0.parquet")
    crit = write_jsonl(tmp_path / "criteria.jsonl", SHARED)
    out = tmp_path / "out"
    argv = ["batch", "--documents", str(folder), "--criteria", str(crit), "--out", str(out)]
    assert main([*argv, "--scorer", "bm25", "--engine", "ray"]) == 0
    assert_matches_compressor(out, docs, SHARED)


def test_compress_dataset_with_onnx_cross_encoder(tmp_path: Path) -> None:
    docs = make_documents(4)
    criteria = make_criteria(docs)
    per_doc: dict[str | None, list[Criterion]] = {
        None: [Criterion(c["id"], c["criterion"]) for c in criteria if "doc_id" not in c]
    }
    for c in criteria:
        if "doc_id" in c:
            per_doc.setdefault(c["doc_id"], []).append(Criterion(c["id"], c["criterion"]))
    dataset = ray.data.from_items(
        [{"doc_id": d["doc_id"], "pages": d.get("pages"), "text": d.get("text")} for d in docs]
    )
    out = compress_dataset(dataset, per_doc, scorer=str(TINY), actors=1, batch_size=2)
    rows = {r["doc_id"]: r for r in out.take_all()}
    assert out.schema().names == result_schema().names
    compressor = Compressor(load_scorer(str(TINY)))
    for doc in docs:
        result = compressor.compress(doc_pages(doc), criteria_for(doc["doc_id"], criteria))
        got = {s["criterion_id"]: s for s in rows[doc["doc_id"]]["selections"]}
        assert list(got) == [s.criterion.id for s in result.selections]
        for s in result.selections:
            assert got[s.criterion.id]["kept_pages"] == sorted(s.kept_indices)
            want = [d.score for d in s.decisions]
            diffs = [abs(a - b) for a, b in zip(got[s.criterion.id]["scores"], want, strict=True)]
            assert max(diffs) <= 1e-9
        assert rows[doc["doc_id"]]["union"]["kept_pages"] == sorted(result.union.kept_indices)


def test_failing_document_becomes_error_rows() -> None:
    docs = make_documents(3)
    docs.append({"doc_id": "bad", "pages": ["FAIL-HERE intro", "second page"]})
    dataset = ray.data.from_items(
        [{"doc_id": d["doc_id"], "pages": d.get("pages"), "text": d.get("text")} for d in docs]
    )
    scorer = FailingScorer("FAIL-HERE")
    for on_error, kept in (("raise", []), ("keep", [0, 1])):
        out = compress_dataset(
            dataset, [c["criterion"] for c in SHARED], scorer=scorer, on_error=on_error
        )
        rows = {r["doc_id"]: r for r in out.take_all()}
        assert set(rows) == {d["doc_id"] for d in docs}
        bad = rows["bad"]["selections"]
        assert [s["criterion_id"] for s in bad] == ["c0", "c1"]
        assert all("remote said 400" in s["error"] and s["kept_pages"] == kept for s in bad)
        assert rows["bad"]["union"]["kept_pages"] == kept
        healthy = [s for d, r in rows.items() if d != "bad" for s in r["selections"]]
        assert healthy and all(s["error"] is None for s in healthy)


def test_ray_resume_after_an_interrupted_run(tmp_path: Path) -> None:
    docs = make_documents(9)
    criteria = make_criteria(docs)
    out = tmp_path / "out"
    argv = [*_argv(tmp_path, docs, criteria), "--engine", "ray", "--out", str(out)]
    assert main([*argv, "--batch-size", "3"]) == 0
    # An interruption between a block's two renames, and during a write.
    lost = sorted((out / "union").glob("*.parquet"))[-1]
    redo = pq.read_metadata(lost).num_rows
    lost.unlink()
    (out / "union" / ".part-y.parquet.tmp").write_bytes(b"half")
    assert main([*argv, "--batch-size", "2", "--resume"]) == 0
    assert_matches_compressor(out, docs, criteria)
    manifest = json.loads((out / "_manifest.json").read_text())
    assert manifest["this_run"]["documents"] == redo
    assert manifest["this_run"]["skipped_documents"] == 9 - redo
    assert manifest["this_run"]["failed_pairs"] == 0
    # Resuming a finished job does nothing and loses nothing.
    assert main([*argv, "--resume"]) == 0
    assert_matches_compressor(out, docs, criteria)


def test_ray_reads_the_jsonl_the_driver_accepts(tmp_path: Path) -> None:
    # A line separator (U+2028) that JSON keeps raw in a string, and a byte-order mark.
    docs = make_documents(3)
    docs[1] = {**docs[1], "pages": [docs[1]["pages"][0] + "\u2028more", *docs[1]["pages"][1:]]}
    criteria = make_criteria(docs)
    path = tmp_path / "docs.jsonl"
    lines = "".join(json.dumps(d, ensure_ascii=False) + "\n" for d in docs)
    path.write_bytes(b"\xef\xbb\xbf" + lines.encode("utf-8"))
    crit = write_jsonl(tmp_path / "criteria.jsonl", criteria)
    argv = ["--documents", str(path), "--criteria", str(crit), "--scorer", "bm25"]
    assert main(["batch", *argv, "--engine", "ray", "--out", str(tmp_path / "ray")]) == 0
    assert main(["batch", *argv, "--out", str(tmp_path / "local")]) == 0
    for sub in ("selections", "union"):
        assert _sorted(tmp_path / "ray", sub) == _sorted(tmp_path / "local", sub)


def test_asking_for_gpus_on_a_cluster_without_any_fails_at_once(tmp_path: Path) -> None:
    from ctxcompress import InvalidInputError

    docs = ray.data.from_items([{"doc_id": "d1", "pages": ["TB screening negative."]}])
    with pytest.raises(InvalidInputError, match="no GPU"):
        compress_dataset(docs, [Criterion("tb", "TB screening?")], scorer="bm25", gpus_per_actor=1)
    argv = _argv(tmp_path, make_documents(2), make_criteria(make_documents(2)))
    assert main(
        [*argv, "--engine", "ray", "--gpus-per-actor", "1", "--out", str(tmp_path / "o")]
    ) in (1, 2)


def test_ray_writes_one_block_per_batch(tmp_path: Path) -> None:
    """--batch-size is the documents per actor call and per output block, as with the local
    engine: a JSONL file is not left in the few large blocks Ray reads it as (which would
    cap the actors at work and what a killed job keeps)."""
    docs = make_documents(10)
    criteria = make_criteria(docs)
    out = tmp_path / "out"
    argv = [*_argv(tmp_path, docs, criteria), "--engine", "ray", "--out", str(out)]
    assert main([*argv, "--batch-size", "3"]) == 0
    sizes = [pq.read_metadata(f).num_rows for f in (out / "union").glob("*.parquet")]
    assert sum(sizes) == 10 and max(sizes) <= 3 and len(sizes) >= 4
    assert_matches_compressor(out, docs, criteria)


def test_ray_sigkill_then_resume_gives_every_row_once(tmp_path: Path) -> None:
    """A real kill of the driver mid-job (its own local Ray): the rerun with --resume
    writes exactly the missing documents' rows, whatever Ray was doing when it died."""
    docs = make_documents(200, pages_per_doc=2)
    criteria = make_criteria(docs, per_doc_every=3)
    out = tmp_path / "out"
    argv = [*_argv(tmp_path, docs, criteria), "--engine", "ray", "--out", str(out)]
    argv += ["--batch-size", "2", "--actors", "1", "--no-progress"]
    cmd = [sys.executable, "-m", "ctxcompress", *argv]
    kill_after_blocks(cmd, out, blocks=3, timeout_s=240)
    before = {r["doc_id"] for r in read_rows(out, "union")}
    assert 3 <= len(before) < len(docs)

    manifest = resume(cmd, out)
    assert_matches_compressor(out, docs, criteria)  # every row once, as Compressor gives it
    assert manifest["totals"]["documents"] == len(docs)
    assert 0 < manifest["this_run"]["skipped_documents"] <= len(before)
