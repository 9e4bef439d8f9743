"""The default scorer's classification path: one text against one description.

Page selection leans on within-document statistics (z-scores, gaps to the best page, BM25
over the document's pages); a single text has none, so seven of the fusion's eleven inputs
are identically 0 there and its calibration (fitted on pages of long documents) squeezes
every probability into 0.04-0.35. This path uses only what exists for one text and one
description (a label's wording, or a reference text for near-duplicates):

* ``cosine``: the bi-encoder's cosine of the description and the text's best window;
* ``maxsim_description``: per description token, its best cosine with any token of the
  text, averaged with term weights (how much of the description the text covers);
* ``maxsim_text``: the same from the text's side (how much of the text the description
  covers: what separates a paraphrase from a text that merely contains the reference);
* ``lexical_description`` / ``lexical_text``: the weighted share of one side's distinct
  tokens found verbatim in the other;
* the gaps to the other labels given in the same call (``*_vs_others``), 0 with one label.

Term weights come from a background vocabulary shipped beside this module
(``background_vocab.json``: each WordPiece token's frequency in general English, from
``wordfreq``; see ``scripts/build_background_vocab.py``), not from the text's own
statistics. A logistic model whose weights live in ``classifier.json`` (written by
``scripts/fit_classifier.py`` with what it was fitted on and its leave-one-set-out
results) turns them into probabilities.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import TYPE_CHECKING, Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

if TYPE_CHECKING:
    from .._onnx._bi_encoder import BiEncoder

__all__ = [
    "BASE_INPUTS",
    "CLASSIFIER_FEATURES",
    "ClassifierParams",
    "SingleTextClassifier",
    "background_zipf",
    "base_inputs",
    "classifier_features",
    "load_classifier_params",
    "pair_inputs",
]

Array = np.ndarray[Any, Any]

#: What is measured for one (text, description) pair, in this order along the last axis.
BASE_INPUTS = ("cosine", "maxsim_description", "maxsim_text", "lexical_description", "lexical_text")


def _vs_others(values: Array) -> Array:
    """Per label, its value less the best of the other labels (0 with one label): the
    margin that makes the top label of an exclusive set stand out."""
    n = values.shape[-1]
    if n < 2:
        return np.zeros_like(values)
    order = np.sort(values, axis=-1)
    best, second = order[..., -1:], order[..., -2:-1]
    others = np.where(values >= best, second, best)
    out: Array = values - others
    return out


#: Feature name -> f(base) over (texts × labels × BASE_INPUTS) -> (texts × labels).
def _base(i: int) -> Callable[[Array], Array]:
    def read(b: Array) -> Array:
        out: Array = b[..., i]
        return out

    return read


CLASSIFIER_FEATURES: dict[str, Callable[[Array], Array]] = {
    **{name: _base(i) for i, name in enumerate(BASE_INPUTS)},
    "cosine_vs_others": lambda b: _vs_others(b[..., 0]),
    "maxsim_description_vs_others": lambda b: _vs_others(b[..., 1]),
    "cosine_vs_mean": lambda b: b[..., 0] - b[..., 0].mean(axis=-1, keepdims=True),
    "maxsim_description_vs_mean": lambda b: b[..., 1] - b[..., 1].mean(axis=-1, keepdims=True),
    "several_labels": lambda b: np.full(b.shape[:-1], float(b.shape[-2] > 1)),
    "log_labels": lambda b: np.full(b.shape[:-1], math.log(b.shape[-2])),
}


class ClassifierParams(BaseModel):
    """The fitted single-text model, as stored in ``classifier.json``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    format: str = Field(pattern="^ctxcompress-classifier$")
    version: int = Field(ge=1, le=1)
    features: tuple[str, ...]
    weights: tuple[float, ...]
    bias: float
    # Term weight of a token: max(zipf_cap - zipf, weight_floor), zipf from the background.
    zipf_cap: float = Field(gt=0)
    weight_floor: float = Field(ge=0)
    fitted_on: str
    held_out: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _check(self) -> ClassifierParams:
        unknown = [f for f in self.features if f not in CLASSIFIER_FEATURES]
        if unknown:
            raise ValueError(f"unknown features {unknown}; known: {sorted(CLASSIFIER_FEATURES)}")
        if len(self.weights) != len(self.features):
            raise ValueError("one weight per feature")
        if not all(math.isfinite(w) for w in (*self.weights, self.bias)):
            raise ValueError("weights must be finite")
        return self


def _resource(name: str) -> str:
    package = __package__ or "ctxcompress._scorers._default"
    return resources.files(package).joinpath(name).read_text("utf-8")


@lru_cache(maxsize=1)
def load_classifier_params() -> ClassifierParams:
    return ClassifierParams.model_validate(json.loads(_resource("classifier.json")))


@lru_cache(maxsize=1)
def background_zipf() -> Array:
    """Per token id of the embedded model's vocabulary, its Zipf frequency in general
    English (0 for a token never seen in the background list)."""
    data = json.loads(_resource("background_vocab.json"))
    if data.get("format") != "ctxcompress-background-vocab":
        raise ValueError("background_vocab.json: unexpected format")
    out: Array = np.asarray(data["zipf"], dtype=np.float64)
    out.setflags(write=False)
    return out


@dataclass(frozen=True)
class _Side:
    """One text as the pair inputs need it."""

    windows: Array  # (windows × dim) pooled embeddings
    tokens: Array  # (tokens × dim) unit token embeddings, float32
    ids: Array  # token ids matching ``tokens``
    weights: Array  # term weight of each token


def _weighted_mean(values: Array, weights: Array) -> float:
    total = float(weights.sum())
    return float(values @ weights / total) if total > 0 else 0.0


def _lexical(ids: Array, weights: Array, other: Array) -> float:
    """Weighted share of the distinct tokens of ``ids`` that ``other`` also holds."""
    unique, first = np.unique(ids, return_index=True)
    w = weights[first]
    total = float(w.sum())
    return float(w[np.isin(unique, other)].sum() / total) if total > 0 else 0.0


def _pair(text: _Side, description: _Side) -> list[float]:
    cosine = float((text.windows @ description.windows[0]).max())
    if not len(text.tokens) or not len(description.tokens):
        return [cosine, 0.0, 0.0, 0.0, 0.0]
    sims = description.tokens @ text.tokens.T  # description tokens × text tokens
    return [
        cosine,
        _weighted_mean(sims.max(axis=1).astype(np.float64), description.weights),
        _weighted_mean(sims.max(axis=0).astype(np.float64), text.weights),
        _lexical(description.ids, description.weights, text.ids),
        _lexical(text.ids, text.weights, description.ids),
    ]


def _sides(
    encoder: BiEncoder, items: Sequence[str], windowed: bool, zipf_cap: float, floor: float
) -> list[_Side]:
    zipf = background_zipf()
    pooled = encoder.embed_windows(items) if windowed else list(encoder.embed(items)[:, None, :])
    tokens = encoder.embed_tokens(items, windowed=windowed)
    ids = encoder.token_ids(items, windowed=windowed)
    out = []
    for p, t, i in zip(pooled, tokens, ids, strict=True):
        arr = np.asarray(i, dtype=np.int64)
        # Ids past the background's vocabulary (another tokenizer) count as rare.
        known = np.where(arr < len(zipf), zipf[np.minimum(arr, len(zipf) - 1)], 0.0)
        weights = np.maximum(zipf_cap - known, floor)
        out.append(_Side(np.asarray(p, np.float32), np.asarray(t, np.float32), arr, weights))
    return out


def base_inputs(
    encoder: BiEncoder,
    texts: Sequence[str],
    descriptions: Sequence[str],
    *,
    zipf_cap: float,
    weight_floor: float,
) -> Array:
    """(texts × descriptions × :data:`BASE_INPUTS`) for every text against every
    description. Texts are read whole (overlapping windows); a description is read up to
    the model's window, as a query is."""
    unique = list(dict.fromkeys(descriptions))
    left = _sides(encoder, texts, True, zipf_cap, weight_floor)
    right = _sides(encoder, unique, False, zipf_cap, weight_floor)
    where = {d: i for i, d in enumerate(unique)}
    out = np.zeros((len(texts), len(descriptions), len(BASE_INPUTS)), dtype=np.float64)
    for ti, text in enumerate(left):
        for di, description in enumerate(descriptions):
            out[ti, di] = _pair(text, right[where[description]])
    return out


def pair_inputs(
    encoder: BiEncoder,
    pairs: Sequence[tuple[str, str]],
    *,
    zipf_cap: float,
    weight_floor: float,
) -> Array:
    """(pairs × 1 × :data:`BASE_INPUTS`): each text against its own reference (one label)."""
    texts = list(dict.fromkeys(a for a, _ in pairs))
    references = list(dict.fromkeys(b for _, b in pairs))
    left = dict(zip(texts, _sides(encoder, texts, True, zipf_cap, weight_floor), strict=True))
    right = _sides(encoder, references, False, zipf_cap, weight_floor)
    right_of = dict(zip(references, right, strict=True))
    out = np.zeros((len(pairs), 1, len(BASE_INPUTS)), dtype=np.float64)
    for i, (a, b) in enumerate(pairs):
        out[i, 0] = _pair(left[a], right_of[b])
    return out


def classifier_features(names: Sequence[str], base: Array) -> Array:
    """(texts × labels × features) from :func:`base_inputs`."""
    return np.stack([CLASSIFIER_FEATURES[n](base) for n in names], axis=-1)


class SingleTextClassifier:
    """Calibrated probabilities that each text fits each description, for the default
    scorer's bi-encoder. Stateless beyond the encoder's caches: safe to share between
    threads as the encoder is."""

    def __init__(self, encoder: BiEncoder, params: ClassifierParams | None = None) -> None:
        self.encoder = encoder
        self.params = params or load_classifier_params()
        self._weights = np.asarray(self.params.weights, dtype=np.float64)

    def probabilities(self, texts: Sequence[str], descriptions: Sequence[str]) -> Array:
        """(texts × descriptions): the probability that each description applies to each
        text, the descriptions being the labels of one call (their margins are features)."""
        base = base_inputs(
            self.encoder,
            texts,
            descriptions,
            zipf_cap=self.params.zipf_cap,
            weight_floor=self.params.weight_floor,
        )
        return self.probabilities_from(base)

    def pair_probabilities(self, pairs: Sequence[tuple[str, str]]) -> Array:
        """Per (text, reference) pair, the probability that the reference, as the one
        label of its call, applies to the text (near-duplicates: that they say the same)."""
        if not pairs:
            return np.zeros(0)
        base = pair_inputs(
            self.encoder,
            pairs,
            zipf_cap=self.params.zipf_cap,
            weight_floor=self.params.weight_floor,
        )
        out: Array = self.probabilities_from(base)[:, 0]
        return out

    def probabilities_from(self, base: Array) -> Array:
        x = classifier_features(self.params.features, base)
        logits = np.clip(x @ self._weights + self.params.bias, -50.0, 50.0)
        out: Array = 1.0 / (1.0 + np.exp(-logits))
        return out
