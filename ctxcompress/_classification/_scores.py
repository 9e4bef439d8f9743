"""One probability per (text, label description): the scores every classification API
reads, whatever the scorer.

* The default scorer has a path of its own for single texts (``_scorers/_default/
  _single_text``): its page-selection fusion reads within-document statistics that one
  text does not have. Its probabilities are calibrated for classification as shipped.
* A pointwise scorer (cross-encoder, bi-encoder, remote rerank API) scores the pair
  directly: the description is the query, the text the document, all texts in one call.
  Its probabilities were calibrated (if at all) for page relevance, not for a label's
  wording: fit a calibrator on labelled texts with ``ctxcompress calibrate --task
  classify`` and wrap the scorer in :class:`~ctxcompress.CalibratedScorer`.
* Any other scorer (BM25, a custom one) sees each text as a one-page document, as before.
* A :class:`~ctxcompress.CalibratedScorer` maps the scores of whatever it wraps (the
  default's single-text probabilities too) through its calibrator.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .._scorers._base import Scorer, as_pages, is_pointwise, scores_of
from .._scorers._cached import CachedScorer
from .._scorers._calibrated import CalibratedScorer
from .._scorers._default._scorer import DefaultScorer
from .._scorers._default._single_text import SingleTextClassifier
from .._types import Criterion

__all__ = ["label_probabilities", "pair_probabilities"]

Array = np.ndarray[Any, Any]


def label_probabilities(scorer: Scorer, texts: Sequence[str], descriptions: Sequence[str]) -> Array:
    """(texts × descriptions) probabilities, the descriptions being one call's labels."""
    if isinstance(scorer, CachedScorer) and isinstance(scorer.scorer, DefaultScorer):
        scorer = scorer.scorer  # its embedding cache is what the single-text path reuses
    if isinstance(scorer, CalibratedScorer) and isinstance(scorer.inner, Scorer):
        raw = label_probabilities(scorer.inner, texts, descriptions)
        calibrated: Array = scorer.calibrator.transform(raw.ravel()).reshape(raw.shape)
        return calibrated
    if isinstance(scorer, DefaultScorer):
        single: Array = SingleTextClassifier(scorer.bi_encoder.encoder).probabilities(
            texts, descriptions
        )
        return single
    criteria = [Criterion(id=f"label-{i}", text=d) for i, d in enumerate(descriptions)]
    if is_pointwise(scorer):
        rows = scores_of(scorer, criteria, as_pages(list(texts))).rows  # labels × texts
        matrix: Array = np.asarray(rows, dtype=np.float64).T
        return matrix.reshape(len(texts), len(descriptions))
    out = np.zeros((len(texts), len(descriptions)), dtype=np.float64)
    for i, text in enumerate(texts):
        out[i] = [row[0] for row in scores_of(scorer, criteria, as_pages([text])).rows]
    return out


def pair_probabilities(scorer: Scorer, pairs: Sequence[tuple[str, str]]) -> Array:
    """Per (text, reference) pair: the probability that the reference, as the only label
    of its call, applies to the text (what ``classify(text, {"duplicate": reference})``
    gives), computed for many pairs at once."""
    if isinstance(scorer, CalibratedScorer) and isinstance(scorer.inner, Scorer):
        raw = pair_probabilities(scorer.inner, pairs)
        calibrated: Array = scorer.calibrator.transform(raw)
        return calibrated
    if isinstance(scorer, CachedScorer) and isinstance(scorer.scorer, DefaultScorer):
        scorer = scorer.scorer
    if isinstance(scorer, DefaultScorer):
        return SingleTextClassifier(scorer.bi_encoder.encoder).pair_probabilities(pairs)
    return np.asarray(
        [label_probabilities(scorer, [a], [b])[0, 0] for a, b in pairs], dtype=np.float64
    )
