"""The scorer protocol: (criterion, pages) -> one calibrated probability per page.

Backends subclass :class:`BaseScorer` and implement ``_score_many`` (sync) and, where they
have real async I/O, ``_ascore_many``. The base class normalises inputs, validates every
output (count, finiteness, [0, 1]) and offers both the single-criterion and the
all-criteria-at-once entry points, so a backend can batch across criteria.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import anyio.to_thread

from ._exceptions import InvalidInputError, ScorerOutputError
from ._types import Criterion, Page
from ._version import __version__

__all__ = [
    "AsyncScorer",
    "BaseScorer",
    "CriterionLike",
    "PageLike",
    "ScoreNotes",
    "Scorer",
    "as_criteria",
    "as_criterion",
    "as_pages",
    "query_text",
    "validate_scores",
]

PageLike = Page | str
CriterionLike = Criterion | str
#: A scorer's notes on how it scored some pages: (criterion position, page index) -> note.
ScoreNotes = dict[tuple[int, int], str]


@runtime_checkable
class Scorer(Protocol):
    """A synchronous scorer. Scores are probabilities in [0, 1], one per page, in page order."""

    @property
    def name(self) -> str: ...

    def score(self, criterion: CriterionLike, pages: Sequence[PageLike]) -> list[float]: ...

    def score_batch(
        self, criteria: Sequence[CriterionLike], pages: Sequence[PageLike]
    ) -> list[list[float]]: ...


@runtime_checkable
class AsyncScorer(Protocol):
    """The async twin of :class:`Scorer`."""

    @property
    def name(self) -> str: ...

    async def ascore(self, criterion: CriterionLike, pages: Sequence[PageLike]) -> list[float]: ...

    async def ascore_batch(
        self, criteria: Sequence[CriterionLike], pages: Sequence[PageLike]
    ) -> list[list[float]]: ...


def query_text(criterion: Criterion, separator: str = " ") -> str:
    """The criterion as one query for scorers without an instruction slot: the
    instruction, when there is one, prepended to the text."""
    if criterion.instruction:
        return f"{criterion.instruction}{separator}{criterion.text}"
    return criterion.text


def as_criterion(value: CriterionLike, position: int = 0) -> Criterion:
    if isinstance(value, Criterion):
        return value
    if isinstance(value, str):
        return Criterion(id=f"c{position}", text=value)
    raise InvalidInputError(
        f"criterion {position} must be a str or Criterion, got {type(value).__name__}"
    )


def as_criteria(values: CriterionLike | Sequence[CriterionLike]) -> list[Criterion]:
    if isinstance(values, str | Criterion):
        values = [values]
    criteria = [as_criterion(v, i) for i, v in enumerate(values)]
    if not criteria:
        raise InvalidInputError("no criteria given")
    seen: set[str] = set()
    for c in criteria:
        if c.id in seen:
            raise InvalidInputError(f"duplicate criterion id {c.id!r}")
        seen.add(c.id)
    return criteria


def as_pages(values: str | Sequence[PageLike]) -> list[Page]:
    """Accept a list of page texts or Page objects. A bare string is one page."""
    if isinstance(values, str):
        values = [values]
    pages: list[Page] = []
    for i, value in enumerate(values):
        if isinstance(value, Page):
            if value.index != i:
                # Indices are positions; a caller's own numbering belongs in page_number.
                raise InvalidInputError(
                    f"page at position {i} has index {value.index}; Page.index must equal its "
                    "position (put other numbering in page_number)"
                )
            pages.append(value)
        elif isinstance(value, str):
            pages.append(Page(text=value, index=i))
        else:
            raise InvalidInputError(f"page {i} must be a str or Page, got {type(value).__name__}")
    return pages


class BaseScorer:
    """Shared plumbing for scorers: input normalisation and output validation.

    Subclasses set ``name`` and implement :meth:`_score_many`; the default async path runs
    it in a worker thread, and backends with native async I/O override :meth:`_ascore_many`.
    """

    name: str = "scorer"
    #: True when a page's score depends only on that page and the criterion (cross-encoders,
    #: rerank APIs); False when it depends on the other pages too (BM25's document
    #: statistics, per-document normalisation). Caches and cascades rely on it.
    pointwise: bool = False

    @property
    def fingerprint(self) -> str:
        """What a cache keys this scorer's scores by: its name and the library version.
        Backends whose weights can change under one name add a digest of the weights."""
        return f"{self.name}@ctxcompress-{__version__}"

    def _score_many(self, criteria: Sequence[Criterion], texts: Sequence[str]) -> list[list[float]]:
        raise NotImplementedError

    async def _ascore_many(
        self, criteria: Sequence[Criterion], texts: Sequence[str]
    ) -> list[list[float]]:
        return await anyio.to_thread.run_sync(self._score_many, criteria, texts)

    def _score_many_noted(
        self, criteria: Sequence[Criterion], texts: Sequence[str]
    ) -> tuple[list[list[float]], ScoreNotes]:
        """Scores plus notes on pages scored in a special way; backends that have something
        to say (windows, cascade pruning) override this instead of :meth:`_score_many`."""
        return self._score_many(criteria, texts), {}

    async def _ascore_many_noted(
        self, criteria: Sequence[Criterion], texts: Sequence[str]
    ) -> tuple[list[list[float]], ScoreNotes]:
        if type(self)._score_many_noted is not BaseScorer._score_many_noted:
            return await anyio.to_thread.run_sync(self._score_many_noted, criteria, texts)
        return await self._ascore_many(criteria, texts), {}

    def score_batch_noted(
        self, criteria: Sequence[CriterionLike], pages: Sequence[PageLike]
    ) -> tuple[list[list[float]], ScoreNotes]:
        """:meth:`score_batch` plus the scorer's notes (what the compressor records)."""
        crits, texts = self._prepare(criteria, pages)
        if not texts:
            return [[] for _ in crits], {}
        rows, notes = self._score_many_noted(crits, texts)
        return validate_scores(self.name, crits, len(texts), rows), notes

    async def ascore_batch_noted(
        self, criteria: Sequence[CriterionLike], pages: Sequence[PageLike]
    ) -> tuple[list[list[float]], ScoreNotes]:
        crits, texts = self._prepare(criteria, pages)
        if not texts:
            return [[] for _ in crits], {}
        rows, notes = await self._ascore_many_noted(crits, texts)
        return validate_scores(self.name, crits, len(texts), rows), notes

    def score(self, criterion: CriterionLike, pages: Sequence[PageLike]) -> list[float]:
        return self.score_batch([criterion], pages)[0]

    def score_batch(
        self, criteria: Sequence[CriterionLike], pages: Sequence[PageLike]
    ) -> list[list[float]]:
        return self.score_batch_noted(criteria, pages)[0]

    async def ascore(self, criterion: CriterionLike, pages: Sequence[PageLike]) -> list[float]:
        return (await self.ascore_batch([criterion], pages))[0]

    async def ascore_batch(
        self, criteria: Sequence[CriterionLike], pages: Sequence[PageLike]
    ) -> list[list[float]]:
        return (await self.ascore_batch_noted(criteria, pages))[0]

    @staticmethod
    def _prepare(
        criteria: Sequence[CriterionLike], pages: Sequence[PageLike]
    ) -> tuple[list[Criterion], list[str]]:
        crits = as_criteria(criteria)
        texts = [p.text for p in as_pages(pages)]
        return crits, texts

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"


def validate_scores(
    scorer_name: str, criteria: Sequence[Criterion], n_pages: int, rows: object
) -> list[list[float]]:
    """Check a scorer's output against the contract and return it as plain floats.

    One row per criterion, one finite probability in [0, 1] per page; anything else raises
    :class:`ScorerOutputError` naming the scorer, the criterion, the page and the value.
    """
    if not isinstance(rows, Sequence) or len(rows) != len(criteria):
        got = len(rows) if isinstance(rows, Sequence) else type(rows).__name__
        raise ScorerOutputError(
            f"scorer {scorer_name!r} returned {got} score rows for {len(criteria)} criteria"
        )
    out: list[list[float]] = []
    for criterion, row in zip(criteria, rows, strict=True):
        if not isinstance(row, Sequence) or len(row) != n_pages:
            got = len(row) if isinstance(row, Sequence) else type(row).__name__
            raise ScorerOutputError(
                f"scorer {scorer_name!r} returned {got} scores for {n_pages} pages "
                f"(criterion {criterion.id!r})"
            )
        # Fast path: plain floats in range (NaN and infinities fail the comparison).
        if all(type(v) is float and 0.0 <= v <= 1.0 for v in row):
            out.append(list(row))
            continue
        clean: list[float] = []
        for i, value in enumerate(row):
            try:
                v = float(value)
            except (TypeError, ValueError):
                v = math.nan
            if not math.isfinite(v) or not 0.0 <= v <= 1.0:
                raise ScorerOutputError(
                    f"scorer {scorer_name!r} returned {value!r} for page {i} of criterion "
                    f"{criterion.id!r}; scores must be finite probabilities in [0, 1]"
                )
            clean.append(v)
        out.append(clean)
    return out
