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
  tokens found verbatim in the other.

Two regimes, two fitted models (both in ``classifier.json``):

* **labels** (``classify``, ``route``, ``screen``): a label's probability is a function of
  the text and that label's description only, never of the other labels in the call, so
  that a label means the same alone or among others and a threshold keeps its meaning.
  Absolute cosines differ between texts (a long clinical note is near everything), so the
  text is also compared with a fixed, shipped set of generic background descriptions
  (``background_labels`` in ``classifier.json``): ``*_vs_background`` is the label's value
  less the text's best background value, a yardstick that does not change from call to
  call. The label side is read the same way: ``*_label_rank`` is the share of the background
  descriptions, each read as a text, that this text beats in matching the label (the label's
  own yardstick). A broad description ("world news: ...") matches every text weakly and a
  narrow clinical one matches clinical notes strongly; the rank removes that per-label level,
  which the other label sets of the fit cannot teach. The description's and the text's
  lengths (log tokens) are the last inputs.
* **pairs** (``duplicate_probability``, ``find_duplicates``): a text against one reference
  text, fitted on the near-duplicate sets.

Exclusive labels read the independent probabilities as "at most one applies" (see
``_classification._classify.exclusive_probabilities``); competition between labels lives
only there.

Term weights come from a background vocabulary shipped beside this module
(``background_vocab.json``: each WordPiece token's frequency in general English, from
``wordfreq``; see ``scripts/build_background_vocab.py``), not from the text's own
statistics. ``scripts/fit_classifier.py`` writes ``classifier.json`` with what each model
was fitted on and its leave-one-set-out results.
"""

from __future__ import annotations

import json
import math
import threading
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import TYPE_CHECKING, Any, TypeVar, cast

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

if TYPE_CHECKING:
    from .._onnx._bi_encoder import BiEncoder

__all__ = [
    "BASE_INPUTS",
    "CLASSIFIER_FEATURES",
    "LABEL_INPUTS",
    "ClassifierParams",
    "LinearModel",
    "SingleTextClassifier",
    "background_zipf",
    "base_inputs",
    "label_inputs",
    "load_classifier_params",
    "pair_inputs",
]

Array = np.ndarray[Any, Any]

#: What is measured for one (text, description) pair, in this order along the last axis.
BASE_INPUTS = ("cosine", "maxsim_description", "maxsim_text", "lexical_description", "lexical_text")
#: The label model's inputs: :data:`BASE_INPUTS`, then the gaps to the text's best
#: background description, then the lengths (log(1 + tokens)) of description and text,
#: then the label-side ranks (the share of background descriptions, read as texts, that
#: match the label less than this text does).
LABEL_INPUTS = (
    *BASE_INPUTS,
    "cosine_vs_background",
    "maxsim_description_vs_background",
    "description_length",
    "text_length",
    "cosine_label_rank",
    "maxsim_description_label_rank",
)
#: The base inputs read on the label side (column in :data:`BASE_INPUTS`).
_LABEL_RANKED = (0, 1)

#: Features each model may use: (model, feature) -> its column in that model's inputs
#: (:data:`LABEL_INPUTS` for labels, :data:`BASE_INPUTS` for pairs). None of them looks at
#: another label of the call.
CLASSIFIER_FEATURES: dict[str, tuple[str, ...]] = {"labels": LABEL_INPUTS, "pairs": BASE_INPUTS}


class LinearModel(BaseModel):
    """One logistic model: ``sigmoid(features @ weights + bias)``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    features: tuple[str, ...]
    weights: tuple[float, ...]
    bias: float
    fitted_on: tuple[str, ...]
    # Per feature, the range seen in fitting: inputs are clipped to it, so that a text
    # unlike the fitting data (a one-line message against long notes) is not extrapolated.
    lower: tuple[float, ...] | None = None
    upper: tuple[float, ...] | None = None

    def check(self, known: tuple[str, ...], what: str) -> None:
        unknown = [f for f in self.features if f not in known]
        if unknown:
            raise ValueError(f"{what}: unknown features {unknown}; known: {list(known)}")
        if len(self.weights) != len(self.features):
            raise ValueError(f"{what}: one weight per feature")
        if not all(math.isfinite(w) for w in (*self.weights, self.bias)):
            raise ValueError(f"{what}: weights must be finite")

    def probabilities(self, inputs: Array, names: tuple[str, ...]) -> Array:
        """(... × len(names)) inputs -> (...) probabilities."""
        x = inputs[..., [names.index(f) for f in self.features]]
        if self.lower is not None and self.upper is not None:
            x = np.clip(x, np.asarray(self.lower), np.asarray(self.upper))
        logits = np.clip(x @ np.asarray(self.weights) + self.bias, -50.0, 50.0)
        out: Array = 1.0 / (1.0 + np.exp(-logits))
        return out


class ClassifierParams(BaseModel):
    """The fitted single-text models, as stored in ``classifier.json``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    format: str = Field(pattern="^ctxcompress-classifier$")
    version: int = Field(ge=2, le=2)
    labels: LinearModel
    pairs: LinearModel
    background_labels: tuple[str, ...] = Field(min_length=1)
    # Term weight of a token: max(zipf_cap - zipf, weight_floor), zipf from the background.
    zipf_cap: float = Field(gt=0)
    weight_floor: float = Field(ge=0)
    fitted_on: str
    held_out: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _check(self) -> ClassifierParams:
        self.labels.check(LABEL_INPUTS, "labels")
        self.pairs.check(BASE_INPUTS, "pairs")
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
    return _base_and_lengths(encoder, texts, descriptions, zipf_cap, weight_floor)[0]


def _base_and_lengths(
    encoder: BiEncoder,
    texts: Sequence[str],
    descriptions: Sequence[str],
    zipf_cap: float,
    weight_floor: float,
) -> tuple[Array, Array, Array]:
    unique = list(dict.fromkeys(descriptions))
    left = _sides(encoder, texts, True, zipf_cap, weight_floor)
    right = _sides(encoder, unique, False, zipf_cap, weight_floor)
    where = {d: i for i, d in enumerate(unique)}
    out = np.zeros((len(texts), len(descriptions), len(BASE_INPUTS)), dtype=np.float64)
    for ti, text in enumerate(left):
        for di, description in enumerate(descriptions):
            out[ti, di] = _pair(text, right[where[description]])
    text_lengths = np.asarray([math.log1p(len(t.ids)) for t in left], dtype=np.float64)
    description_lengths = np.asarray(
        [math.log1p(len(right[where[d]].ids)) for d in descriptions], dtype=np.float64
    )
    return out, text_lengths, description_lengths


def label_inputs(
    encoder: BiEncoder,
    texts: Sequence[str],
    descriptions: Sequence[str],
    *,
    background: Sequence[str],
    zipf_cap: float,
    weight_floor: float,
) -> Array:
    """(texts × descriptions × :data:`LABEL_INPUTS`). Each row depends on its text, its
    description and the fixed ``background`` descriptions only: adding or removing other
    labels leaves it as it is."""
    n = len(descriptions)
    base, text_len, description_len = _base_and_lengths(
        encoder, texts, [*descriptions, *background], zipf_cap, weight_floor
    )
    labels, yardstick = base[:, :n], base[:, n:].max(axis=1)  # texts × BASE_INPUTS
    out = np.zeros((len(texts), n, len(LABEL_INPUTS)), dtype=np.float64)
    out[..., : len(BASE_INPUTS)] = labels
    out[..., 5] = labels[..., 0] - yardstick[:, None, 0]
    out[..., 6] = labels[..., 1] - yardstick[:, None, 1]
    out[..., 7] = description_len[None, :n]
    out[..., 8] = text_len[:, None]
    out[..., 9:] = _label_ranks(encoder, labels, descriptions, background, zipf_cap, weight_floor)
    return out


def _label_ranks(
    encoder: BiEncoder,
    labels: Array,
    descriptions: Sequence[str],
    background: Sequence[str],
    zipf_cap: float,
    weight_floor: float,
) -> Array:
    """(texts × descriptions × :data:`_LABEL_RANKED`): per (text, label), the share of the
    background descriptions, read as texts, that match the label less than the text does.
    A percentile, not a gap: it has no scale to tune and reads the same for a broad label
    (weak matches everywhere) and a narrow one."""
    if not descriptions:
        return np.zeros((labels.shape[0], 0, len(_LABEL_RANKED)))
    options = (tuple(background), zipf_cap, weight_floor)
    # background × descriptions × ranked inputs: how each generic topic matches each label
    generic = np.stack([_generic_matches(encoder, d, *options) for d in descriptions], axis=1)
    beaten = labels[:, None, :, list(_LABEL_RANKED)] > generic[None]
    out: Array = beaten.mean(axis=1)
    return out


# Per encoder, kept only while the encoder lives (a functools cache keyed by the encoder
# would keep every model ever used in memory): description and settings -> its matches
# against the background, and the background read as texts.
_GENERIC_ENTRIES = 4096
_generic: weakref.WeakKeyDictionary[BiEncoder, dict[tuple[Any, ...], Any]] = (
    weakref.WeakKeyDictionary()
)
_background_texts: weakref.WeakKeyDictionary[BiEncoder, dict[tuple[Any, ...], Any]] = (
    weakref.WeakKeyDictionary()
)
_cache_lock = threading.Lock()
_V = TypeVar("_V")


def _per_encoder(
    cache: weakref.WeakKeyDictionary[BiEncoder, dict[tuple[Any, ...], Any]],
    encoder: BiEncoder,
    key: tuple[Any, ...],
    compute: Callable[[], _V],
    limit: int | None = None,
) -> _V:
    """``cache``'s value for ``encoder`` and ``key``, computed (outside the lock) when
    missing; with ``limit``, the oldest entry makes room for a new one."""
    with _cache_lock:
        found = cache.get(encoder, {}).get(key)
    if found is not None:
        return cast("_V", found)
    value = compute()
    with _cache_lock:
        entries = cache.setdefault(encoder, {})
        if limit is not None and len(entries) >= limit:
            entries.pop(next(iter(entries)))
        entries[key] = value
    return value


def _generic_matches(
    encoder: BiEncoder,
    description: str,
    background: tuple[str, ...],
    zipf_cap: float,
    weight_floor: float,
) -> Array:
    """(background × :data:`_LABEL_RANKED`): each background description, read as a text,
    against ``description``. Cached: it depends on the label alone, and recomputing it
    for every text would make a label's yardstick cost more than the text's own scores
    (labels repeat across calls: routes, policies, tags)."""

    def compute() -> Array:
        texts = _background_sides(encoder, background, zipf_cap, weight_floor)
        (side,) = _sides(encoder, [description], False, zipf_cap, weight_floor)
        rows = np.asarray([_pair(text, side) for text in texts], dtype=np.float64)
        out: Array = rows[:, list(_LABEL_RANKED)]
        out.setflags(write=False)
        return out

    key = (description, background, zipf_cap, weight_floor)
    return _per_encoder(_generic, encoder, key, compute, limit=_GENERIC_ENTRIES)


def _background_sides(
    encoder: BiEncoder, background: tuple[str, ...], zipf_cap: float, weight_floor: float
) -> list[_Side]:
    """The background descriptions read as texts (windows, tokens): the same for every
    label, so computed once per encoder and background."""
    return _per_encoder(
        _background_texts,
        encoder,
        (background, zipf_cap, weight_floor),
        lambda: _sides(encoder, background, True, zipf_cap, weight_floor),
    )


def pair_inputs(
    encoder: BiEncoder,
    pairs: Sequence[tuple[str, str]],
    *,
    zipf_cap: float,
    weight_floor: float,
) -> Array:
    """(pairs × :data:`BASE_INPUTS`): each text against its own reference."""
    texts = list(dict.fromkeys(a for a, _ in pairs))
    references = list(dict.fromkeys(b for _, b in pairs))
    left = dict(zip(texts, _sides(encoder, texts, True, zipf_cap, weight_floor), strict=True))
    right = _sides(encoder, references, False, zipf_cap, weight_floor)
    right_of = dict(zip(references, right, strict=True))
    out = np.zeros((len(pairs), len(BASE_INPUTS)), dtype=np.float64)
    for i, (a, b) in enumerate(pairs):
        out[i] = _pair(left[a], right_of[b])
    return out


class SingleTextClassifier:
    """Calibrated probabilities that each text fits each description, for the default
    scorer's bi-encoder. Stateless beyond the encoder's caches: safe to share between
    threads as the encoder is."""

    def __init__(self, encoder: BiEncoder, params: ClassifierParams | None = None) -> None:
        self.encoder = encoder
        self.params = params or load_classifier_params()

    def probabilities(self, texts: Sequence[str], descriptions: Sequence[str]) -> Array:
        """(texts × descriptions): the probability that each description applies to each
        text, each decided on its own (the other descriptions do not change it)."""
        inputs = label_inputs(
            self.encoder,
            texts,
            descriptions,
            background=self.params.background_labels,
            zipf_cap=self.params.zipf_cap,
            weight_floor=self.params.weight_floor,
        )
        return self.params.labels.probabilities(inputs, LABEL_INPUTS)

    def pair_probabilities(self, pairs: Sequence[tuple[str, str]]) -> Array:
        """Per (text, reference) pair, the probability that they say the same thing
        (near-duplicates), from the pair model."""
        if not pairs:
            return np.zeros(0)
        inputs = pair_inputs(
            self.encoder,
            pairs,
            zipf_cap=self.params.zipf_cap,
            weight_floor=self.params.weight_floor,
        )
        return self.params.pairs.probabilities(inputs, BASE_INPUTS)
