"""``load_scorer(spec)``: build a scorer from an explicit spec string, never by guessing.

A spec is ``scheme`` or ``scheme:argument``, or a model directory written as a path. The
rule, which never looks at the file system: a spec is a path when it starts with ``/``,
``~``, ``.`` (``./model``, ``../model``, ``.``) or a Windows drive (``C:\\``), or when a path
separator comes before any ``:`` (``models/reranker``). So a bare word is always a scheme
(``default`` stays the default scorer even where a folder ``default/`` exists; write
``./default`` for the folder), and ``hub:owner/name`` is the ``hub`` scheme. Each capability
registers its scheme here; an unknown scheme raises an error that lists the known ones.
"""

from __future__ import annotations

import os
import re
import threading
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .._exceptions import (
    DefaultScorerFallbackWarning,
    InvalidInputError,
    MissingDependencyError,
    UnknownScorerError,
)
from ._base import BaseScorer

__all__ = [
    "check_scorer_spec",
    "is_path_spec",
    "known_schemes",
    "load_scorer",
    "register_scheme",
    "shared_default_scorer",
]


# factory(argument, **options) -> scorer; argument is "" for a bare scheme.
ScorerFactory = Callable[..., BaseScorer]

PATH_SCHEME = "path"


@dataclass(frozen=True)
class _Scheme:
    name: str
    usage: str
    factory: ScorerFactory


_SCHEMES: dict[str, _Scheme] = {}


def register_scheme(name: str, factory: ScorerFactory, *, usage: str | None = None) -> None:
    """Register ``factory`` for specs ``name`` / ``name:<argument>``.

    ``usage`` is how the scheme is shown in error messages (default: the bare name). The
    scheme ``"path"`` receives model directory paths.

    Guide with examples: [Choosing a scorer][guide-scorers].
    """
    if not name or ":" in name:
        raise InvalidInputError(f"scheme name must be non-empty and contain no ':', got {name!r}")
    _SCHEMES[name] = _Scheme(name, usage or name, factory)


def known_schemes() -> list[str]:
    """How each registered scheme is written, for help texts and errors.

    Guide with examples: [Choosing a scorer][guide-scorers].
    """
    return [s.usage for s in sorted(_SCHEMES.values(), key=lambda s: s.name)]


_WINDOWS_DRIVE = re.compile(r"^[A-Za-z]:[\\/]")


def is_path_spec(spec: str) -> bool:
    """Whether ``spec`` names a model directory rather than a scheme (see the module doc)."""
    if spec.startswith(("/", "~", ".", os.sep)) or _WINDOWS_DRIVE.match(spec):
        return True
    separators = [i for i in (spec.find("/"), spec.find(os.sep)) if i >= 0]
    colon = spec.find(":")
    return bool(separators) and (colon < 0 or min(separators) < colon)


def _resolve(spec: object) -> tuple[_Scheme, str, str]:
    """(scheme, argument, stripped spec) for ``spec``, or the error that names why not."""
    if not isinstance(spec, str) or not spec.strip():
        raise InvalidInputError(f"scorer spec must be a non-empty string, got {spec!r}")
    spec = spec.strip()
    if is_path_spec(spec):
        scheme_name, argument = PATH_SCHEME, str(Path(spec).expanduser())
    else:
        scheme_name, _, argument = spec.partition(":")
    scheme = _SCHEMES.get(scheme_name)
    if scheme is None:
        what = "model directories" if scheme_name == PATH_SCHEME else f"scheme {scheme_name!r}"
        raise UnknownScorerError(
            f"cannot load scorer {spec!r}: {what} not available in this version; "
            f"known: {', '.join(known_schemes())}"
        )
    return scheme, argument, spec


def check_scorer_spec(spec: str) -> None:
    """Raise the error :func:`load_scorer` would raise for a spec that cannot name a scorer
    (not a string, an unknown scheme, a model directory that does not exist), without
    loading anything: for settings validated when they are given, not at the first query.

    Guide with examples: [Choosing a scorer][guide-scorers].
    """
    scheme, argument, _ = _resolve(spec)
    if scheme.name == PATH_SCHEME and not Path(argument).is_dir():
        what = "is not a directory" if Path(argument).exists() else "does not exist"
        raise InvalidInputError(f"cannot load scorer {spec!r}: model directory {argument} {what}")


def load_scorer(spec: str, **options: Any) -> BaseScorer:
    """Build a scorer from ``spec``; ``options`` go to the scheme's factory.

    Known specs in this version are listed by :func:`known_schemes`; ``default`` is the
    scorer every entry point uses when none is given.

    Guide with examples: [Choosing a scorer][guide-scorers].
    """
    scheme, argument, _ = _resolve(spec)
    return scheme.factory(argument, **options)


_shared_lock = threading.Lock()
_shared: list[BaseScorer] = []


def shared_default_scorer() -> BaseScorer:
    """The ``default`` scorer, built once per process and shared by every entry point that
    is given no scorer (building it loads a model: ~60x the time of scoring one short text).
    Safe across threads: the lock makes concurrent first calls build it once, and the
    scorer's sessions and caches are themselves thread-safe."""
    with _shared_lock:
        if not _shared:
            _shared.append(load_scorer("default"))
        return _shared[0]


def _register_builtins() -> None:
    # Imported here, not at module top, so that the registry has no import cycle with the
    # scorers that it builds.
    from ._bm25 import BM25Scorer

    def bm25(argument: str, **options: Any) -> BaseScorer:
        if argument:
            raise InvalidInputError(f"the bm25 scorer takes no argument, got 'bm25:{argument}'")
        unknown = set(options) - {"k1", "b"}
        if unknown:
            raise InvalidInputError(f"the bm25 scorer takes no option {', '.join(sorted(unknown))}")
        return BM25Scorer(**options)

    def remote(argument: str, **options: Any) -> BaseScorer:
        from ._remote import remote_from_spec

        return remote_from_spec(argument, **options)

    def default(argument: str, **options: Any) -> BaseScorer:
        if argument:
            raise InvalidInputError(
                f"the default scorer takes no argument, got 'default:{argument}'"
            )
        from ._default._scorer import DefaultScorer

        fallback = options.pop("fallback", True)
        try:
            return DefaultScorer(**options)
        except MissingDependencyError as exc:
            if not fallback:
                raise
            # Never silent: the warning names what to install, and every result names the
            # scorer that actually ran (bm25).
            warnings.warn(
                f"the default scorer falls back to BM25 alone: {exc}",
                DefaultScorerFallbackWarning,
                stacklevel=3,
            )
            return BM25Scorer()

    def bi_encoder(argument: str, **options: Any) -> BaseScorer:
        if argument:
            from ._onnx._bi_encoder import bi_encoder_scorer

            return bi_encoder_scorer(Path(argument).expanduser(), **options)
        from ._default._scorer import embedded_bi_encoder_scorer

        return embedded_bi_encoder_scorer(**options)

    register_scheme("bm25", bm25)
    register_scheme("default", default)
    register_scheme("bi-encoder", bi_encoder, usage="bi-encoder[:<model directory>]")

    def model_dir(argument: str, **options: Any) -> BaseScorer:
        from ._onnx import Model

        # precision and providers also choose which of a Hugging Face repository's files
        # to run (or fetch), so they go to both.
        chosen = {k: options[k] for k in ("precision", "providers") if k in options}
        file = options.pop("file", None)
        return Model.from_dir(argument, file=file, **chosen).scorer(**options)

    def hub(argument: str, **options: Any) -> BaseScorer:
        from ._onnx import Model

        hub_options = {
            k: options.pop(k) for k in ("revision", "cache_dir", "offline", "file") if k in options
        }
        chosen = {k: options[k] for k in ("precision", "providers") if k in options}
        return Model.from_hub(argument, **hub_options, **chosen).scorer(**options)

    register_scheme("remote", remote, usage="remote:<provider>[/<model>]")
    register_scheme(PATH_SCHEME, model_dir, usage="<model directory>")
    register_scheme("hub", hub, usage="hub:<owner>/<name>")


_register_builtins()
