"""Issue 25: every bad input gets one clear line, and no answer is silently wrong.

CRLF page structure, policy options that keep the default's other knobs, typed errors for
damaged model files and caches, stdin in any locale, messages that name what was wrong.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

from ctxcompress import (
    DEFAULT_POLICY,
    Compressor,
    Hybrid,
    InvalidInputError,
    InvalidPolicyError,
    MemoryCache,
    ModelFileError,
    SinglePageWarning,
    SQLiteCache,
    build_policy,
    check_scorer_spec,
    load_document,
    select_relevant_pages,
    split_pages,
)
from ctxcompress._cli import main

CROSS_ENCODER = Path(__file__).parent / "fixtures" / "tiny-bert-cross-encoder"


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def one_error_line(err: str) -> str:
    lines = [line for line in err.strip().splitlines() if "warning" not in line]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


# -- item 2: CRLF files keep their pages; a long one-page document is said to be one ------


@pytest.mark.parametrize("newline", ["\r\n", "\r", "\n"])
def test_page_markers_work_with_every_line_ending(newline: str) -> None:
    text = newline.join(
        ["Cover", "--- Page 1 ---", "tb screening", "=== page 2 ===", "mtx trial", "[Page 3]", "x"]
    )
    pages = split_pages(text)
    assert [p.page_number for p in pages] == [None, 1, 2, 3]
    assert [p.text for p in pages] == ["Cover", "tb screening", "mtx trial", "x"]
    assert all(text[p.start : p.end] == p.text for p in pages)


def test_form_feeds_with_crlf_lines(tmp_path: Path) -> None:
    file = tmp_path / "windows.txt"
    file.write_bytes(b"first page\r\n\x0c\r\nsecond page\r\n\x0csecond\r\n")
    pages = load_document(file)
    assert [p.text for p in pages] == ["first page", "second page", "second"]


def test_crlf_record_splits_as_the_lf_one(record_path: Path, tmp_path: Path) -> None:
    crlf = tmp_path / "record.txt"
    crlf.write_bytes(record_path.read_bytes().replace(b"\r\n", b"\n").replace(b"\n", b"\r\n"))
    lf_pages = load_document(record_path)
    crlf_pages = load_document(crlf)
    assert len(crlf_pages) == len(lf_pages) == 40
    assert [p.text.replace("\r\n", "\n") for p in crlf_pages] == [p.text for p in lf_pages]


def test_utf16_with_bom_is_text(tmp_path: Path) -> None:
    file = tmp_path / "unicode.txt"
    file.write_bytes("--- Page 1 ---\r\nmétformine\r\n--- Page 2 ---\r\nb".encode("utf-16"))
    assert [p.text for p in load_document(file)] == ["métformine", "b"]


def test_long_document_that_is_one_page_warns() -> None:
    with pytest.warns(SinglePageWarning, match="chunk_size"):
        pages = split_pages("word " * 6000, source="big.txt")
    assert len(pages) == 1
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        split_pages("a short note on one page")
        split_pages("--- Page 1 ---\n" + "word " * 6000)


# -- item 3: one option changes one knob of the default policy ---------------------------


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({"min_keep": 2}, Hybrid(top_k=5, threshold=0.01, min_keep=2)),
        ({"threshold": 0.0}, Hybrid(top_k=5, threshold=0.0, min_keep=1)),
        ({"max_tokens": 500}, Hybrid(top_k=5, threshold=0.01, max_tokens=500, min_keep=1)),
        ({"top_k": 10}, Hybrid(top_k=10, threshold=0.01, min_keep=1)),
        ({"min_keep": 0}, Hybrid(top_k=5, threshold=0.01, min_keep=0)),
        ({}, DEFAULT_POLICY),
    ],
)
def test_build_policy_changes_one_knob(options: dict[str, float], expected: Hybrid) -> None:
    assert build_policy(**options) == expected  # type: ignore[arg-type]


def test_a_policy_without_constraint_is_an_error() -> None:
    for make in (Hybrid, lambda: Hybrid(min_keep=2)):
        with pytest.raises(InvalidPolicyError, match="at least one of top_k"):
            make()
    with pytest.raises(InvalidPolicyError, match="default policy's"):
        build_policy(min_keep=9)
    with pytest.raises(InvalidPolicyError, match="must be a Policy"):
        build_policy("top5")  # type: ignore[arg-type]


def test_cli_min_keep_alone_keeps_the_default_top_k(
    record_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = cli(
        capsys, "compress", str(record_path), "--criterion", "TB screening", "--scorer", "bm25",
        "--min-keep", "2", "--format", "json",
    )  # fmt: skip
    assert code == 0
    result = json.loads(out)
    assert result["policy"] == "Hybrid(top_k=5, threshold=0.01, min_keep=2)"
    assert 2 <= len(result["criteria"][0]["kept"]) <= 5


def test_cli_threshold_zero_keeps_the_default_top_k(
    record_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = cli(
        capsys, "compress", str(record_path), "--criterion", "TB screening", "--scorer", "bm25",
        "--threshold", "0", "--format", "json",
    )  # fmt: skip
    assert code == 0 and len(json.loads(out)["criteria"][0]["kept"]) == 5


def test_select_relevant_pages_one_option(record_path: Path) -> None:
    sel = select_relevant_pages(
        load_document(record_path), "TB screening", scorer="bm25", min_keep=1
    )
    assert 1 <= len(sel.kept) <= 5


# -- item 8: integrations validate the scorer spec when built --------------------------


def test_check_scorer_spec_loads_nothing(tmp_path: Path) -> None:
    check_scorer_spec("default")
    check_scorer_spec("remote:cohere")
    check_scorer_spec(str(CROSS_ENCODER))
    with pytest.raises(InvalidInputError, match="known:"):
        check_scorer_spec("nonsense")
    with pytest.raises(InvalidInputError, match="does not exist"):
        check_scorer_spec(str(tmp_path / "missing"))
    (tmp_path / "file").write_text("x")
    with pytest.raises(InvalidInputError, match="is not a directory"):
        check_scorer_spec(str(tmp_path / "file"))


# -- item 6: damaged model files, caches that are not caches, stdin in any locale ----------


def test_truncated_onnx_model_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], record_path: Path
) -> None:
    model = tmp_path / "model"
    shutil.copytree(CROSS_ENCODER, model)
    onnx = model / "model.onnx"
    onnx.write_bytes(onnx.read_bytes()[: onnx.stat().st_size // 3])
    from ctxcompress import load_scorer

    with pytest.raises(ModelFileError, match="cannot load the ONNX model") as info:
        load_scorer(str(model))
    assert info.value.path == str(onnx)
    code, _, err = cli(
        capsys, "compress", str(record_path), "--criterion", "x", "--scorer", str(model)
    )
    assert code == 1 and "model.onnx" in one_error_line(err)


def test_damaged_tokenizer_is_one_line(tmp_path: Path) -> None:
    model = tmp_path / "model"
    shutil.copytree(CROSS_ENCODER, model)
    (model / "tokenizer.json").write_text("{not json")
    from ctxcompress import load_scorer

    with pytest.raises(ModelFileError, match=r"tokenizer\.json"):
        load_scorer(str(model))


def test_damaged_default_build_is_rebuilt_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ctxcompress._scorers._default import _embedded

    monkeypatch.setenv("CTXCOMPRESS_CACHE_DIR", str(tmp_path))
    monkeypatch.delenv(_embedded.ENV_MODEL, raising=False)
    built = tmp_path / "models" / "all-MiniLM-L6-v2-x"
    builds: list[Path] = []

    def fake_model_dir() -> Path:
        built.mkdir(parents=True, exist_ok=True)
        builds.append(built)
        return built

    monkeypatch.setattr(_embedded, "minilm_model_dir", fake_model_dir)
    opened: list[Path] = []

    def open_dir(path: Path) -> str:
        opened.append(path)
        if len(opened) == 1:
            raise ModelFileError("cannot load the ONNX model: truncated", str(path / "m.onnx"))
        return "session"

    assert _embedded.open_minilm(open_dir) == "session"
    assert len(builds) == 2 and len(opened) == 2

    def always_broken(path: Path) -> str:
        raise ModelFileError("cannot load the ONNX model: truncated", str(path / "m.onnx"))

    with pytest.raises(ModelFileError, match=f"delete {built}"):
        _embedded.open_minilm(always_broken)


def test_named_default_model_is_never_deleted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ctxcompress._scorers._default import _embedded

    monkeypatch.setenv(_embedded.ENV_MODEL, str(tmp_path))
    monkeypatch.setattr(_embedded, "minilm_model_dir", lambda: tmp_path)

    def broken(path: Path) -> str:
        raise ModelFileError("cannot load the ONNX model: truncated", str(path / "m.onnx"))

    with pytest.raises(ModelFileError, match="CTXCOMPRESS_DEFAULT_MODEL"):
        _embedded.open_minilm(broken)
    assert tmp_path.is_dir()


@pytest.mark.parametrize("kind", ["text file", "directory", "foreign database"])
def test_cache_that_is_not_a_cache(
    kind: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], record_path: Path
) -> None:
    path = tmp_path / "cache"
    if kind == "text file":
        path.write_text("not a database\n" * 100)
    elif kind == "directory":
        path.mkdir()
    else:
        import sqlite3

        with sqlite3.connect(path) as db:
            db.execute("CREATE TABLE entries (id INTEGER, other TEXT)")
    with pytest.raises(InvalidInputError, match=str(path)):
        SQLiteCache(path)
    code, _, err = cli(
        capsys, "compress", str(record_path), "--criterion", "x", "--scorer", "bm25",
        "--cache", str(path),
    )  # fmt: skip
    assert code == 2 and "--cache" in one_error_line(err)


def test_non_utf8_stdin_under_a_strict_locale() -> None:
    env = {
        "PATH": "/usr/bin:/bin",
        "LC_ALL": "C.UTF-8",
        "PYTHONIOENCODING": "utf-8:strict",
        **{
            k: v
            for k, v in __import__("os").environ.items()
            if k.startswith(("TIKTOKEN", "CTXC", "PYTHONPATH"))
        },
    }
    proc = subprocess.run(
        [sys.executable, "-m", "ctxcompress", "compress", "--criterion", "x", "--scorer", "bm25"],
        input=b"caf\xe9 au lait\n",
        capture_output=True,
        env=env,
        timeout=120,
    )
    err = proc.stderr.decode()
    assert proc.returncode == 1 and "stdin is not UTF-8" in one_error_line(err)
    latin = subprocess.run(
        [sys.executable, "-m", "ctxcompress", "compress", "--criterion", "x", "--scorer", "bm25"],
        input="--- Page 1 ---\r\ncafé\r\n".encode("utf-16"),
        capture_output=True,
        env=env,
        timeout=120,
    )
    assert latin.returncode == 0, latin.stderr.decode()


# -- item 9: messages that name what was wrong ------------------------------------------


def test_directory_as_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(InvalidInputError, match="is a directory"):
        load_document(tmp_path)
    code, _, err = cli(capsys, "compress", str(tmp_path), "--criterion", "x", "--scorer", "bm25")
    assert code == 1 and "is a directory" in one_error_line(err)


def test_criteria_with_a_non_string_text(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], record_path: Path
) -> None:
    criteria = tmp_path / "c.jsonl"
    criteria.write_text('{"text": 5}\n')
    code, _, err = cli(
        capsys, "compress", str(record_path), "--criteria", str(criteria), "--scorer", "bm25"
    )
    line = one_error_line(err)
    assert code == 2 and "'text' is int 5" in line and "has no" not in line


def test_union_budget_zero_is_a_usage_error(
    capsys: pytest.CaptureFixture[str], record_path: Path
) -> None:
    code, _, err = cli(
        capsys, "compress", str(record_path), "--criterion", "x", "--scorer", "bm25",
        "--union-max-tokens", "0",
    )  # fmt: skip
    assert code == 2 and "--union-max-tokens" in one_error_line(err)
    with pytest.raises(InvalidPolicyError, match="union_max_tokens"):
        Compressor("bm25", union_max_tokens=0)


def test_bad_model_description_keeps_the_useful_part(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], record_path: Path
) -> None:
    model = tmp_path / "model"
    shutil.copytree(CROSS_ENCODER, model)
    description = json.loads((model / "ctxcompress.json").read_text())
    description["kind"] = "reranker"
    (model / "ctxcompress.json").write_text(json.dumps(description))
    code, _, err = cli(
        capsys, "compress", str(record_path), "--criterion", "x", "--scorer", str(model)
    )
    line = one_error_line(err)
    assert code == 2 and "kind" in line and "'reranker'" in line


def test_unexpected_exceptions_are_one_line_unless_debugging(
    capsys: pytest.CaptureFixture[str], record_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ctxcompress._cli import _compress

    def boom(*_: object, **__: object) -> None:
        raise KeyError("surprise")

    monkeypatch.setattr(_compress, "render", boom)
    args = ["compress", str(record_path), "--criterion", "x", "--scorer", "bm25"]
    code, _, err = cli(capsys, *args)
    assert code == 1 and "unexpected KeyError" in one_error_line(err)
    with pytest.raises(KeyError):
        main(["--debug", *args])


# -- item 5: bounded caches -------------------------------------------------------------


def test_memory_cache_bounded_by_bytes() -> None:
    cache = MemoryCache(100, max_bytes=1000)
    cache.put_many({f"k{i}": b"x" * 300 for i in range(5)})
    assert len(cache) == 3
    assert set(cache.get_many([f"k{i}" for i in range(5)])) == {"k2", "k3", "k4"}
    cache.put_many({"k4": b"y" * 900})
    assert len(cache) == 1
    with pytest.raises(InvalidInputError):
        MemoryCache(10, max_bytes=0)


def test_argparse_errors_are_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["compress", "doc.txt", "--top-k", "abc"])
    _, err = capsys.readouterr()
    assert exit_info.value.code == 2
    assert "--top-k" in one_error_line(err) and "usage:" not in err
