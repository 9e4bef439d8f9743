"""load_scorer: explicit specs only, clear errors for the rest."""

from __future__ import annotations

from pathlib import Path

import pytest

from ctxcompress import (
    BaseScorer,
    BM25Scorer,
    InvalidInputError,
    Scores,
    UnknownScorerError,
    known_schemes,
    load_scorer,
    register_scheme,
)


def test_builtin_specs() -> None:
    assert isinstance(load_scorer("bm25"), BM25Scorer)
    assert load_scorer("default").name  # every entry point's fallback loads with no setup


def test_unknown_scheme_lists_the_known_ones() -> None:
    with pytest.raises(UnknownScorerError) as info:
        load_scorer("cohere-guess")
    message = str(info.value)
    assert "cohere-guess" in message
    for scheme in known_schemes():
        assert scheme in message


def test_a_path_spec_is_never_read_as_a_scheme(tmp_path: Path) -> None:
    # A directory named "bm25" is a model directory path, not the bm25 scheme.
    model_dir = tmp_path / "bm25"
    model_dir.mkdir()
    with pytest.raises(InvalidInputError, match=r"ctxcompress\.json"):
        load_scorer(str(model_dir))


@pytest.mark.parametrize("spec", ["", "   ", None, 3])
def test_empty_or_non_string_spec(spec: object) -> None:
    with pytest.raises(InvalidInputError):
        load_scorer(spec)  # type: ignore[arg-type]


def test_bm25_takes_no_argument() -> None:
    with pytest.raises(InvalidInputError, match="bm25:x"):
        load_scorer("bm25:x")


def test_register_a_scheme() -> None:
    class Constant(BaseScorer):
        def __init__(self, value: float) -> None:
            self.value = value
            self.name = f"constant:{value}"

        def _score(self, criteria, pages):
            return Scores.of([[self.value] * len(pages) for _ in criteria])

    register_scheme("constant", lambda arg, **_: Constant(float(arg)), usage="constant:<p>")
    assert load_scorer("constant:0.25").score("q", ["a", "b"]) == [0.25, 0.25]
    assert "constant:<p>" in known_schemes()
    with pytest.raises(InvalidInputError):
        register_scheme("bad:name", lambda arg: Constant(0.0))
