"""Passage pruning: inside each page a policy kept, keep only the passages that matter.

After the policy picks a criterion's pages, each page is split into passages (sentences,
table rows: :mod:`._passages`), each kept page's passages are scored against the criteria
that kept it as the pages of one pseudo-document (the same scorer by default, through the
public scorer path, so the default scorer's per-document features compare a passage with
the other passages of its page; scoring all of a criterion's kept pages' passages as one
document was no better: docs/quality.md), and a page keeps:

- every passage whose score reaches the page's bar (below), and the best passage of the
  page in any case (``min_keep`` best, at least one): pruning never drops a page;
- ``context`` passages on each side of each kept one;
- the header lines of any table one of whose rows is kept, and with ``whole_tables`` (the
  default) every row of that table: a financial statement's answer is usually the table
  (a FinanceBench evidence item covers a median 64% of its page), and a row scored alone
  has lost the labels that make it match;
- adjacent kept passages merged into one span.

**How page and passage scores combine.** A passage is kept when its score relative to the
best passage of its page, ``s / max(page's passage scores)``, reaches
``threshold * (1 - page_score)``: the bar is relative (a passage score means different
things on a page of three sentences and on a page of forty table rows, but the page's best
passage is always the anchor), and it falls as the page's own probability rises, so a page
that scored 0.9 keeps nearly everything and a page kept only to fill ``TopK`` keeps little
more than its best passages. When what is left would not be shorter than the page, the page
is sent whole. (Measuring the page against the criterion's best page instead, so that the
best page is always sent whole, kept ~3 points more FinanceBench evidence at the same
characters, but then ``TopK(1)`` never prunes: docs/quality.md.)
"""

from __future__ import annotations

import logging
import math
from collections.abc import Generator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from ._exceptions import InvalidInputError
from ._passages import DEFAULT_MAX_CHARS, Passage, split_passages
from ._scorers._base import AsyncScorer, Scorer, Scores
from ._tokens import TokenCounter
from ._types import Criterion, Page, Span, kept_text

logger = logging.getLogger("ctxcompress")

__all__ = [
    "PagePruning",
    "PassagePruner",
    "Prune",
    "ScoreRequest",
    "keep_passages",
    "resolve_pruner",
    "spans_of",
]


@dataclass(frozen=True)
class PassagePruner:
    """Keep the passages of each kept page that pass (see the module docstring).

    ``threshold`` is the bar on a passage's score relative to its page's best passage
    (lowered by the page's own score); ``context`` how many passages around each kept one
    are kept too; ``min_keep`` how many of a page's best passages are always kept (at least
    one); ``max_chars`` the longest a prose passage may be before it is cut (table rows are
    never cut); ``scorer`` scores the passages (None: the compressor's scorer);
    ``whole_tables`` keeps every row of a table one of whose rows is kept.

    Guide with examples: [Passage pruning][guide-pruning].
    """

    # Tuned on FinanceBench and ContractNLI dev (scripts/tune_pruner.py, 5 folds by
    # document): docs/quality.md has the sweep and the held-out figures.
    threshold: float = 0.3
    context: int = 2
    min_keep: int = 1
    max_chars: int = DEFAULT_MAX_CHARS
    scorer: Scorer | str | None = field(default=None, compare=False)
    whole_tables: bool = True

    def __post_init__(self) -> None:
        t = self.threshold
        if isinstance(t, bool) or not isinstance(t, float | int) or not 0.0 <= t <= 1.0:
            raise InvalidInputError(f"PassagePruner threshold must be in [0, 1], got {t!r}")
        for name, value, low in (
            ("context", self.context, 0),
            ("min_keep", self.min_keep, 1),
            ("max_chars", self.max_chars, 20),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise InvalidInputError(
                    f"PassagePruner {name} must be an int >= {low}, got {value!r}"
                )
        if not isinstance(self.whole_tables, bool):
            raise InvalidInputError(
                f"PassagePruner whole_tables must be True or False, got {self.whole_tables!r}"
            )

    def describe(self) -> str:
        return (
            f"PassagePruner(threshold={self.threshold:g}, context={self.context}, "
            f"min_keep={self.min_keep}, max_chars={self.max_chars}, "
            f"whole_tables={self.whole_tables})"
        )

    def passages(self, page: Page) -> tuple[Passage, ...]:
        return split_passages(page.text, self.max_chars)

    def keep(
        self,
        page: Page,
        passages: Sequence[Passage],
        scores: Sequence[float],
        page_score: float | None,
    ) -> tuple[Span, ...]:
        """The spans of ``page`` to send, given its passages' scores and its own score."""
        whole = ((0, len(page.text)),)
        if len(passages) < 2 or page_score is None:
            return whole
        chosen = keep_passages(
            passages,
            scores,
            self.threshold * (1.0 - page_score),
            self.context,
            self.min_keep,
            whole_tables=self.whole_tables,
        )
        spans = spans_of(passages, chosen)
        if len(kept_text(page.text, spans)) >= len(page.text):
            return whole
        return spans


#: What ``Compressor(prune=...)`` accepts.
Prune = PassagePruner | Literal["passages"] | None


def resolve_pruner(prune: Prune) -> PassagePruner | None:
    if prune is None or isinstance(prune, PassagePruner):
        return prune
    if prune == "passages":
        return PassagePruner()
    raise InvalidInputError(f"prune must be None, 'passages' or a PassagePruner, got {prune!r}")


def keep_passages(
    passages: Sequence[Passage],
    scores: Sequence[float],
    relative_bar: float,
    context: int = 0,
    min_keep: int = 1,
    *,
    whole_tables: bool = False,
) -> list[int]:
    """Indices of the passages kept (sorted): those whose score over the best one reaches
    ``relative_bar``, the ``min_keep`` best, ``context`` neighbours on each side of each,
    the header of every table with a kept row, and with ``whole_tables`` all its rows."""
    n = len(passages)
    best = max(scores) if scores else 0.0
    ranked = sorted(range(n), key=lambda j: (-scores[j], j))
    chosen = set(ranked[:min_keep])
    if best > 0.0 and not math.isnan(best):
        chosen.update(j for j in range(n) if scores[j] / best >= relative_bar)
    for j in list(chosen):
        chosen.update(range(max(0, j - context), min(n, j + context + 1)))
    if whole_tables:
        for table in _tables(passages):
            if not chosen.isdisjoint(table):
                chosen.update(table)
    headers = {p.header for j in chosen if (p := passages[j]).header is not None}
    if headers:
        chosen.update(
            j
            for j, p in enumerate(passages)
            if p.kind == "header" and ((p.start, p.end) in headers)
        )
    return sorted(chosen)


def _tables(passages: Sequence[Passage]) -> list[range]:
    """The tables of a page: runs of consecutive row and header passages, a header line
    after a row starting the next table."""
    tables: list[range] = []
    start: int | None = None
    previous = None
    for j, p in enumerate([*passages, None]):
        kind = None if p is None else p.kind
        in_table = kind in ("row", "header")
        if start is not None and (not in_table or (kind == "header" and previous == "row")):
            tables.append(range(start, j))
            start = None
        if in_table and start is None:
            start = j
        previous = kind
    return tables


def spans_of(passages: Sequence[Passage], chosen: Sequence[int]) -> tuple[Span, ...]:
    """The character spans of the chosen passages, neighbours merged into one span."""
    spans: list[Span] = []
    previous = -2
    for j in chosen:
        p = passages[j]
        if j == previous + 1 and spans:
            spans[-1] = (spans[-1][0], p.end)
        else:
            spans.append((p.start, p.end))
        previous = j
    return tuple(spans)


@dataclass(frozen=True, slots=True)
class ScoreRequest:
    """What the compressor's sans-I/O job asks its shell for: ``scorer``'s scores of
    ``criteria`` over ``pages`` (the document's pages, or one page's passages)."""

    scorer: Scorer | AsyncScorer
    criteria: list[Criterion]
    pages: list[Page]


PruneSteps = Generator[ScoreRequest, Scores, None]


class PagePruning:
    """One document's passage pruning, for the compressor's job; no I/O.

    :meth:`steps` asks for the passage scores of every page some criterion kept (each
    page's passages are one pseudo-document, scored against the criteria that kept it, in
    batches); :meth:`spans` then says what a criterion sends of a page, and
    :meth:`tokens` what that costs. A failed passage scoring raises, or with
    ``on_error="keep"`` sends the pages whole and says so (:meth:`failure`).
    """

    def __init__(
        self,
        pruner: PassagePruner,
        scorer: Scorer | AsyncScorer,
        pages: Sequence[Page],
        tokens: Sequence[int],
        counter: TokenCounter,
        *,
        criteria_per_call: int,
        fail_open: bool,
    ) -> None:
        self.pruner = pruner
        self.scorer = scorer
        self.pages = pages
        self.page_tokens = tokens
        self.counter = counter
        self.criteria_per_call = criteria_per_call
        self.fail_open = fail_open
        self._passages: dict[int, tuple[Passage, ...]] = {}
        self._scores: dict[tuple[str, int], list[float]] = {}
        self._failures: dict[tuple[str, int], str] = {}
        self._counts: dict[tuple[int, tuple[Span, ...]], int] = {}

    def passages(self, index: int) -> tuple[Passage, ...]:
        if index not in self._passages:
            self._passages[index] = self.pruner.passages(self.pages[index])
        return self._passages[index]

    def steps(
        self, picks: Mapping[str, Sequence[int]], criteria: Sequence[Criterion]
    ) -> PruneSteps:
        """Ask for the passage scores of each criterion's picked pages (``picks``)."""
        by_page: dict[int, list[Criterion]] = {}
        for criterion in criteria:
            for i in picks.get(criterion.id, ()):
                by_page.setdefault(i, []).append(criterion)
        for i in sorted(by_page):
            passages = self.passages(i)
            if len(passages) < 2:
                continue  # nothing to choose between: the page is sent whole
            text = self.pages[i].text
            pseudo = [Page(text[p.start : p.end], j) for j, p in enumerate(passages)]
            wanting = by_page[i]
            for start in range(0, len(wanting), self.criteria_per_call):
                batch = wanting[start : start + self.criteria_per_call]
                try:
                    scores = yield ScoreRequest(self.scorer, batch, pseudo)
                except Exception as exc:
                    if not self.fail_open:
                        raise
                    self._fail(batch, i, exc)
                    continue
                for criterion, row in zip(batch, scores.rows, strict=True):
                    self._scores[(criterion.id, i)] = list(row)

    def _fail(self, batch: Sequence[Criterion], index: int, exc: Exception) -> None:
        why = f"passage scoring failed, page sent whole: {type(exc).__name__}: {exc}"
        logger.warning("page %d: %s (on_error='keep')", index, why)
        for criterion in batch:
            self._failures[(criterion.id, index)] = why

    def failure(self, criterion_id: str, index: int) -> str | None:
        return self._failures.get((criterion_id, index))

    def spans(self, criterion_id: str, index: int, page_score: float | None) -> tuple[Span, ...]:
        scores = self._scores.get((criterion_id, index))
        page = self.pages[index]
        whole = ((0, len(page.text)),)
        if scores is None:
            return whole
        spans = self.pruner.keep(page, self.passages(index), scores, page_score)
        # Sent whole when pruning saves no tokens: with a subword tokenizer the elision
        # markers can cost more than the little text they replace.
        if spans != whole and self.tokens(index, spans) >= self.page_tokens[index]:
            return whole
        return spans

    def tokens(self, index: int, spans: tuple[Span, ...]) -> int:
        """Tokens of what is sent of page ``index`` with ``spans`` (counted once)."""
        if spans == ((0, len(self.pages[index].text)),):
            return self.page_tokens[index]
        key = (index, spans)
        if key not in self._counts:
            # The real count of what is sent, markers included (spans() sends a page whole
            # when this is not below the whole page's count).
            self._counts[key] = self.counter.count(kept_text(self.pages[index].text, spans))
        return self._counts[key]
