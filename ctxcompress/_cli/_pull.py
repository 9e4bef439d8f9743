"""``ctxcompress pull SPEC``: fetch and build a model ahead of time.

For Docker images and offline machines: ``pull default`` builds the embedded default
scorer's model; ``pull hub:<owner>/<name>`` downloads what a scorer needs into the
Hugging Face cache (and builds a graph from safetensors when the repository has no ONNX
file); ``pull ./dir`` builds a local Hugging Face directory. The model's directory is
printed on stdout; later runs find it offline (``HF_HUB_OFFLINE=1``). Download bars and
build messages go to stderr, on a terminal only (``--no-progress`` turns them off).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .._exceptions import InvalidInputError
from .._scorers._registry import is_path_spec
from ._common import UsageError

__all__ = ["add_parser"]


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "pull",
        help="fetch and build a model ahead of time (default, hub:<owner>/<name>, a directory)",
    )
    p.add_argument("spec", metavar="SPEC", help="default, hub:<owner>/<name> or a model directory")
    p.add_argument("--revision", help="a branch, tag or commit of a hub repository")
    p.add_argument(
        "--precision",
        choices=["fp32", "fp16", "int8"],
        help="which of the repository's ONNX files to fetch (default: the one a scorer on "
        "this machine would run)",
    )
    p.add_argument("--file", metavar="PATH", help="an explicit ONNX file of the repository")
    p.add_argument(
        "--no-progress", action="store_true", help="no download bars or messages on stderr"
    )
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    progress = not args.no_progress and sys.stderr.isatty()
    if not progress:
        _quiet_downloads()

    def stage(message: str) -> None:
        if progress:
            print(message, file=sys.stderr, flush=True)

    spec = args.spec.strip()
    if spec == "default":
        if args.revision or args.precision or args.file:
            raise UsageError("pull default takes no --revision, --precision or --file")
        from .._scorers._default._embedded import minilm_model_dir

        stage("building the embedded default model (all-MiniLM-L6-v2)")
        print(minilm_model_dir())
        return 0
    from .._scorers._onnx import Model

    options = {"precision": args.precision, "file": args.file, "on_stage": stage}
    try:
        if spec.startswith("hub:"):
            model = Model.from_hub(spec[4:], revision=args.revision, **options)
        elif is_path_spec(spec):
            if args.revision:
                raise UsageError("--revision is for hub: repositories")
            model = Model.from_dir(Path(spec).expanduser(), **options)
        else:
            raise UsageError(
                f"pull takes default, hub:<owner>/<name> or a model directory, got {spec!r}"
            )
    except InvalidInputError as exc:
        raise UsageError(str(exc)) from exc
    if args.precision != "fp16":  # fp16 files need a GPU to open
        stage("checking that it loads")
        model.scorer(precision=args.precision, providers="cpu")
    files = model.files
    shown = ", ".join(sorted(f"{p}: {f.name}" for p, f in files.onnx.items()))
    stage(f"{spec}: {model.description.kind} ({shown})")
    print(files.root)
    return 0


def _quiet_downloads() -> None:
    try:
        from huggingface_hub.utils.tqdm import disable_progress_bars
    except ImportError:  # the download step will name the missing extra
        return
    disable_progress_bars()
