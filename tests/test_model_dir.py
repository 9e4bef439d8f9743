"""Model.from_dir / Model.from_hub and the hub: spec, offline against a local HF cache."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from ctxcompress import CrossEncoderScorer, CtxCompressError, InvalidInputError, load_scorer
from ctxcompress._scorers._onnx import Model

pytest.importorskip("huggingface_hub")

FIXTURE = Path(__file__).parent / "fixtures" / "tiny-bert-cross-encoder"
REVISION = "0123456789abcdef0123456789abcdef01234567"


def _hub_cache(root: Path, repo_id: str) -> Path:
    """The Hugging Face cache layout, as snapshot_download leaves it."""
    repo = root / f"models--{repo_id.replace('/', '--')}"
    snapshot = repo / "snapshots" / REVISION
    shutil.copytree(FIXTURE, snapshot)
    (snapshot / "reference.json").unlink()
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(REVISION)
    return root


def test_from_dir_reads_the_description_and_builds_its_scorer() -> None:
    model = Model.from_dir(FIXTURE)
    assert model.description.kind == "cross-encoder"
    scorer = model.scorer(providers="cpu")
    assert isinstance(scorer, CrossEncoderScorer)
    assert len(scorer.score("tuberculosis", ["negative", "copay"])) == 2


def test_from_dir_names_what_is_missing(tmp_path: Path) -> None:
    shutil.copytree(FIXTURE, tmp_path / "m")
    (tmp_path / "m" / "tokenizer.json").unlink()
    with pytest.raises(InvalidInputError, match=r"tokenizer\.json"):
        Model.from_dir(tmp_path / "m")
    shutil.copytree(FIXTURE, tmp_path / "n")
    for f in (tmp_path / "n").glob("model*.onnx"):
        f.unlink()
    with pytest.raises(InvalidInputError, match="no ONNX model"):
        Model.from_dir(tmp_path / "n")
    shutil.copytree(FIXTURE, tmp_path / "d")
    description = json.loads((tmp_path / "d" / "ctxcompress.json").read_text())
    (tmp_path / "d" / "ctxcompress.json").write_text(
        json.dumps(description | {"kind": "decoder-reranker"})
    )
    with pytest.raises(InvalidInputError, match="prompt_template"):
        load_scorer(str(tmp_path / "d"))


def test_from_hub_uses_the_local_cache_offline(tmp_path: Path) -> None:
    cache = _hub_cache(tmp_path / "hf", "acme/tiny-reranker")
    model = Model.from_hub("acme/tiny-reranker", cache_dir=cache, offline=True)
    assert model.source == "hub:acme/tiny-reranker"
    assert model.path.name == REVISION
    scorer = load_scorer("hub:acme/tiny-reranker", cache_dir=cache, offline=True, providers="cpu")
    want = CrossEncoderScorer(FIXTURE, providers="cpu").score("tuberculosis", ["negative"])
    assert scorer.score("tuberculosis", ["negative"]) == want


def test_from_hub_offline_and_not_cached_says_so(tmp_path: Path) -> None:
    with pytest.raises(CtxCompressError, match="not in the local Hugging Face cache") as info:
        Model.from_hub("acme/absent", cache_dir=tmp_path, offline=True)
    assert "offline" in str(info.value)
    with pytest.raises(InvalidInputError, match="owner"):
        Model.from_hub("no-owner", offline=True)
