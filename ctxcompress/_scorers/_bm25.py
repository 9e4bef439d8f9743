"""BM25: the scorer that needs no model, the fallback, and the cheap stage of a cascade.

The document's own pages are the BM25 corpus, so term rarity is judged within the document
being compressed. Raw BM25 scores are not probabilities and their scale depends on the
query, so they are mapped to probabilities from two scale-free features:

* ``z``: the page's BM25 score as a z-score among the document's pages (0 with fewer than
  three pages, where a spread means nothing);
* ``coverage``: the IDF-weighted share of the criterion's terms that occur in the page.

``p = sigmoid(Z_WEIGHT * z + COVERAGE_WEIGHT * coverage + BIAS)``. The three constants are
listed below; a page sharing no term with the criterion gets a probability under 2%.
Use a calibrator fitted on your own labelled data when the probabilities must be exact.
"""

from __future__ import annotations

import functools
import math
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property

from .._exceptions import InvalidInputError
from .._types import Criterion, Page
from ._base import BaseScorer, Scores, query_text, sigmoid

__all__ = ["SPAN_TERMS", "BM25Scorer", "span_coverage", "tokenize"]

# The mapping from (z, coverage) to a probability; see the module docstring. Fitted by
# scripts/fit_bm25_mapping.py (logistic regression) on 20,468 (criterion, page) pairs of
# FinanceBench and ContractNLI dev; ECE 0.0014 on that data. Base rates differ by corpus,
# so fit a calibrator on your own data when probabilities must be exact.
Z_WEIGHT = 0.5222
COVERAGE_WEIGHT = 4.6733
BIAS = -4.2178

_WORD = re.compile(r"[^\W_]+", re.UNICODE)
_STOPWORDS = frozenset(
    """
    a about above after again against all am an and any are as at be because been before
    being below between both but by can could did do does doing down during each few for
    from further had has have having he her here hers herself him himself his how i if
    in into is it its itself just me more most my myself no nor not now of off on once
    only or other our ours ourselves out over own same she should so some such than that
    the their theirs them themselves then there these they this those through to too
    under until up very was we were what when where which while who whom why will with
    would you your yours yourself yourselves shall may must
    """.split()
)


@functools.lru_cache(maxsize=1 << 16)
def _stem(word: str) -> str:
    # Cached: a document's words repeat, and passage pruning tokenizes its pages' text again.
    # A light suffix stripper: enough to match plural and verb forms, cheap, deterministic.
    if len(word) <= 4:
        return word
    for suffix, replacement in (("ies", "y"), ("sses", "ss"), ("ing", ""), ("ed", ""), ("s", "")):
        if word.endswith(suffix) and not word.endswith("ss"):
            stem = word[: len(word) - len(suffix)] + replacement
            if len(stem) >= 3:
                return stem
    return word


def tokenize(text: str) -> list[str]:
    """Lower-cased word tokens with stopwords removed and light stemming."""
    return [_stem(w) for w in _WORD.findall(text.lower()) if w not in _STOPWORDS]


@functools.lru_cache(maxsize=4096)
def query_terms(text: str) -> Counter[str]:
    """A query's term counts, cached: passage pruning asks the same criteria of every kept
    page. Callers must not modify the returned Counter."""
    return Counter(tokenize(text))


@dataclass(frozen=True)
class _Index:
    term_freqs: list[Counter[str]]
    lengths: list[int]
    avg_length: float
    idf: dict[str, float]
    tokens: list[list[str]]  # each page's terms in order (for span_coverage)

    @classmethod
    def build(cls, texts: Sequence[str]) -> _Index:
        tokens = [tokenize(t) for t in texts]
        term_freqs = [Counter(t) for t in tokens]
        lengths = [sum(tf.values()) for tf in term_freqs]
        n = len(texts)
        doc_freq: Counter[str] = Counter()
        for tf in term_freqs:
            doc_freq.update(tf.keys())
        # Lucene's BM25 IDF: always positive, so common terms still count a little. A term's
        # IDF depends on its document frequency alone: one log per frequency, not per term
        # (passage pruning builds an index per page, of a few passages and many terms).
        by_df = [math.log(1.0 + (n - df + 0.5) / (df + 0.5)) for df in range(n + 1)]
        idf = {t: by_df[df] for t, df in doc_freq.items()}
        avg = sum(lengths) / n if n else 0.0
        return cls(term_freqs, lengths, avg or 1.0, idf, tokens)

    @cached_property
    def positions(self) -> list[dict[str, list[int]]]:
        """Each page's term -> token positions (built on first use: BM25 alone needs none)."""
        out: list[dict[str, list[int]]] = []
        for page in self.tokens:
            where: dict[str, list[int]] = {}
            for i, term in enumerate(page):
                where.setdefault(term, []).append(i)
            out.append(where)
        return out

    def unseen_idf(self) -> float:
        n = len(self.lengths)
        return math.log(1.0 + (n + 0.5) / 0.5)

    def term_weights(self, terms: Iterable[str]) -> dict[str, float]:
        """Each distinct query term's IDF (a term on no page gets the highest), in order:
        the weights of coverage and span coverage alike."""
        unseen = self.unseen_idf()
        return {t: self.idf.get(t, unseen) for t in dict.fromkeys(terms)}


#: The span span_coverage looks for the criterion's terms in: about a sentence of content
#: words (stopwords are not counted), so the terms must occur together, as in one clause.
SPAN_TERMS = 16


def span_coverage(index: _Index, text: str, span: int = SPAN_TERMS) -> list[float]:
    """Per page, the IDF-weighted share of the query's terms found within its best window of
    ``span`` consecutive (non-stopword) terms.

    Coverage counts a term anywhere on the page; a clause that answers the criterion holds
    its terms close together, while a long page can collect them one by one from unrelated
    sentences. This is the proximity signal BM25 lacks.
    """
    if span < 1:
        raise InvalidInputError(f"span must be >= 1, got {span!r}")
    weights = index.term_weights(tokenize(text))
    total = sum(weights.values())
    out = [0.0] * len(index.tokens)
    if total <= 0:
        return out
    for i, where in enumerate(index.positions):
        found = [t for t in weights if t in where]
        if len(found) <= 1:
            out[i] = weights[found[0]] / total if found else 0.0
            continue
        # Slide a window over the matched positions, keeping the weight of the distinct
        # terms inside it.
        events = sorted((pos, t) for t in found for pos in where[t])
        inside: Counter[str] = Counter()
        weight = best = 0.0
        start = 0
        for pos, term in events:
            if not inside[term]:
                weight += weights[term]
            inside[term] += 1
            while events[start][0] <= pos - span:
                gone = events[start][1]
                inside[gone] -= 1
                if not inside[gone]:
                    weight -= weights[gone]
                start += 1
            best = max(best, weight)
        out[i] = best / total
    return out


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


class BM25Scorer(BaseScorer):
    """Okapi BM25 over the document's pages, mapped to probabilities (see module doc).

    Guide with examples: [Choosing a scorer][guide-scorers].
    """

    def __init__(self, *, k1: float = 1.5, b: float = 0.75) -> None:
        if not (_is_number(k1) and math.isfinite(k1) and k1 >= 0):
            raise InvalidInputError(f"k1 must be a finite number >= 0, got {k1!r}")
        if not (_is_number(b) and math.isfinite(b) and 0 <= b <= 1):
            raise InvalidInputError(f"b must be in [0, 1], got {b!r}")
        self.k1 = k1
        self.b = b
        self.name = "bm25"

    @property
    def fingerprint(self) -> str:
        return f"{super().fingerprint}:k1={self.k1}:b={self.b}"

    def raw_scores(self, criterion: str, texts: Sequence[str]) -> list[float]:
        """Plain BM25 scores of one criterion over ``texts`` (not probabilities)."""
        index = _Index.build(texts)
        return self._bm25(index, query_terms(criterion))

    def _score(self, criteria: Sequence[Criterion], pages: Sequence[Page]) -> Scores:
        index = _Index.build([p.text for p in pages])  # once per document, for every criterion
        return Scores.of([self._probabilities(index, c) for c in criteria])

    def _bm25(self, index: _Index, query: Counter[str]) -> list[float]:
        scores = [0.0] * len(index.lengths)
        for term, qtf in query.items():
            idf = index.idf.get(term)
            if idf is None:
                continue
            for i, tf in enumerate(index.term_freqs):
                f = tf.get(term)
                if f:
                    norm = self.k1 * (1 - self.b + self.b * index.lengths[i] / index.avg_length)
                    scores[i] += qtf * idf * f * (self.k1 + 1) / (f + norm)
        return scores

    def _features(self, index: _Index, text: str) -> list[tuple[float, float]]:
        """(z, coverage) per page for a query ``text``: the inputs of the probability map.

        scripts/fit_bm25_mapping.py fits the map's constants on exactly these features.
        """
        query = query_terms(text)
        scores = self._bm25(index, query)
        n = len(scores)
        mean = sum(scores) / n
        std = math.sqrt(sum((s - mean) ** 2 for s in scores) / n)
        weights = index.term_weights(query)
        total_weight = sum(weights.values())
        out = []
        for i, s in enumerate(scores):
            z = (s - mean) / std if n >= 3 and std > 1e-12 else 0.0
            if total_weight > 0:
                matched = sum(w for t, w in weights.items() if t in index.term_freqs[i])
                coverage = matched / total_weight
            else:
                coverage = 0.0
            out.append((z, coverage))
        return out

    def _probabilities(self, index: _Index, criterion: Criterion) -> list[float]:
        return [
            sigmoid(Z_WEIGHT * z + COVERAGE_WEIGHT * coverage + BIAS)
            for z, coverage in self._features(index, query_text(criterion))
        ]
