"""Fetching a model repository from the Hugging Face Hub: only the files it needs.

Online, the repository's file list (``/api/models/{repo}/revision/{rev}``) decides what
to fetch: a ctxcompress model directory's files when it has a ``ctxcompress.json``; else
its small description files first (config, tokenizer, sentence-transformers modules),
then one ONNX file (the precision asked for, or the one the scorer would pick) with its
external data, or, when it has no ONNX file, its safetensors weights for the builder.
Files go into the standard huggingface_hub cache (``HF_HUB_CACHE``; ``HF_ENDPOINT`` is
honoured), so a repository fetched earlier by any Hugging Face tool is found offline
(``HF_HUB_OFFLINE=1`` or ``offline=True``), and a freshly downloaded LFS file is checked
against its SHA-256 (the name huggingface_hub gives its blob): a corrupt one is removed,
never kept.

Every failure is one ``CtxCompressError`` naming the repository and what failed.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..._exceptions import CtxCompressError, InvalidInputError, MissingDependencyError
from ._description import DESCRIPTION_FILE, PRECISION_FILES
from ._hf_layout import (
    METADATA_FILES,
    choose_onnx,
    external_data,
    local_listing,
    read_layout,
)

__all__ = ["cached_snapshot", "fetch_snapshot"]

_TRUE = ("1", "true", "yes", "on")
# What a ctxcompress model directory holds (today's hub: layout).
_CTXCOMPRESS_FILES = [DESCRIPTION_FILE, "tokenizer.json", *PRECISION_FILES.values()]
_COMMIT = re.compile(r"[0-9a-f]{40}")
_SHA256 = re.compile(r"[0-9a-f]{64}")
_SAFETENSORS, _INDEX = "model.safetensors", "model.safetensors.index.json"


def _hf() -> Any:
    try:
        import huggingface_hub
    except ImportError as exc:
        raise MissingDependencyError("huggingface_hub", "cpu", "hub: models") from exc
    return huggingface_hub


def _endpoint() -> str | None:
    # Read per call, not at import as huggingface_hub does, so HF_ENDPOINT set later counts.
    return os.environ.get("HF_ENDPOINT") or None


def _shown_endpoint() -> str:
    return (_endpoint() or "https://huggingface.co").rstrip("/")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _storage(repo_id: str, cache_dir: str | os.PathLike[str] | None) -> Path:
    root = Path(cache_dir).expanduser() if cache_dir else Path(_hf().constants.HF_HUB_CACHE)
    return root / f"models--{repo_id.replace('/', '--')}"


def cached_snapshot(
    repo_id: str, revision: str | None, cache_dir: str | os.PathLike[str] | None
) -> Path | None:
    """The snapshot folder of ``repo_id`` at ``revision`` (a branch or tag through
    ``refs/``, or a commit) in the local Hugging Face cache, or None."""
    storage = _storage(repo_id, cache_dir)
    revision = revision or "main"
    commit: str | None = revision if _COMMIT.fullmatch(revision) else None
    if commit is None:
        ref = storage / "refs" / revision
        if not ref.is_file():
            return None
        commit = ref.read_text(encoding="utf-8").strip()
    snapshot = storage / "snapshots" / commit
    return snapshot if snapshot.is_dir() else None


def _write_ref(storage: Path, revision: str, commit: str) -> None:
    if revision == commit:
        return
    ref = storage / "refs" / revision
    ref.parent.mkdir(parents=True, exist_ok=True)
    if ref.is_file() and ref.read_text(encoding="utf-8").strip() == commit:
        return
    staging = ref.with_name(f".{ref.name}.{os.getpid()}.tmp")
    staging.write_text(commit, encoding="utf-8")
    os.replace(staging, ref)  # readers never see a half-written ref


def _why_online_failed(exc: BaseException, repo_id: str, revision: str | None) -> str:
    hf = _hf()
    errors = hf.utils
    where = _shown_endpoint()
    status = getattr(getattr(exc, "response", None), "status_code", None)
    if isinstance(exc, errors.GatedRepoError):
        return f"{repo_id} is gated on {where}: accept its terms there and set HF_TOKEN"
    if isinstance(exc, errors.RepositoryNotFoundError):
        return (
            f"{where} has no repository {repo_id} (HTTP {status}; if it is private or gated, "
            "set HF_TOKEN)"
        )
    if isinstance(exc, errors.RevisionNotFoundError):
        return f"{repo_id} has no revision {revision!r} on {where}"
    if isinstance(exc, errors.HfHubHTTPError) and status is not None:
        return f"{where} answered HTTP {status} ({_first_line(exc)})"
    if type(exc).__name__ == "OfflineModeIsEnabled":
        return "huggingface_hub is in offline mode (HF_HUB_OFFLINE was set when it was imported)"
    return f"{where} could not be reached ({type(exc).__name__}: {_first_line(exc)})"


def fetch_snapshot(
    repo_id: str,
    *,
    revision: str | None = None,
    precision: str | None = None,
    file: str | None = None,
    offline: bool | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    on_gpu: bool = False,
) -> Path:
    """The local snapshot folder of ``repo_id`` holding what a scorer needs, downloaded
    when online, else found in the cache. ``offline`` defaults to ``HF_HUB_OFFLINE``."""
    _hf()
    if not repo_id or repo_id.count("/") != 1 or any(not part for part in repo_id.split("/")):
        raise InvalidInputError(f"hub models are named <owner>/<name>, got {repo_id!r}")
    if offline is None:
        offline = os.environ.get("HF_HUB_OFFLINE", "").lower() in _TRUE
    fetch = _Fetch(repo_id, cache_dir, precision, file, on_gpu)
    online_error: BaseException | None = None
    if not offline:
        api = _hf().HfApi(endpoint=_endpoint())
        try:
            info = api.model_info(repo_id, revision=revision)
        except Exception as exc:  # not found, gated, unreachable: the cache may still have it
            online_error = exc
        else:
            listing = [s.rfilename for s in info.siblings or []]
            fetched = fetch.download(str(info.sha), listing)
            # Files were fetched by commit, which records no ref: name the commit under
            # the revision asked for, as huggingface_hub does, so offline use finds it.
            _write_ref(_storage(repo_id, cache_dir), revision or "main", str(info.sha))
            return fetched
    snapshot = cached_snapshot(repo_id, revision, cache_dir)
    reason = (
        _why_online_failed(online_error, repo_id, revision)
        if online_error is not None
        else "offline (HF_HUB_OFFLINE or offline=True)"
    )
    if snapshot is None:
        raise CtxCompressError(
            f"cannot load hub:{repo_id}: {reason}, and it is not in the local Hugging Face "
            f"cache ({_storage(repo_id, cache_dir).parent})"
        ) from online_error
    fetch.check_cached(snapshot, reason)
    return snapshot


@dataclass(frozen=True)
class _Fetch:
    """One repository's download: which files, into which snapshot, checked how."""

    repo_id: str
    cache_dir: str | os.PathLike[str] | None
    precision: str | None
    file: str | None
    on_gpu: bool

    @property
    def spec(self) -> str:
        return f"hub:{self.repo_id}"

    def download(self, commit: str, listing: Sequence[str]) -> Path:
        snapshot = _storage(self.repo_id, self.cache_dir) / "snapshots" / commit
        if DESCRIPTION_FILE in listing:  # a ctxcompress model directory: as before
            for name in (f for f in _CTXCOMPRESS_FILES if f in listing):
                self._get(commit, name)
            return snapshot
        if "config.json" not in listing:
            raise CtxCompressError(
                f"cannot load {self.spec}: it has neither {DESCRIPTION_FILE} nor config.json, "
                "so it is not a model repository ctxcompress can run"
            )
        for name in (f for f in METADATA_FILES if f in listing):
            self._get(commit, name)
        for extra in self._pooling_config(snapshot, listing):
            self._get(commit, extra)
        for name in self._weights(snapshot, listing, commit):
            self._get(commit, name)
        return snapshot

    def check_cached(self, snapshot: Path, reason: str) -> None:
        """Offline: the cached snapshot must hold the files a scorer would run."""
        listing = local_listing(snapshot)
        if DESCRIPTION_FILE in listing:
            return
        hint = f"`ctxcompress pull {self.spec}` online fetches them"
        if "config.json" not in listing:
            raise CtxCompressError(
                f"cannot load {self.spec}: {reason}, and the local Hugging Face cache holds "
                f"only part of it ({snapshot} has no config.json); {hint}"
            )
        try:
            layout = read_layout(snapshot, source=self.spec)
            chosen = self._choose(listing, layout.kind)
        except InvalidInputError as exc:
            raise CtxCompressError(f"{reason}; in the local cache: {exc}; {hint}") from exc
        if chosen is None and not {_SAFETENSORS, _INDEX} & set(listing):
            raise CtxCompressError(
                f"cannot load {self.spec}: {reason}, and the local Hugging Face cache has "
                f"its description but no weights (no ONNX file, no {_SAFETENSORS}); {hint}"
            )

    def _choose(self, listing: Sequence[str], kind: Any) -> tuple[str, str] | None:
        return choose_onnx(
            listing,
            kind=kind,
            precision=self.precision,
            file=self.file,
            on_gpu=self.on_gpu,
            where=self.spec,
        )

    def _pooling_config(self, snapshot: Path, listing: Sequence[str]) -> list[str]:
        """A bi-encoder's pooling config when modules.json puts it elsewhere than
        1_Pooling/ (already fetched with the description files)."""
        modules = snapshot / "modules.json"
        if not modules.is_file():
            return []
        try:
            entries = json.loads(modules.read_text(encoding="utf-8"))
            paths = [f"{m['path']}/config.json" for m in entries if "Pooling" in m.get("type", "")]
        except (ValueError, TypeError, KeyError) as exc:
            raise CtxCompressError(f"cannot load {self.spec}: modules.json: {exc}") from exc
        return [p for p in paths if p in listing and p not in METADATA_FILES]

    def _weights(self, snapshot: Path, listing: Sequence[str], commit: str) -> list[str]:
        """The ONNX file (and its external data) to run, or the safetensors to build from;
        what the builder cannot build is refused before any weight is downloaded."""
        layout = read_layout(snapshot, source=f"{self.spec}@{commit}")
        chosen = self._choose(listing, layout.kind)
        if chosen is not None:
            return [chosen[1], *external_data(listing, chosen[1])]
        from ._graph import read_spec

        read_spec(snapshot, layout.kind)  # UnsupportedModelError names the architecture
        if _SAFETENSORS in listing:
            return [_SAFETENSORS]
        if _INDEX in listing:
            index = self._get(commit, _INDEX)
            try:
                shards = sorted(set(json.loads(index.read_text("utf-8"))["weight_map"].values()))
            except (ValueError, KeyError, TypeError, AttributeError) as exc:
                raise CtxCompressError(f"cannot load {self.spec}: {_INDEX}: {exc}") from exc
            return [str(s) for s in shards]
        torch_only = "pytorch_model.bin" in listing
        raise CtxCompressError(
            f"cannot load {self.spec}: it has no ONNX file and no {_SAFETENSORS}"
            + (" (only pytorch_model.bin, which needs torch to read)" if torch_only else "")
            + f"; export it with torch instead: `ctxcompress export {self.repo_id} OUT_DIR` "
            "(pip install 'ctxcompress[export]')"
        )

    def _get(self, commit: str, name: str) -> Path:
        """One file into the cache (or found there), checked when freshly downloaded."""
        hf = _hf()
        pointer = _storage(self.repo_id, self.cache_dir) / "snapshots" / commit / name
        fresh = not pointer.exists()
        try:
            path = hf.hf_hub_download(
                self.repo_id,
                name,
                revision=commit,
                cache_dir=self.cache_dir,
                endpoint=_endpoint(),
            )
        except Exception as exc:
            raise CtxCompressError(
                f"cannot load {self.spec}: downloading {name} from {_shown_endpoint()} failed "
                f"({type(exc).__name__}: {_first_line(exc)}); nothing of it was kept"
            ) from exc
        if fresh:
            self._verify(Path(path), name)
        return Path(path)

    def _verify(self, path: Path, name: str) -> None:
        blob = Path(os.path.realpath(path))
        if not _SHA256.fullmatch(blob.name):
            return  # a small (non-LFS) file, named by its git hash; or no symlinks here
        h = hashlib.sha256()
        with blob.open("rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
        if h.hexdigest() == blob.name:
            return
        path.unlink(missing_ok=True)
        blob.unlink(missing_ok=True)
        raise CtxCompressError(
            f"cannot load {self.spec}: {name} downloaded from {_shown_endpoint()} does not "
            f"match its SHA-256 (corrupted in transit?); removed from the cache, try again"
        )
