"""Building onnxruntime sessions with explicit execution providers, and checking them.

Asking for CUDA and silently running on the CPU is the classic ONNX failure: after a
session is built, the providers that actually loaded are compared with those asked for,
and a missing GPU provider warns (or raises with ``strict=True``) naming the likely cause.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any, Literal

from ..._exceptions import (
    ExecutionProviderError,
    InvalidInputError,
    MissingDependencyError,
    ModelFileError,
    OnnxRuntimeConflictWarning,
    ProviderFallbackWarning,
)
from ..._pickling import RebuiltFromArguments
from ._description import PRECISION_FILES, ModelDescription, Precision
from ._files import ModelFiles

__all__ = [
    "OnnxModelUser",
    "OpenedModel",
    "SessionOptions",
    "SessionRunner",
    "create_session",
    "default_precision",
    "open_model",
    "resolve_providers",
]

GPU_PROVIDERS = ("TensorrtExecutionProvider", "CUDAExecutionProvider")
Providers = Literal["auto", "cpu", "cuda"] | Sequence[str]
GraphOptimization = Literal["disable", "basic", "extended", "all"]


def _ort() -> Any:
    try:
        import onnxruntime
    except ImportError as exc:
        raise MissingDependencyError("onnxruntime", "cpu", "local ONNX models") from exc
    _warn_if_both_runtimes()
    return onnxruntime


@functools.cache
def _warn_if_both_runtimes() -> None:
    # Both distributions install the same `onnxruntime` module: whichever was installed
    # last wins, so a GPU machine may silently run the CPU-only build.
    installed = []
    for name in ("onnxruntime", "onnxruntime-gpu"):
        with contextlib.suppress(metadata.PackageNotFoundError):
            installed.append(f"{name} {metadata.version(name)}")
    if len(installed) == 2:
        warnings.warn(
            f"both {installed[0]} and {installed[1]} are installed; they provide the same "
            "module and must not be installed together. Keep one: pip uninstall -y "
            "onnxruntime onnxruntime-gpu, then pip install 'ctxcompress[gpu]' (or [cpu])",
            OnnxRuntimeConflictWarning,
            stacklevel=3,
        )


# The TensorRT runtime library onnxruntime-gpu's TensorRT provider loads, by platform.
_TENSORRT_LIBRARIES = ("libnvinfer.so.10", "libnvinfer.so", "nvinfer_10.dll", "nvinfer.dll")


@functools.cache
def tensorrt_loads() -> bool:
    """Whether TensorRT's runtime library can be loaded. onnxruntime-gpu lists its TensorRT
    provider whether or not TensorRT is installed; asked for without it, a session logs an
    error, retries without it and, with ``"auto"``, we would warn about a fallback that
    changed nothing (seen on an H100 with onnxruntime-gpu 1.31 and no TensorRT)."""
    for name in _TENSORRT_LIBRARIES:
        try:
            ctypes.CDLL(name)
        except OSError:
            continue
        return True
    return False


def resolve_providers(providers: Providers = "auto") -> list[str]:
    """``"auto"``: TensorRT/CUDA where this onnxruntime has them (TensorRT only where its
    libraries load), then CPU; ``"cpu"``; ``"cuda"``; or an explicit list of provider
    names, kept in order."""
    available = _ort().get_available_providers()
    if providers == "auto":
        present = [p for p in GPU_PROVIDERS if p in available]
        if "TensorrtExecutionProvider" in present and not tensorrt_loads():
            present.remove("TensorrtExecutionProvider")
        return [*present, "CPUExecutionProvider"]
    if providers == "cpu":
        return ["CPUExecutionProvider"]
    if providers == "cuda":
        return ["CUDAExecutionProvider", "CPUExecutionProvider"]
    if (
        isinstance(providers, str)
        or not isinstance(providers, Sequence)
        or not providers
        or not all(isinstance(p, str) and p for p in providers)
    ):
        raise InvalidInputError(
            f"providers must be 'auto', 'cpu', 'cuda' or a list of onnxruntime provider names "
            f"(e.g. ['CUDAExecutionProvider', 'CPUExecutionProvider']), got {providers!r}"
        )
    return list(providers)


def default_precision(
    model: Path | ModelFiles, providers: str | Sequence[str], *, cpu: Literal["fp32", "int8"]
) -> Precision:
    """The precision to run when none is asked for. On a GPU: fp16 when the model has
    it, else fp32 (never int8: its dynamically quantised matrix products have no CUDA
    kernels, so every layer's activations would be copied to the CPU and back). On a CPU:
    ``cpu`` (int8 for bi-encoders, whose ranking int8 keeps; fp32 for rerankers) when
    present, else fp32. A model without fp32 (a Hugging Face repository fetched at one
    precision) runs what it has."""
    present = set(model.onnx) if isinstance(model, ModelFiles) else _present(model)
    on_gpu = any(p in GPU_PROVIDERS for p in resolve_providers(providers))
    order: tuple[Precision, ...] = (
        ("fp16", "fp32", "int8") if on_gpu else (cpu, "fp32", "int8", "fp16")
    )
    return next((p for p in order if p in present), "fp32")


def _present(model_dir: Path) -> set[str]:
    return {p for p, f in PRECISION_FILES.items() if (model_dir / f).is_file()}


def _fallback_reason(missing: list[str], available: list[str]) -> str:
    if missing == ["TensorrtExecutionProvider"]:
        return (
            "TensorRT's libraries (libnvinfer) are not installed or not on the library path; "
            "install TensorRT, or ask for providers='cuda'"
        )
    if "CUDAExecutionProvider" not in available:
        return (
            "this onnxruntime has no CUDA provider: install onnxruntime-gpu "
            "(pip install 'ctxcompress[gpu]') instead of onnxruntime"
        )
    return (
        "onnxruntime-gpu is installed but the provider failed to load: the CUDA or cuDNN "
        "libraries it was built for are missing or of another version"
    )


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0][:300] if lines else type(exc).__name__


def create_session(
    path: str | os.PathLike[str],
    providers: Providers = "auto",
    *,
    device_id: int = 0,
    intra_op_threads: int | None = None,
    inter_op_threads: int | None = None,
    graph_optimization: GraphOptimization = "all",
    strict: bool = False,
) -> Any:
    """An ``onnxruntime.InferenceSession`` whose loaded providers were checked."""
    ort = _ort()
    wanted = resolve_providers(providers)
    options = ort.SessionOptions()
    options.graph_optimization_level = {
        "disable": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
        "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
        "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
        "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
    }[graph_optimization]
    if intra_op_threads:
        options.intra_op_num_threads = intra_op_threads
    if inter_op_threads:
        options.inter_op_num_threads = inter_op_threads
    # Options only for another device: onnxruntime-gpu 1.31 logs a "no registered plugin EP
    # device" warning for every session given provider options, even {"device_id": 0}.
    with_options: list[Any] = [
        (p, {"device_id": device_id}) if p in GPU_PROVIDERS and device_id else p for p in wanted
    ]
    try:
        session = ort.InferenceSession(str(path), sess_options=options, providers=with_options)
    except Exception as exc:  # onnxruntime's own types (InvalidProtobuf, Fail, NoSuchFile...)
        raise ModelFileError(
            f"cannot load the ONNX model {path}: {path} is not a loadable ONNX model "
            f"({_first_line(exc)}): a damaged or truncated file, or its external data missing? "
            "export or download it again",
            str(path),
        ) from exc
    loaded = session.get_providers()
    missing = [p for p in wanted if p in GPU_PROVIDERS and p not in loaded]
    if missing:
        message = (
            f"asked for {', '.join(missing)} but the session runs on {', '.join(loaded)}: "
            f"{_fallback_reason(missing, ort.get_available_providers())}"
        )
        if strict:
            raise ExecutionProviderError(message)
        warnings.warn(message, ProviderFallbackWarning, stacklevel=2)
    return session


class SessionRunner:
    """Runs a session on numpy feeds and returns its first output as numpy.

    With I/O binding (the default when a GPU provider loaded; ``io_binding=True`` forces it,
    also on a CPU), inputs are placed on the session's device in one copy each and the
    output is allocated there, instead of onnxruntime staging both through host buffers on
    every call.
    """

    def __init__(self, session: Any, *, io_binding: bool | None = None, device_id: int = 0) -> None:
        loaded = session.get_providers()
        on_gpu = any(p in GPU_PROVIDERS for p in loaded)
        self.session = session
        self.io_binding = on_gpu if io_binding is None else io_binding
        self.device = "cuda" if on_gpu else "cpu"
        self.device_id = device_id if on_gpu else 0
        self.output_name = session.get_outputs()[0].name

    def run(self, feeds: dict[str, Any]) -> Any:
        return self.run_outputs(feeds, (self.output_name,))[0]

    def run_outputs(self, feeds: dict[str, Any], names: Sequence[str]) -> list[Any]:
        """The named outputs, in that order (a bi-encoder's embeddings and its tokens)."""
        if not self.io_binding:
            return list(self.session.run(list(names), feeds))
        ort = _ort()
        binding = self.session.io_binding()
        for name, array in feeds.items():
            value = ort.OrtValue.ortvalue_from_numpy(array, self.device, self.device_id)
            binding.bind_ortvalue_input(name, value)
        for name in names:
            binding.bind_output(name, self.device, self.device_id)
        self.session.run_with_iobinding(binding)
        return list(binding.copy_outputs_to_cpu())


@dataclass(frozen=True)
class OpenedModel:
    """A model directory's description, checked session, runner and tokenizer."""

    root: Path
    name: str  # what scorer names show
    description: ModelDescription
    precision: str
    onnx_file: Path
    session: Any
    runner: SessionRunner
    input_names: list[str]
    tokenizer: Any  # tokenizers.Tokenizer, no padding
    tokenizer_file: Path


class OnnxModelUser(RebuiltFromArguments):
    """What an ONNX scorer keeps of its opened model directory.

    Copied and pickled as its constructor's arguments: a session cannot be pickled, so a
    copy opens its own (see ``ctxcompress._pickling``).
    """

    description: ModelDescription
    session: Any
    _runner: SessionRunner
    input_names: list[str]
    tokenizer: Any

    def _adopt(self, opened: OpenedModel) -> None:
        self.description = opened.description
        self.session = opened.session
        self._runner = opened.runner
        self.input_names = opened.input_names
        self.tokenizer = opened.tokenizer


@dataclass(frozen=True)
class SessionOptions:
    """The options every ONNX scorer's constructor takes and hands to :func:`open_model`."""

    precision: str | None
    providers: Providers
    window_stride: float
    batch_tokens: int | None
    strict: bool
    intra_op_threads: int | None
    io_binding: bool | None
    device_id: int = 0


def open_model(
    model_dir: str | os.PathLike[str] | ModelFiles,
    kind: str,
    options: SessionOptions,
    *,
    cpu_precision: Literal["fp32", "int8"],
) -> OpenedModel:
    """What every ONNX scorer does first: read and check the directory's description,
    validate the shared options, pick the precision's file and start its session.
    ``model_dir`` is a ctxcompress model directory, or the :class:`ModelFiles` of one or
    of a Hugging Face repository."""
    try:
        from tokenizers import Tokenizer
    except ImportError as exc:
        raise MissingDependencyError("tokenizers", "onnx", "local ONNX models") from exc
    files = model_dir if isinstance(model_dir, ModelFiles) else ModelFiles.of_dir(model_dir)
    root, description = files.root, files.description
    if description.kind != kind:
        raise InvalidInputError(f"{root} holds a {description.kind}, not a {kind}")
    o = options
    if not 0 < o.window_stride <= 1:
        raise InvalidInputError(f"window_stride must be in (0, 1], got {o.window_stride!r}")
    if o.batch_tokens is not None and o.batch_tokens < 1:
        raise InvalidInputError(f"batch_tokens must be >= 1, got {o.batch_tokens!r}")
    if isinstance(o.device_id, bool) or not isinstance(o.device_id, int) or o.device_id < 0:
        raise InvalidInputError(f"device_id must be an int >= 0 (a GPU index), got {o.device_id!r}")
    precision = o.precision or default_precision(files, o.providers, cpu=cpu_precision)
    onnx_file = files.file(precision)
    session = create_session(
        onnx_file,
        o.providers,
        strict=o.strict,
        device_id=o.device_id,
        intra_op_threads=o.intra_op_threads,
    )
    try:
        tokenizer = Tokenizer.from_file(str(files.tokenizer))
    except Exception as exc:  # tokenizers raises a bare Exception for a bad file
        raise ModelFileError(
            f"cannot load the tokenizer {files.tokenizer}: {_first_line(exc)}",
            str(files.tokenizer),
        ) from exc
    tokenizer.no_padding()
    return OpenedModel(
        root=root,
        name=files.name,
        description=description,
        precision=precision,
        onnx_file=onnx_file,
        session=session,
        runner=SessionRunner(session, io_binding=options.io_binding, device_id=options.device_id),
        input_names=[i.name for i in session.get_inputs()],
        tokenizer=tokenizer,
        tokenizer_file=files.tokenizer,
    )
