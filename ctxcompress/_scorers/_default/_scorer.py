"""The default scorer: BM25 and the embedded MiniLM bi-encoder, fused by a small learned model.

For one criterion over one document's pages, a handful of features are computed (see
:data:`FEATURES`: cosine, token-level (late interaction) and BM25 scores normalised within
the document, the share of the criterion's terms on the page and within one clause-sized
span of it, a page's neighbours, whether a criterion asking for a figure meets a page of
figures, the document's length), and a logistic model turns them into a probability:
``p = sigmoid(weights · features + bias)``. The weights live in ``default_scorer.json``
beside this module, written by ``scripts/fit_default_scorer.py`` with a record of the
data they were fitted on and held-out results. Nothing is downloaded: the bi-encoder
comes from the ``minilm`` extra.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib import resources
from typing import TYPE_CHECKING, Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from ..._cache import Cache
from ..._types import Criterion, Page
from .._base import BaseScorer, Scores, query_text
from .._bm25 import BM25Scorer, _Index, span_coverage
from .._onnx._bi_encoder import TOKEN_CACHE_ENTRIES
from .._onnx._description import Precision
from .._onnx._session import Providers
from ._late_interaction import TokenMatrix, streamed_maxsim

if TYPE_CHECKING:
    from .._onnx._bi_encoder import BiEncoder

__all__ = [
    "FEATURES",
    "DefaultScorer",
    "FeatureInputs",
    "FusionParams",
    "asks_quantity",
    "digit_density",
    "embedded_bi_encoder_scorer",
    "feature_inputs",
    "fusion_features",
    "load_fusion_params",
    "streamed_token_maxsims",
    "token_matrices",
]

Array = np.ndarray[Any, Any]


def _zscore(values: Array) -> Array:
    # Within-document standardisation; with fewer than three pages a spread means nothing.
    if len(values) < 3:
        return np.zeros_like(values)
    std = float(values.std())
    return (values - values.mean()) / std if std > 1e-9 else np.zeros_like(values)


def _neighbours_max(values: Array) -> Array:
    # Evidence often runs over a page break (a table continued, a clause split by a
    # chunker), so a page next to a strong match is itself more likely to be evidence.
    if len(values) < 2:
        return np.zeros_like(values)
    floor = float(values.min())
    before = np.concatenate([[floor], values[:-1]])
    after = np.concatenate([values[1:], [floor]])
    out: Array = np.maximum(before, after)
    return out


_DIGIT = re.compile(r"\d")
# A criterion that asks for a figure (an amount, a ratio, a count, a year) is usually
# answered by a page of figures: a financial statement, a table, a lab report.
_ASKS_QUANTITY = re.compile(
    r"\d|\$|%|\b(amount|ratio|margin|how much|how many|total|percentage|rate)\b",
    re.IGNORECASE,
)


def digit_density(pages: Sequence[str]) -> Array:
    """Digits per character of each page (tables and statements score high)."""
    return np.asarray([len(_DIGIT.findall(p)) / max(len(p), 1) for p in pages], dtype=np.float64)


def asks_quantity(criterion_text: str) -> bool:
    """Whether a criterion asks for a figure (English cue words, digits, $ or %)."""
    return _ASKS_QUANTITY.search(criterion_text) is not None


@dataclass(frozen=True)
class FeatureInputs:
    """What the fusion features are made of, for one criterion over one document's pages,
    in document order (the neighbour feature depends on it)."""

    cosine: Array  # bi-encoder cosine of the best window of each page
    bm25_z: Array  # BM25 score, z-scored within the document
    coverage: Array  # IDF-weighted share of the criterion's terms found on the page
    span_coverage: Array  # the same share within the page's best window (see span_coverage)
    digit_density: Array  # see digit_density()
    asks_quantity: bool  # see asks_quantity()
    maxsim: Array  # IDF-weighted token-level MaxSim (see _late_interaction); 0 if unused


#: Feature name -> f(inputs) over one document's pages.
FEATURES: dict[str, Callable[[FeatureInputs], Array]] = {
    "cosine": lambda f: f.cosine,
    "cosine_z": lambda f: _zscore(f.cosine),
    "cosine_gap": lambda f: f.cosine - f.cosine.max(),
    "cosine_z_neighbours": lambda f: _neighbours_max(_zscore(f.cosine)),
    "maxsim": lambda f: f.maxsim,
    "maxsim_z": lambda f: _zscore(f.maxsim),
    # How far below the document's best page: keeps MaxSim's own scale, which means the same
    # in every document, where a z-score stretches a flat document's noise.
    "maxsim_gap": lambda f: f.maxsim - f.maxsim.max(),
    "bm25_z": lambda f: f.bm25_z,
    "bm25_z_positive": lambda f: np.maximum(f.bm25_z, 0.0),
    "coverage": lambda f: f.coverage,
    "span_coverage": lambda f: f.span_coverage,
    "digit_density_if_quantity": lambda f: f.digit_density * float(f.asks_quantity),
    # The base rate: one page of 150 is less likely evidence than one page of 8. Without
    # it one bias cannot be calibrated on short and long documents at once.
    "log_pages": lambda f: np.full(len(f.cosine), math.log(max(len(f.cosine), 1))),
}


def feature_inputs(
    bm25: BM25Scorer,
    index: _Index,
    criterion: Criterion,
    cosine: Array,
    digits: Array,
    maxsim: Array | None = None,
) -> FeatureInputs:
    """The fusion inputs for one criterion over one document's pages, given its cosines,
    the pages' digit density and (when the features use it) its token-level MaxSim. The
    scorer and ``scripts/fit_default_scorer.py`` both build them here, so the weights are
    fitted on exactly the features they are applied to."""
    query = query_text(criterion)
    lexical = np.asarray(bm25._features(index, query), dtype=np.float64)
    span = np.asarray(span_coverage(index, query), dtype=np.float64)
    # The quantity cue reads the criterion itself, not an instruction around it.
    quantity = asks_quantity(criterion.text)
    late = maxsim if maxsim is not None else np.zeros(len(cosine))
    return FeatureInputs(cosine, lexical[:, 0], lexical[:, 1], span, digits, quantity, late)


def token_matrices(
    encoder: BiEncoder, criteria: Sequence[Criterion], texts: Sequence[str]
) -> tuple[TokenMatrix, list[tuple[Array, list[int]]]]:
    """The document's token matrix and each criterion's (token embeddings, token ids).
    Embedding the pages' tokens also embeds the pages, so the cosines then come from the
    cache: one model run per page serves both features."""
    queries = [query_text(c) for c in criteria]
    matrix = TokenMatrix.build(encoder.embed_tokens(texts), encoder.token_ids(texts))
    vectors = encoder.embed_tokens(queries, windowed=False)
    ids = encoder.token_ids(queries, windowed=False)
    return matrix, list(zip(vectors, ids, strict=True))


def streamed_token_maxsims(
    encoder: BiEncoder,
    criteria: Sequence[Criterion],
    texts: Sequence[str],
    *,
    progress: Callable[[int, int], None] | None = None,
) -> Array:
    """(criteria × pages) token-level MaxSim, as ``token_matrices(...)[0].maxsim_many``
    gives it, but embedding and matching the pages a block at a time: a document's token
    embeddings (~0.5 MB a page) are never all in memory at once. The pages' pooled
    embeddings come out of the same runs into the encoder's cache, so the cosines that
    follow need no second run."""
    queries = [query_text(c) for c in criteria]
    vectors = encoder.embed_tokens(queries, windowed=False)
    ids = encoder.token_ids(queries, windowed=False)
    return streamed_maxsim(
        encoder.token_ids(texts),
        lambda first, last: encoder.embed_tokens(texts[first:last]),
        list(zip(vectors, ids, strict=True)),
        progress=progress,
    )


def fusion_features(names: Sequence[str], inputs: FeatureInputs) -> Array:
    """(pages × features) for one criterion over one document."""
    return np.stack([FEATURES[n](inputs) for n in names], axis=1)


class FusionParams(BaseModel):
    """The fitted fusion model, as stored in ``default_scorer.json``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    format: str = Field(pattern="^ctxcompress-fusion$")
    version: int = Field(ge=1, le=1)
    features: tuple[str, ...]
    weights: tuple[float, ...]
    bias: float
    bi_encoder_slope: float  # the bi-encoder-alone mapping: sigmoid(slope * cosine + bias)
    bi_encoder_bias: float
    window: int = Field(ge=8)
    window_stride: float = Field(gt=0, le=1)
    fitted_on: str
    held_out: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _check(self) -> FusionParams:
        unknown = [f for f in self.features if f not in FEATURES]
        if unknown:
            raise ValueError(f"unknown features {unknown}; known: {sorted(FEATURES)}")
        if len(self.weights) != len(self.features):
            raise ValueError("one weight per feature")
        if not all(math.isfinite(w) for w in (*self.weights, self.bias)):
            raise ValueError("weights must be finite")
        return self


def load_fusion_params() -> FusionParams:
    text = (
        resources.files(__package__ or "ctxcompress._scorers._default")
        .joinpath("default_scorer.json")
        .read_text("utf-8")
    )
    return FusionParams.model_validate(json.loads(text))


class DefaultScorer(BaseScorer):
    """BM25 + all-MiniLM-L6-v2 (int8 ONNX on CPU), fused by the shipped logistic model.

    ``cache`` holds page embeddings (an in-memory LRU by default; pass a
    :class:`SQLiteCache` to keep them across runs), ``token_cache`` the pages' token
    embeddings (an in-memory LRU of 512 pages by default: they are large, ~0.5 MB a page).
    ``precision``, ``providers`` and ``device_id`` (the GPU's index) go to the ONNX
    session.

    Guide with examples: [Choosing a scorer][guide-scorers].
    """

    def __init__(
        self,
        *,
        precision: Precision | None = None,
        providers: Providers = "auto",
        cache: Cache | None = None,
        token_cache: Cache | None = None,
        params: FusionParams | None = None,
        intra_op_threads: int | None = None,
        device_id: int = 0,
    ) -> None:
        from .._onnx._bi_encoder import BiEncoder, BiEncoderScorer
        from ._embedded import open_minilm

        self.params = params or load_fusion_params()
        encoder = open_minilm(
            lambda model_dir: BiEncoder(
                model_dir,
                precision=precision,
                providers=providers,
                window=self.params.window,
                window_stride=self.params.window_stride,
                cache=cache,
                token_cache=token_cache,
                intra_op_threads=intra_op_threads,
                device_id=device_id,
            )
        )
        # Token embeddings are only computed (and kept) when a fitted feature reads them.
        self._late = any(f.startswith("maxsim") for f in self.params.features)
        self.bi_encoder = BiEncoderScorer(
            encoder, slope=self.params.bi_encoder_slope, bias=self.params.bi_encoder_bias
        )
        self.bm25 = BM25Scorer()
        # Called with (pages embedded, pages) while a document's pages go through the model:
        # the CLI draws its progress bar with it. Not part of the score.
        self.progress: Callable[[int, int], None] | None = None
        self._weights = np.asarray(self.params.weights, dtype=np.float64)
        self.name = f"default(bm25+all-MiniLM-L6-v2/{encoder.precision})"

    @property
    def fingerprint(self) -> str:
        p = self.params
        return f"{self.name}:{self.bi_encoder.encoder.fingerprint}:{p.weights}:{p.bias}"

    # Documents of at most this many pages may be prepared (below) before they are scored:
    # their pages' token embeddings must still be in the token cache when the document is
    # scored, or the model runs twice; half the default cache leaves room for other requests.
    prepare_limit = TOKEN_CACHE_ENTRIES // 2

    def prepare_pages(self, texts: Sequence[str]) -> None:
        """Run the model over ``texts`` now, filling the caches that scoring reads.

        A page's embeddings depend on that page alone, so ``ctxcompress serve`` embeds the
        pages of concurrent requests together, a slice at a time, and then scores each
        document (BM25 and the fusion features need the whole document) from the caches:
        a long document no longer holds the model while short ones wait.
        """
        encoder = self.bi_encoder.encoder
        if self._late:
            encoder.embed_tokens(list(texts))
        else:
            encoder.embed_windows(list(texts))

    def _score(self, criteria: Sequence[Criterion], pages: Sequence[Page]) -> Scores:
        texts = [p.text for p in pages]
        maxsims = None
        if self._late:
            maxsims = streamed_token_maxsims(
                self.bi_encoder.encoder, criteria, texts, progress=self.progress
            )
        sims = self.bi_encoder.similarities(criteria, texts)
        index = _Index.build(texts)
        digits = digit_density(texts)
        rows = []
        for ci, criterion in enumerate(criteria):
            maxsim = maxsims[ci] if maxsims is not None else None
            inputs = feature_inputs(self.bm25, index, criterion, sims[ci], digits, maxsim)
            x = fusion_features(self.params.features, inputs)
            logits = np.clip(x @ self._weights + self.params.bias, -50.0, 50.0)  # no overflow
            rows.append(1.0 / (1.0 + np.exp(-logits)))
        return Scores.of(rows)


def embedded_bi_encoder_scorer(**options: Any) -> BaseScorer:
    """The embedded MiniLM alone, windowed as the fusion was fitted, its cosine mapped to a
    probability with the slope and bias fitted for it (``slope``/``bias`` override)."""
    from .._onnx._bi_encoder import bi_encoder_scorer
    from ._embedded import open_minilm

    params = load_fusion_params()
    options.setdefault("window", params.window)
    options.setdefault("window_stride", params.window_stride)
    return open_minilm(lambda model_dir: bi_encoder_scorer(model_dir, **dict(options)))
