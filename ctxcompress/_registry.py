"""``load_scorer(spec)``: build a scorer from an explicit spec string, never by guessing.

A spec is ``scheme`` or ``scheme:argument``. A model directory is given as a path that
starts with ``/``, ``./``, ``../`` or ``~``, or any existing directory. Each capability
registers its scheme here; an unknown scheme raises an error that lists the known ones.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ._exceptions import InvalidInputError, MissingDependencyError, UnknownScorerError
from ._scorer import BaseScorer

__all__ = ["DefaultScorerFallbackWarning", "known_schemes", "load_scorer", "register_scheme"]


class DefaultScorerFallbackWarning(UserWarning):
    """The embedded default scorer could not be built (its extra is missing), so
    ``default`` runs BM25 alone."""


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
    """
    if not name or ":" in name:
        raise InvalidInputError(f"scheme name must be non-empty and contain no ':', got {name!r}")
    _SCHEMES[name] = _Scheme(name, usage or name, factory)


def known_schemes() -> list[str]:
    """How each registered scheme is written, for help texts and errors."""
    return [s.usage for s in sorted(_SCHEMES.values(), key=lambda s: s.name)]


def _is_path_spec(spec: str) -> bool:
    if spec.startswith(("/", "./", "../", "~")) or spec.startswith(os.sep):
        return True
    return Path(spec).is_dir()


def load_scorer(spec: str, **options: Any) -> BaseScorer:
    """Build a scorer from ``spec``; ``options`` go to the scheme's factory.

    Known specs in this version are listed by :func:`known_schemes`; ``default`` is the
    scorer every entry point uses when none is given.
    """
    if not isinstance(spec, str) or not spec.strip():
        raise InvalidInputError(f"scorer spec must be a non-empty string, got {spec!r}")
    spec = spec.strip()
    if _is_path_spec(spec):
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
    return scheme.factory(argument, **options)


def _register_builtins() -> None:
    # Imported here, not at module top, so that the registry has no import cycle with the
    # scorers that it builds.
    from ._lexical import BM25Scorer

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
        from ._default import DefaultScorer

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
        from ._default import load_fusion_params
        from ._embedded import minilm_model_dir
        from ._onnx import BiEncoder, BiEncoderScorer

        params = load_fusion_params()
        mapping: dict[str, Any] = {
            "slope": params.bi_encoder_slope,
            "bias": params.bi_encoder_bias,
        }
        for key in ("slope", "bias", "aggregation"):
            if key in options:
                mapping[key] = options.pop(key)
        if not argument:  # the embedded MiniLM, windowed as the fusion was fitted
            options.setdefault("window", params.window)
            options.setdefault("window_stride", params.window_stride)
        encoder = BiEncoder(argument or minilm_model_dir(), **options)
        return BiEncoderScorer(encoder, **mapping)

    register_scheme("bm25", bm25)
    register_scheme("default", default)
    register_scheme("bi-encoder", bi_encoder, usage="bi-encoder[:<model directory>]")

    def model_dir(argument: str, **options: Any) -> BaseScorer:
        from ._onnx import CrossEncoderScorer, read_description

        kind = read_description(Path(argument)).kind
        if kind == "bi-encoder":
            return bi_encoder(argument, **options)
        if kind != "cross-encoder":
            raise UnknownScorerError(f"{kind} model directories are not available in this version")
        return CrossEncoderScorer(argument, **options)

    register_scheme("remote", remote, usage="remote:<provider>[/<model>]")
    register_scheme(PATH_SCHEME, model_dir, usage="<model directory>")


_register_builtins()
