"""The immutable values that flow through ctxcompress.

Pages and criteria go in; scored pages, per-criterion selections and a compression result
come out. Every value is a frozen dataclass so results can be shared and cached safely.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

from ._exceptions import InvalidInputError

__all__ = [
    "ELISION",
    "CompressionResult",
    "Criterion",
    "Order",
    "Page",
    "PageDecision",
    "PageFlag",
    "ScoredPage",
    "Selection",
    "Span",
    "UnionSelection",
    "kept_text",
    "merge_spans",
]

Order = Literal["document", "score"]
#: How a scorer marks a page scored in a special way: scored over overlapping windows
#: (longer than the model), pruned by a cascade's first stage, or served from a score cache.
PageFlag = Literal["windowed", "pruned", "cached"]
#: A kept character range ``[start, end)`` of a page's text.
Span = tuple[int, int]
#: What stands where passages of a page were cut, so an LLM knows something is missing.
ELISION = "[…]"


def kept_text(text: str, spans: tuple[Span, ...]) -> str:
    """The kept spans of ``text`` joined, a visible :data:`ELISION` marker wherever text
    (other than whitespace) was cut: before the first span, between spans, after the last.
    The whole page (``((0, len(text)),)``) is the text itself."""
    if len(spans) == 1 and spans[0] == (0, len(text)):
        return text
    parts: list[str] = []
    position = 0
    for start, end in spans:
        if text[position:start].strip():
            parts.append(ELISION)
        parts.append(text[start:end])
        position = end
    if text[position:].strip():
        parts.append(ELISION)
    return " ".join(parts)


def merge_spans(*groups: tuple[Span, ...]) -> tuple[Span, ...]:
    """The union of span sets as one ordered set of non-overlapping spans (touching or
    overlapping spans become one)."""
    merged: list[Span] = []
    for start, end in sorted(s for group in groups for s in group):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return tuple(merged)


def _check_spans(page: Page, spans: tuple[Span, ...]) -> None:
    position = 0
    for span in spans:
        ok = isinstance(span, tuple) and len(span) == 2 and all(type(v) is int for v in span)
        if not ok or not position <= span[0] < span[1] <= len(page.text):
            raise InvalidInputError(
                f"page {page.index}: spans must be ordered, non-overlapping (start, end) "
                f"ranges within its {len(page.text)} characters, got {spans!r}"
            )
        position = span[1]


K = TypeVar("K")
V = TypeVar("V")


class FrozenMap(Mapping[K, V]):
    """A read-only copy of a mapping that still pickles and deep-copies.

    (``types.MappingProxyType`` would be read-only too, but cannot be pickled, which breaks
    multiprocessing and caches.)
    """

    __slots__ = ("_data",)

    def __init__(self, data: Mapping[K, V] | None = None) -> None:
        self._data: dict[K, V] = dict(data or {})

    def __getitem__(self, key: K) -> V:
        return self._data[key]

    def __iter__(self) -> Iterator[K]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._data!r})"

    def __reduce__(self) -> tuple[type[FrozenMap[K, V]], tuple[dict[K, V]]]:
        return (type(self), (self._data,))


class FrozenMetadata(FrozenMap[str, Any]):
    """A page's read-only metadata (see :class:`FrozenMap`)."""

    __slots__ = ()


def _frozen_mapping(value: Mapping[str, Any] | None) -> Mapping[str, Any]:
    return value if isinstance(value, FrozenMetadata) else FrozenMetadata(value)


@dataclass(frozen=True, slots=True)
class Page:
    """One page or chunk of a document.

    ``index`` is the 0-based position in the document; ``page_number`` is the human page
    number when the source has one; ``start``/``end`` are character offsets into the source
    text when the page was cut from a longer string.

    Guide with examples: [Concepts][concepts].
    """

    text: str
    index: int
    source: str | None = None
    page_number: int | None = None
    start: int | None = None
    end: int | None = None
    metadata: Mapping[str, Any] = field(default_factory=FrozenMetadata, compare=False, hash=False)

    def __post_init__(self) -> None:
        if not isinstance(self.text, str):
            raise InvalidInputError(
                f"page {self.index!r}: text must be str, got {type(self.text).__name__}"
            )
        if isinstance(self.index, bool) or not isinstance(self.index, int) or self.index < 0:
            raise InvalidInputError(f"page index must be an int >= 0, got {self.index!r}")
        object.__setattr__(self, "metadata", _frozen_mapping(self.metadata))

    @property
    def label(self) -> str:
        """How the page is named to a person: its page number when known, else index + 1."""
        return str(self.page_number if self.page_number is not None else self.index + 1)


@dataclass(frozen=True, slots=True)
class Criterion:
    """A question a page may be relevant to.

    ``instruction`` is optional per-call context for scorers that accept one (instruction-
    following rerankers); scorers without that ability ignore it or prepend it as documented
    by each scorer.

    Guide with examples: [Concepts][concepts].
    """

    id: str
    text: str
    instruction: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.text, str) or not self.text.strip():
            raise InvalidInputError(f"criterion {self.id!r}: text must be a non-empty string")
        if not isinstance(self.id, str) or not self.id:
            raise InvalidInputError(f"criterion id must be a non-empty string, got {self.id!r}")
        if self.instruction is not None and not isinstance(self.instruction, str):
            raise InvalidInputError(
                f"criterion {self.id!r}: instruction must be a string or None, "
                f"got {type(self.instruction).__name__}"
            )


@dataclass(frozen=True, slots=True)
class ScoredPage:
    """A page with its calibrated probability of being relevant to one criterion.

    ``score`` is None only for a page kept because scoring failed (``on_error="keep"``).
    ``note`` is what the scorer said about how it scored this page, when it was not the
    plain way: e.g. a page longer than the model, scored over windows, or a page pruned by
    a cascade's first stage. ``flags`` says the same in words a program can test
    (:data:`PageFlag`: ``"windowed"``, ``"pruned"``, ``"cached"``).

    ``spans`` are the character ranges of ``page.text`` that are sent, ordered and
    non-overlapping: the whole page unless passage pruning cut it; ``kept_text`` is what is
    sent, with :data:`ELISION` markers where text was cut (every cut stays recoverable
    from the offsets).

    Guide with examples: [Getting started][getting-started].
    """

    page: Page
    score: float | None
    note: str | None = None
    flags: tuple[PageFlag, ...] = ()
    spans: tuple[Span, ...] = ()

    def __post_init__(self) -> None:
        if not self.spans:
            object.__setattr__(self, "spans", ((0, len(self.page.text)),))
        elif self.spans != ((0, len(self.page.text)),):
            _check_spans(self.page, self.spans)
        if self.score is None:
            return
        if not (isinstance(self.score, float | int) and math.isfinite(self.score)):
            raise InvalidInputError(
                f"page {self.page.index}: score must be finite, got {self.score!r}"
            )

    @property
    def pruned(self) -> bool:
        """Whether passage pruning cut this page (``spans`` is not the whole page)."""
        return self.spans != ((0, len(self.page.text)),)

    @property
    def kept_text(self) -> str:
        return kept_text(self.page.text, self.spans)


@dataclass(frozen=True, slots=True)
class PageDecision:
    """Why a policy kept or dropped one page, in words a person can audit.

    Guide with examples: [Getting started][getting-started].
    """

    index: int
    score: float | None  # None when scoring failed and the page was kept unscored
    tokens: int
    kept: bool
    rule: str
    note: str | None = None  # the scorer's note on this page (see ScoredPage.note)
    flags: tuple[PageFlag, ...] = ()  # the scorer's flags on this page (see ScoredPage.flags)


class _Sizes:
    """What a selection and the union share: how much of the document they send.

    (A mixin with no fields of its own, so both frozen dataclasses keep their slots.)
    """

    __slots__ = ()
    chars_kept: int
    chars_total: int
    tokens_kept: int
    tokens_total: int
    truncated_by_budget: bool

    @property
    def chars_kept_fraction(self) -> float:
        """Share of the document's characters sent: 0.12 means 12%."""
        return self.chars_kept / self.chars_total if self.chars_total else 0.0

    @property
    def compression_ratio(self) -> float:
        """Total characters over kept characters (8.0 means 8x smaller); inf if none kept."""
        return self.chars_total / self.chars_kept if self.chars_kept else math.inf

    def _sizes_dict(self) -> dict[str, Any]:
        return {
            "chars_kept": self.chars_kept,
            "chars_total": self.chars_total,
            "tokens_kept": self.tokens_kept,
            "tokens_total": self.tokens_total,
            "chars_kept_fraction": round(self.chars_kept_fraction, 6),
            "compression_ratio": _json_ratio(self.compression_ratio),
            "truncated_by_budget": self.truncated_by_budget,
        }


@dataclass(frozen=True, slots=True)
class Selection(_Sizes):
    """What one criterion kept from one document.

    ``kept`` is in the compressor's output order; ``decisions`` covers every page in
    document order. ``error`` is set when scoring failed and the compressor failed open
    (``on_error="keep"``): then every page is kept and ``decisions`` say so. With passage
    pruning, ``chars_kept`` and ``tokens_kept`` count each page's ``kept_text``: what is sent.

    Guide with examples: [Getting started][getting-started].
    """

    criterion: Criterion
    kept: tuple[ScoredPage, ...]
    decisions: tuple[PageDecision, ...]
    chars_kept: int
    chars_total: int
    tokens_kept: int
    tokens_total: int
    truncated_by_budget: bool = False
    error: str | None = None

    @property
    def kept_indices(self) -> tuple[int, ...]:
        return tuple(sp.page.index for sp in self.kept)

    @property
    def tokens_kept_fraction(self) -> float:
        return self.tokens_kept / self.tokens_total if self.tokens_total else 0.0

    @property
    def failed(self) -> bool:
        return self.error is not None

    def context(self, separator: str = "\n\n") -> str:
        """The kept pages' text joined in output order: what would be sent to an LLM."""
        return separator.join(sp.kept_text for sp in self.kept)

    def to_dict(self) -> dict[str, Any]:
        return {
            "criterion_id": self.criterion.id,
            "criterion": self.criterion.text,
            "kept": [
                {
                    "index": sp.page.index,
                    "page": sp.page.label,
                    "score": _round(sp.score),
                    "note": sp.note,
                    "flags": list(sp.flags),
                    "spans": [list(span) for span in sp.spans],
                }
                for sp in self.kept
            ],
            "kept_indices": list(self.kept_indices),
            **self._sizes_dict(),
            "error": self.error,
            "decisions": [
                {
                    "index": d.index,
                    "score": _round(d.score),
                    "tokens": d.tokens,
                    "kept": d.kept,
                    "rule": d.rule,
                    "note": d.note,
                    "flags": list(d.flags),
                }
                for d in self.decisions
            ],
        }


@dataclass(frozen=True, slots=True)
class UnionSelection(_Sizes):
    """The whole document's context: each page once, kept if any criterion kept it.

    ``criteria_by_page`` maps a kept page index to the ids of the criteria that kept it;
    ``spans`` maps it to the character ranges sent (the union of the spans its criteria
    kept; the whole page when none pruned it, or when left empty at construction).

    Guide with examples: [Getting started][getting-started].
    """

    pages: tuple[Page, ...]
    criteria_by_page: Mapping[int, tuple[str, ...]]
    chars_kept: int
    chars_total: int
    tokens_kept: int
    tokens_total: int
    truncated_by_budget: bool = False
    spans: Mapping[int, tuple[Span, ...]] = field(default_factory=FrozenMap)

    def __post_init__(self) -> None:
        given = dict(self.spans)
        for page in self.pages:
            # The whole page is always a valid answer, an empty page's (0, 0) included.
            if page.index in given and given[page.index] != ((0, len(page.text)),):
                _check_spans(page, given[page.index])
        whole = {p.index: given.get(p.index, ((0, len(p.text)),)) for p in self.pages}
        object.__setattr__(self, "spans", FrozenMap(whole))

    @property
    def kept_indices(self) -> tuple[int, ...]:
        return tuple(p.index for p in self.pages)

    def kept_text(self, index: int) -> str:
        """What is sent of page ``index`` (a kept page), elisions marked."""
        page = next(p for p in self.pages if p.index == index)
        return kept_text(page.text, self.spans[index])

    def context(self, separator: str = "\n\n") -> str:
        return separator.join(kept_text(p.text, self.spans[p.index]) for p in self.pages)

    def to_dict(self) -> dict[str, Any]:
        return {
            "kept_indices": list(self.kept_indices),
            "criteria_by_page": {str(k): list(v) for k, v in self.criteria_by_page.items()},
            "spans": {str(k): [list(s) for s in v] for k, v in self.spans.items()},
            **self._sizes_dict(),
        }


@dataclass(frozen=True, slots=True)
class CompressionResult:
    """Everything one ``compress`` call decided, per criterion and for the whole document.

    Guide with examples: [Getting started][getting-started].
    """

    pages: tuple[Page, ...]
    selections: tuple[Selection, ...]
    union: UnionSelection
    scorer: str
    policy: str
    token_counter: str

    def __getitem__(self, criterion_id: str) -> Selection:
        for selection in self.selections:
            if selection.criterion.id == criterion_id:
                return selection
        raise KeyError(criterion_id)

    @property
    def failed_criteria(self) -> tuple[str, ...]:
        """Ids of criteria whose scoring failed (only non-empty with ``on_error="keep"``)."""
        return tuple(s.criterion.id for s in self.selections if s.failed)

    def to_dict(self) -> dict[str, Any]:
        return {
            "scorer": self.scorer,
            "policy": self.policy,
            "token_counter": self.token_counter,
            "n_pages": len(self.pages),
            "criteria": [s.to_dict() for s in self.selections],
            "union": self.union.to_dict(),
            "failed_criteria": list(self.failed_criteria),
        }


def _json_ratio(value: float) -> float | None:
    # JSON has no infinity; "nothing kept" is reported as null.
    return None if math.isinf(value) else round(value, 4)


def _round(score: float | None) -> float | None:
    return None if score is None else round(score, 6)
