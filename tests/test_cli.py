"""The ctxcompress command, run as a real subprocess."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CRITERIA = ROOT / "examples" / "prior_auth" / "criteria.jsonl"


def run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ctxcompress", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_compress_json_acceptance(record_path: Path) -> None:
    proc = run(
        "compress",
        str(record_path),
        "--criterion",
        "Was tuberculosis screening QuantiFERON negative?",
        "--threshold",
        "0.4",
        "--format",
        "json",
    )
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    [sel] = out["criteria"]
    assert 12 in sel["kept_indices"]
    assert all(k["score"] >= 0.4 for k in sel["kept"])
    for key in ("chars_kept", "chars_total", "tokens_kept", "tokens_total"):
        assert isinstance(sel[key], int)
    assert sel["chars_kept"] < sel["chars_total"]
    assert out["union"]["kept_indices"] == sel["kept_indices"]


def test_compress_criteria_file_markdown_and_text(record_path: Path) -> None:
    md = run("compress", str(record_path), "--criteria", str(CRITERIA), "--top-k", "2")
    assert md.returncode == 0, md.stderr
    assert "## tb_screening" in md.stdout and "Whole document" in md.stdout
    text = run(
        "compress",
        str(record_path),
        "--criterion",
        "QuantiFERON",
        "--top-k",
        "1",
        "--format",
        "text",
    )
    assert "QuantiFERON-TB Gold Plus" in text.stdout


def test_compress_reads_stdin_and_chunks() -> None:
    doc = "alpha beta gamma. " * 50 + "the needle is here. " + "delta epsilon. " * 50
    proc = run(
        "compress",
        "--criterion",
        "needle",
        "--chunk-size",
        "200",
        "--top-k",
        "1",
        "--format",
        "json",
        "--tokenizer",
        "whitespace",
        stdin=doc,
    )
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["n_pages"] > 5
    assert out["token_counter"] == "whitespace"


@pytest.mark.parametrize(
    ("args", "code", "needle"),
    [
        (["--criterion", "x", "--top-k", "0"], 2, "top_k"),
        (["--criterion", "x", "--threshold", "1.5"], 2, "threshold"),
        (["--criterion", ""], 2, "non-empty"),
        ([], 2, "--criterion"),
        (["--criterion", "x", "--scorer", "nosuch:some/model"], 2, "known: "),
        (["--criterion", "x", "--tokenizer", "nope"], 2, "tokenizer spec"),
    ],
)
def test_usage_errors_are_one_line_exit_2(
    record_path: Path, args: list[str], code: int, needle: str
) -> None:
    proc = run("compress", str(record_path), *args)
    assert proc.returncode == code
    assert needle in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize("content", [b"", b"   \n", b"\x7fELF\x02\x01\x00\x00binary"])
def test_bad_documents_are_one_line_failures(tmp_path: Path, content: bytes) -> None:
    f = tmp_path / "doc.txt"
    f.write_bytes(content)
    proc = run("compress", str(f), "--criterion", "x")
    assert proc.returncode == 1
    assert len(proc.stderr.strip().splitlines()) == 1
    assert "Traceback" not in proc.stderr


def test_missing_file() -> None:
    proc = run("compress", "/nonexistent/file.txt", "--criterion", "x")
    assert proc.returncode != 0 and "no such file" in proc.stderr


def test_score_command_jsonl_and_json_list(tmp_path: Path) -> None:
    jsonl = tmp_path / "pages.jsonl"
    jsonl.write_text('{"text": "metformin failed"}\n{"text": "billing"}\n')
    proc = run(
        "score", "--scorer", "bm25", "--criterion", "metformin failure", "--pages", str(jsonl)
    )
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["scorer"] == "bm25" and len(out["scores"]) == 2
    assert out["scores"][0] > out["scores"][1]
    lst = tmp_path / "pages.json"
    lst.write_text(json.dumps(["metformin failed", "billing"]))
    as_list = run(
        "score", "--scorer", "bm25", "--criterion", "metformin failure", "--pages", str(lst)
    )
    assert json.loads(as_list.stdout)["scores"] == out["scores"]


def test_score_bad_pages_file(tmp_path: Path) -> None:
    bad = tmp_path / "pages.jsonl"
    bad.write_text('{"text": "ok"}\n{not json}\n')
    proc = run("score", "--criterion", "x", "--pages", str(bad))
    assert proc.returncode == 1 and "line 2" in proc.stderr


def test_classify_command() -> None:
    proc = run(
        "classify",
        "Please refund my broken order",
        "--label",
        "refund=customer asks for a refund",
        "--label",
        "spam=unsolicited advertising",
        "--threshold",
        "0.3",
    )
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["labels"]["refund"]["probability"] > out["labels"]["spam"]["probability"]
    # The keys it always had, plus the top label and whether labels were exclusive.
    assert set(out) == {"scorer", "threshold", "labels", "positive", "top", "exclusive"}
    assert out["top"] == "refund" and out["exclusive"] is False
    assert run("classify", "x", "--label", "nodescription").returncode == 2


def test_version_and_help() -> None:
    assert run("version").stdout.startswith("ctxcompress ")
    assert run().returncode == 2
    assert run("compress", "--help").returncode == 0


def test_cache_option_reuses_scores_across_runs(record_path: Path, tmp_path: Path) -> None:
    cache = tmp_path / "scores.sqlite"
    args = ("compress", str(record_path), "--criterion", "tuberculosis", "--scorer", "bm25")
    first = run(*args, "--cache", str(cache))
    assert first.returncode == 0, first.stderr
    assert cache.is_file()
    second = run(*args, "--cache", str(cache))
    assert second.returncode == 0, second.stderr
    assert second.stdout == first.stdout == run(*args).stdout


def test_cache_command_shows_and_clears(record_path: Path, tmp_path: Path) -> None:
    cache = tmp_path / "scores.sqlite"
    missing = run("cache", "stats", str(cache))
    assert missing.returncode == 2 and "no cache file" in missing.stderr
    args = ("compress", str(record_path), "--criterion", "tuberculosis", "--cache", str(cache))
    assert run(*args).returncode == 0  # the default scorer: scores and page embeddings
    stats = run("cache", "stats", str(cache))
    assert stats.returncode == 0
    entries = int(stats.stdout.split(": ")[1].split()[0])
    assert entries > 40  # 40 pair scores plus page and query embeddings
    cleared = run("cache", "clear", str(cache))
    assert cleared.returncode == 0 and f"cleared {entries} entries" in cleared.stdout
    assert ": 0 entries" in run("cache", "stats", str(cache)).stdout
