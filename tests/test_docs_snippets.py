"""Every Python snippet of the documentation site runs, offline (see tests/docs_snippets.py)."""

from __future__ import annotations

import contextlib
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from .docs_snippets import ROOT, Snippet, pages_with_snippets, snippets
from .serve_helpers import ServerProcess

FIXTURE = ROOT / "tests" / "fixtures" / "tiny-bert-cross-encoder"
# Model directories the snippets name, each the tiny cross-encoder.
MODEL_DIRS = ("my-reranker", "ms-marco-MiniLM-L6-v2")
COMMIT = "0123456789abcdef0123456789abcdef01234567"
SERVE_KEY = "sk-docs-5e2b7d1c"
# The environment variables each provider's client reads (see guides/remote.md).
PROVIDER_ENV = {
    "zeroentropy": ("ZEROENTROPY_BASE_URL", "ZEROENTROPY_API_KEY"),
    "cohere": ("CO_API_URL", "CO_API_KEY"),
}


def test_the_docs_have_snippets_and_every_marker_is_known() -> None:
    found = [s for p in pages_with_snippets() for s in snippets(p)]
    assert len(found) >= 10
    for s in found:
        for clause in _clauses(s):
            assert clause[0] in KINDS, f"{s.page}:{s.line}: {s.marker}"


KINDS = {"rerank-server", "hub", "serve", "calibrator"}


def _clauses(snippet: Snippet) -> list[list[str]]:
    return [c.split() for c in (snippet.marker or "").split(";") if c.strip()]


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "examples").symlink_to(ROOT / "examples")
    for name in MODEL_DIRS:
        shutil.copytree(FIXTURE, tmp_path / name)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path))  # ~/.cache/... lands here
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    return tmp_path


@pytest.mark.parametrize(
    "page", pages_with_snippets(), ids=lambda p: p.relative_to(ROOT / "docs").as_posix()
)
def test_every_snippet_of_the_page_runs(
    page: Path, workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    namespace: dict[str, object] = {"__name__": "__docs__"}
    with contextlib.ExitStack() as stack:
        for snippet in snippets(page):
            code = snippet.code
            for clause in _clauses(snippet):
                code = stack.enter_context(_stand_in(clause, code, workdir, monkeypatch))
            try:
                exec(compile(code, f"{snippet.page}:{snippet.line}", "exec"), namespace)
            except Exception as exc:
                raise AssertionError(f"{snippet.page}, block at line {snippet.line}") from exc


@contextlib.contextmanager
def _stand_in(
    clause: list[str], code: str, workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[str]:
    """Start what one clause of a snippet's marker asks for; yield the code to run."""
    kind, *args = clause
    if kind == "rerank-server":
        from .rerank_server import KEY, Behaviour, serve

        with serve(Behaviour(args[0])) as server:
            url_var, key_var = PROVIDER_ENV[args[0]]
            monkeypatch.setenv(url_var, server.base_url)
            monkeypatch.setenv(key_var, KEY)
            yield code
    elif kind == "hub":
        from .hub_server import Hub, serve

        hub = Hub()
        for repo in set(re.findall(r"hub:([\w.-]+/[\w.-]+)", code)):
            hub.add(repo, FIXTURE, COMMIT)
        with serve(hub) as url:
            monkeypatch.setenv("HF_ENDPOINT", url)
            monkeypatch.setenv("HF_HUB_CACHE", str(workdir / "hf"))
            monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(workdir / "hf"))
            yield code
    elif kind == "serve":
        monkeypatch.setenv("CTXCOMPRESS_SERVE_KEY", SERVE_KEY)
        monkeypatch.setenv("ZEROENTROPY_API_KEY", SERVE_KEY)
        server = ServerProcess(
            ["--scorer", "bm25", "--api-key-env", "CTXCOMPRESS_SERVE_KEY"],
            workdir / "serve.log",
            env={"CTXCOMPRESS_SERVE_KEY": SERVE_KEY},
        )
        try:
            server.wait_until(200)
            yield code.replace("127.0.0.1:8080", f"127.0.0.1:{server.port}")
        finally:
            server.terminate()
    elif kind == "calibrator":
        # `calibrator FILE for SPEC`: the file `ctxcompress calibrate` would have written
        # (shown above the snippet), fitted here on a few made-up labels.
        from ctxcompress import fit_calibrator, load_scorer

        file, _, spec = args
        name = load_scorer(spec).name
        fit_calibrator([0.1, 0.4, 0.6, 0.9], [0, 0, 1, 1], "platt", name).save(file)
        yield code
