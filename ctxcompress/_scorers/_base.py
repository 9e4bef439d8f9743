"""The scorer protocol, the one hook a scorer implements, and the value it returns.

A scorer maps (criteria, pages) to one calibrated probability per criterion and page. A
backend subclasses :class:`BaseScorer`, sets ``name`` and implements one hook::

    def _score(self, criteria: Sequence[Criterion], pages: Sequence[Page]) -> Scores

and, only where it has native async I/O, its twin ``async def _ascore(...)`` (by default
the sync hook runs in a worker thread). :class:`BaseScorer` normalises inputs once, calls
the hook and checks its answer once; every public method (``score``, ``score_batch``,
``scores`` and their async twins) is built on that. A scorer says how it scored a page
in the :class:`Scores` it returns (notes and flags), never in state kept on the instance,
so one scorer can be shared by threads, tasks and wrappers.

Wrappers (cascades, caches, calibration) and the compressor accept any object that
implements the :class:`Scorer` protocol; :func:`scores_of` and :func:`ascores_of` give
them one :class:`Scores` from either kind.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import anyio.to_thread

from .._exceptions import InvalidInputError, ScorerOutputError
from .._types import Criterion, FrozenMap, Page, PageFlag
from .._version import __version__

__all__ = [
    "AsyncScorer",
    "BaseScorer",
    "CriterionLike",
    "PageLike",
    "PageNote",
    "Scorer",
    "Scores",
    "as_criteria",
    "as_criterion",
    "as_pages",
    "ascores_of",
    "check_scorer",
    "fingerprint_of",
    "is_pointwise",
    "query_text",
    "scores_of",
    "sigmoid",
    "validate_scores",
]

#: What a page may be given as: a :class:`Page` or its text.
PageLike = Page | str
#: What a criterion may be given as: a :class:`Criterion` or its text (id ``c<position>``).
CriterionLike = Criterion | str


def sigmoid(x: float) -> float:
    """The logistic function ``1 / (1 + exp(-x))``, without overflow for very negative ``x``."""
    # Past -709, exp(-x) overflows a float; the probability is 0 to double precision.
    return 0.0 if x < -709.0 else 1.0 / (1.0 + math.exp(-x))


@dataclass(frozen=True, slots=True)
class PageNote:
    """How one page was scored when it was not the plain way: words for a person
    (``text``) and :data:`~ctxcompress.PageFlag` values for a program (``flags``).

    Guide with examples: [Choosing a scorer][guide-scorers].
    """

    text: str | None = None
    flags: tuple[PageFlag, ...] = ()

    def with_flag(self, flag: PageFlag) -> PageNote:
        return self if flag in self.flags else dataclasses.replace(self, flags=(*self.flags, flag))


@dataclass(frozen=True, slots=True)
class Scores:
    """A scorer's answer for some criteria over some pages.

    ``rows[c][p]`` is the probability that page ``p`` is relevant to criterion ``c``;
    ``notes`` maps ``(c, p)`` to a :class:`PageNote` for the pages scored in a special way
    (over windows, pruned by a cascade, served from a cache). Frozen, so it can be shared.

    Guide with examples: [Choosing a scorer][guide-scorers].
    """

    rows: tuple[tuple[float, ...], ...]
    notes: Mapping[tuple[int, int], PageNote] = field(default_factory=FrozenMap)

    def __post_init__(self) -> None:
        if not isinstance(self.notes, FrozenMap):
            object.__setattr__(self, "notes", FrozenMap(self.notes))

    @classmethod
    def of(
        cls,
        rows: Sequence[Sequence[float]] | Any,
        notes: Mapping[tuple[int, int], PageNote] | None = None,
    ) -> Scores:
        """Scores from any rows of numbers (lists, tuples, numpy arrays)."""
        return cls(tuple(tuple(float(v) for v in row) for row in rows), FrozenMap(notes))

    @property
    def matrix(self) -> list[list[float]]:
        """The rows as plain lists (what ``score_batch`` returns)."""
        return [list(row) for row in self.rows]

    def note(self, criterion: int, page: int) -> PageNote | None:
        return self.notes.get((criterion, page))


@runtime_checkable
class Scorer(Protocol):
    """A synchronous scorer. Scores are probabilities in [0, 1], one per page, in page order.

    Guide with examples: [Choosing a scorer][guide-scorers].
    """

    @property
    def name(self) -> str: ...

    def score(self, criterion: CriterionLike, pages: Sequence[PageLike]) -> list[float]: ...

    def score_batch(
        self, criteria: Sequence[CriterionLike], pages: Sequence[PageLike]
    ) -> list[list[float]]: ...


@runtime_checkable
class AsyncScorer(Protocol):
    """The async twin of :class:`Scorer`.

    Guide with examples: [Choosing a scorer][guide-scorers].
    """

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
    """Shared plumbing for scorers: inputs normalised once, one hook, output checked once.

    Subclasses set ``name`` and implement :meth:`_score`; those with native async I/O also
    implement :meth:`_ascore`. Set ``pointwise = True`` when a page's score depends only on
    that page and the criterion.

    Guide with examples: [Choosing a scorer][guide-scorers].
    """

    name: str = "scorer"
    #: True when a page's score depends only on that page and the criterion (cross-encoders,
    #: bi-encoders, rerank APIs); False when it depends on the other pages too (BM25's
    #: document statistics, per-document normalisation). Caches and cascades rely on it.
    pointwise: bool = False

    @property
    def fingerprint(self) -> str:
        """What a cache keys this scorer's scores by: its name, the library version and
        every option that changes a score. Backends add what their name leaves out (a
        digest of the weights, a score transform)."""
        return f"{self.name}@ctxcompress-{__version__}"

    # -- the hook ---------------------------------------------------------------------

    def _score(self, criteria: Sequence[Criterion], pages: Sequence[Page]) -> Scores:
        """Score every page against every criterion. ``criteria`` and ``pages`` are
        already normalised; the answer is checked by the caller."""
        raise NotImplementedError(f"{type(self).__name__} does not implement _score")

    async def _ascore(self, criteria: Sequence[Criterion], pages: Sequence[Page]) -> Scores:
        """The async twin of :meth:`_score`; by default the sync hook in a worker thread."""
        return await anyio.to_thread.run_sync(self._score, criteria, pages)

    # -- what callers use ---------------------------------------------------------------

    def scores(self, criteria: Sequence[CriterionLike], pages: Sequence[PageLike]) -> Scores:
        """Every page against every criterion, with the scorer's notes on pages."""
        return self._checked(as_criteria(criteria), as_pages(pages))

    async def ascores(self, criteria: Sequence[CriterionLike], pages: Sequence[PageLike]) -> Scores:
        return await self._achecked(as_criteria(criteria), as_pages(pages))

    def score(self, criterion: CriterionLike, pages: Sequence[PageLike]) -> list[float]:
        return self.score_batch([criterion], pages)[0]

    def score_batch(
        self, criteria: Sequence[CriterionLike], pages: Sequence[PageLike]
    ) -> list[list[float]]:
        return self.scores(criteria, pages).matrix

    async def ascore(self, criterion: CriterionLike, pages: Sequence[PageLike]) -> list[float]:
        return (await self.ascore_batch([criterion], pages))[0]

    async def ascore_batch(
        self, criteria: Sequence[CriterionLike], pages: Sequence[PageLike]
    ) -> list[list[float]]:
        return (await self.ascores(criteria, pages)).matrix

    # -- for inputs that are already normalised (the compressor, wrappers) --------------

    def _checked(self, criteria: Sequence[Criterion], pages: Sequence[Page]) -> Scores:
        if not pages:
            return Scores(tuple(() for _ in criteria))
        return self._check(criteria, len(pages), self._score(criteria, pages))

    async def _achecked(self, criteria: Sequence[Criterion], pages: Sequence[Page]) -> Scores:
        if not pages:
            return Scores(tuple(() for _ in criteria))
        return self._check(criteria, len(pages), await self._ascore(criteria, pages))

    def _check(self, criteria: Sequence[Criterion], n_pages: int, answer: object) -> Scores:
        if not isinstance(answer, Scores):
            raise ScorerOutputError(
                f"scorer {self.name!r}: _score must return a Scores, got {type(answer).__name__}"
            )
        rows = validate_scores(self.name, criteria, n_pages, answer.rows)
        return Scores(tuple(tuple(row) for row in rows), answer.notes)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"


def is_pointwise(scorer: object) -> bool:
    """Whether ``scorer`` says a page's score depends only on that page (default: no)."""
    return bool(getattr(scorer, "pointwise", False))


def check_scorer(value: object, what: str) -> None:
    """Refuse what is not a scorer (sync or async); ``what`` starts the error's sentence.
    Wrappers check with this, so any object with the protocol's methods is accepted."""
    if not isinstance(value, Scorer | AsyncScorer):
        raise InvalidInputError(f"{what} (score, score_batch and name), got {type(value).__name__}")


def fingerprint_of(scorer: object) -> str:
    """``scorer.fingerprint`` where it has one, else its name and class."""
    fingerprint = getattr(scorer, "fingerprint", None)
    if isinstance(fingerprint, str):
        return fingerprint
    return f"{getattr(scorer, 'name', '?')}({type(scorer).__module__}.{type(scorer).__qualname__})"


def _has_hook(scorer: BaseScorer) -> bool:
    # A BaseScorer subclass that overrides score_batch (and perhaps ascore_batch) instead of
    # the hook is still a scorer: it is called through those, like any protocol scorer.
    kind = type(scorer)
    return kind._score is not BaseScorer._score or kind._ascore is not BaseScorer._ascore


def _positional(pages: Sequence[Page]) -> list[Page]:
    # A protocol scorer's score_batch checks that each page's index is its position; a
    # subset of a document's pages (a cascade's survivors) is renumbered for it.
    return [p if p.index == i else dataclasses.replace(p, index=i) for i, p in enumerate(pages)]


def scores_of(scorer: Scorer, criteria: Sequence[Criterion], pages: Sequence[Page]) -> Scores:
    """One checked :class:`Scores` from any scorer: a :class:`BaseScorer` through its
    hook, any other :class:`Scorer` through ``score_batch``."""
    if isinstance(scorer, BaseScorer) and _has_hook(scorer):
        return scorer._checked(criteria, pages)
    if not pages:
        return Scores(tuple(() for _ in criteria))
    rows = scorer.score_batch(list(criteria), _positional(pages))
    return Scores.of(validate_scores(scorer.name, criteria, len(pages), rows))


async def ascores_of(
    scorer: Scorer | AsyncScorer, criteria: Sequence[Criterion], pages: Sequence[Page]
) -> Scores:
    """The async twin of :func:`scores_of`: a native async path where the scorer has one,
    else its sync path in a worker thread."""
    if isinstance(scorer, BaseScorer) and _has_hook(scorer):
        return await scorer._achecked(criteria, pages)
    if not pages:
        return Scores(tuple(() for _ in criteria))
    native = getattr(scorer, "ascore_batch", None)
    if isinstance(scorer, BaseScorer) and type(scorer).ascore_batch is BaseScorer.ascore_batch:
        native = None  # it would reach the missing hook: its own score_batch, in a thread
    if native is not None:
        rows = await native(list(criteria), _positional(pages))
    elif isinstance(scorer, Scorer):
        rows = await anyio.to_thread.run_sync(
            scorer.score_batch, list(criteria), _positional(pages)
        )
    else:
        raise InvalidInputError(f"{type(scorer).__name__} has neither score_batch nor ascore_batch")
    return Scores.of(validate_scores(scorer.name, criteria, len(pages), rows))


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
