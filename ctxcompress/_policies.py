"""Selection policies: which scored pages a criterion keeps.

Every policy is one point in the same space of four constraints (a minimum score, a
maximum count, a token budget, and a floor on how many pages to keep), so they compose:
``Threshold(0.4) & TopK(5)`` is ``Hybrid(threshold=0.4, top_k=5)``. Each decision carries the
rule that made it, so a result can be audited page by page.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol, runtime_checkable

from ._exceptions import InvalidInputError, InvalidPolicyError
from ._types import PageDecision

__all__ = [
    "DEFAULT_POLICY",
    "Candidate",
    "Hybrid",
    "Policy",
    "PolicyOutcome",
    "Threshold",
    "TokenBudget",
    "TopK",
    "build_policy",
    "select_union",
]


@dataclass(frozen=True, slots=True)
class Candidate:
    """What a policy sees of a page: its index, calibrated score and token count."""

    index: int
    score: float
    tokens: int


@dataclass(frozen=True, slots=True)
class PolicyOutcome:
    """Decisions in document order; ``ranked_kept`` lists kept indices best first."""

    decisions: tuple[PageDecision, ...]
    ranked_kept: tuple[int, ...]
    truncated_by_budget: bool


@runtime_checkable
class Policy(Protocol):
    """Anything that turns scored candidates into keep/drop decisions.

    Guide with examples: [Concepts][concepts].
    """

    def select(self, candidates: Sequence[Candidate]) -> PolicyOutcome: ...

    def describe(self) -> str: ...


# None turns a Hybrid constraint off; Threshold, TopK and TokenBudget require their value.
def _check_threshold(value: float | None, *, required: bool = False) -> None:
    if value is None and not required:
        return
    if isinstance(value, bool) or not isinstance(value, float | int) or math.isnan(value):
        raise InvalidPolicyError(f"threshold must be a number in [0, 1], got {value!r}")
    if not 0.0 <= value <= 1.0:
        raise InvalidPolicyError(f"threshold must be in [0, 1], got {value!r}")


def _check_positive_int(name: str, value: int | None, *, required: bool = False) -> None:
    if value is None and not required:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidPolicyError(f"{name} must be an int >= 1, got {value!r}")


class _Composable:
    """Shared ``&`` and ``select`` for the four policies, via their Hybrid equivalent."""

    def as_hybrid(self) -> Hybrid:
        raise NotImplementedError

    def select(self, candidates: Sequence[Candidate]) -> PolicyOutcome:
        return self.as_hybrid().select(candidates)

    def __and__(self, other: _Composable) -> Hybrid:
        if not isinstance(other, _Composable):
            return NotImplemented
        a, b = self.as_hybrid(), other.as_hybrid()
        return Hybrid(
            top_k=_min_or_none(a.top_k, b.top_k),
            threshold=_max_or_none(a.threshold, b.threshold),
            max_tokens=_min_or_none(a.max_tokens, b.max_tokens),
            min_keep=max(a.min_keep, b.min_keep),
        )


def _min_or_none(a: int | None, b: int | None) -> int | None:
    return b if a is None else a if b is None else min(a, b)


def _max_or_none(a: float | None, b: float | None) -> float | None:
    return b if a is None else a if b is None else max(a, b)


@dataclass(frozen=True, slots=True)
class Hybrid(_Composable):
    """Up to ``top_k`` pages, only those scoring at least ``threshold``, within ``max_tokens``.

    Any constraint left as None is off, but at least one of ``top_k``, ``threshold`` and
    ``max_tokens`` must be on: ``Hybrid()`` would keep every page, which is never what a
    compressor is for (and is how a forgotten option used to pass silently).
    ``min_keep`` keeps the best ``min_keep`` pages even below the threshold, so a criterion
    never ends up empty when the caller asks for that; the token budget still wins over it
    (a budget is never exceeded).

    Guide with examples: [Concepts][concepts].
    """

    top_k: int | None = None
    threshold: float | None = None
    max_tokens: int | None = None
    min_keep: int = 0

    def __post_init__(self) -> None:
        _check_positive_int("top_k", self.top_k)
        _check_threshold(self.threshold)
        _check_positive_int("max_tokens", self.max_tokens)
        if (
            isinstance(self.min_keep, bool)
            or not isinstance(self.min_keep, int)
            or self.min_keep < 0
        ):
            raise InvalidPolicyError(f"min_keep must be an int >= 0, got {self.min_keep!r}")
        if self.top_k is None and self.threshold is None and self.max_tokens is None:
            raise InvalidPolicyError(
                "a policy needs at least one of top_k, threshold and max_tokens "
                f"({self.describe()} would keep every page); DEFAULT_POLICY is "
                f"{_DEFAULT_DESCRIPTION}"
            )
        if self.top_k is not None and self.min_keep > self.top_k:
            raise InvalidPolicyError(
                f"min_keep ({self.min_keep}) cannot be larger than top_k ({self.top_k})"
            )

    def as_hybrid(self) -> Hybrid:
        return self

    def describe(self) -> str:
        knobs = (
            ("top_k", self.top_k),
            ("threshold", self.threshold),
            ("max_tokens", self.max_tokens),
        )
        parts = [
            f"{name}={format(value, 'g' if name == 'threshold' else '')}"
            for name, value in knobs
            if value is not None
        ]
        if self.min_keep:
            parts.append(f"min_keep={self.min_keep}")
        return f"Hybrid({', '.join(parts)})"

    def select(self, candidates: Sequence[Candidate]) -> PolicyOutcome:
        decisions: dict[int, PageDecision] = {}
        kept: list[int] = []
        truncated = False
        for rank, cand, verdict, floor, used in self._walk(candidates):
            if verdict == "below":
                rule = f"score {cand.score:.3f} < threshold {self.threshold:g}"
            elif verdict == "beyond":
                rule = f"rank {rank} beyond top_k={self.top_k}"
            elif verdict == "over":
                rule = f"over token budget: {used}+{cand.tokens} > {self.max_tokens}"
                truncated = True
            else:
                rule = self._keep_rule(rank, cand, floor)
                kept.append(cand.index)
            decisions[cand.index] = PageDecision(
                cand.index, cand.score, cand.tokens, verdict == "kept", rule
            )
        in_order = tuple(decisions[c.index] for c in sorted(candidates, key=lambda c: c.index))
        return PolicyOutcome(in_order, tuple(kept), truncated)

    def ranked_kept(self, candidates: Sequence[Candidate]) -> tuple[int, ...]:
        """``select(candidates).ranked_kept`` without writing every page's decision (the
        pruner picks pages this way before it applies the budget: a hot path)."""
        return tuple(c.index for _, c, verdict, _, _ in self._walk(candidates) if verdict == "kept")

    def _walk(
        self, candidates: Sequence[Candidate]
    ) -> Iterator[tuple[int, Candidate, str, bool, int]]:
        """Candidates best first (ties broken by page order so results are stable), each
        with its rank, verdict (kept, below, beyond, over), whether the min_keep floor
        kept it, and the tokens used by the pages kept before it."""
        kept = used = 0
        for rank, cand in enumerate(sorted(candidates, key=lambda c: (-c.score, c.index)), 1):
            below = self.threshold is not None and cand.score < self.threshold
            floor = below and kept < self.min_keep
            if below and not floor:
                verdict = "below"
            elif self.top_k is not None and kept >= self.top_k:
                verdict = "beyond"
            elif self.max_tokens is not None and used + cand.tokens > self.max_tokens:
                verdict = "over"
            else:
                verdict = "kept"
            yield rank, cand, verdict, floor, used
            if verdict == "kept":
                kept += 1
                used += cand.tokens

    def _keep_rule(self, rank: int, cand: Candidate, floor: bool) -> str:
        if floor:
            return f"min_keep={self.min_keep} floor (score {cand.score:.3f} below threshold)"
        reasons = []
        if self.threshold is not None:
            reasons.append(f"score {cand.score:.3f} >= threshold {self.threshold:g}")
        if self.top_k is not None:
            reasons.append(f"rank {rank} <= top_k={self.top_k}")
        if self.max_tokens is not None:
            reasons.append(f"within {self.max_tokens}-token budget")
        return "; ".join(reasons) or "no constraint"


class _OneKnob(_Composable):
    """A policy that sets one knob of :class:`Hybrid`: the knob's name there, how it is
    checked and how ``describe`` writes it (``Threshold(0.3)``, ``TopK(5)``)."""

    __slots__ = ()
    _knob: ClassVar[str]
    _spec: ClassVar[str] = ""  # format spec of the value in describe()

    @property
    def _value(self) -> Any:
        return getattr(self, dataclasses.fields(self)[0].name)  # type: ignore[arg-type]

    def as_hybrid(self) -> Hybrid:
        return Hybrid(**{self._knob: self._value})

    def describe(self) -> str:
        return f"{type(self).__name__}({format(self._value, self._spec)})"


@dataclass(frozen=True, slots=True)
class Threshold(_OneKnob):
    """Keep every page whose calibrated score is at least ``threshold``.

    Guide with examples: [Concepts][concepts].
    """

    threshold: float
    _knob: ClassVar[str] = "threshold"
    _spec: ClassVar[str] = "g"

    def __post_init__(self) -> None:
        _check_threshold(self.threshold, required=True)


@dataclass(frozen=True, slots=True)
class TopK(_OneKnob):
    """Keep the ``k`` best pages (ties broken by page order).

    Guide with examples: [Concepts][concepts].
    """

    k: int
    _knob: ClassVar[str] = "top_k"

    def __post_init__(self) -> None:
        _check_positive_int("k", self.k, required=True)


@dataclass(frozen=True, slots=True)
class TokenBudget(_OneKnob):
    """Keep the best pages greedily while their total tokens stay within ``max_tokens``.

    A page that does not fit is skipped and smaller, lower-ranked pages may still fill the
    remaining room; the result reports ``truncated_by_budget`` whenever the budget dropped
    a page. The budget counts page texts, not the separators used to join them.

    Guide with examples: [Concepts][concepts].
    """

    max_tokens: int
    _knob: ClassVar[str] = "max_tokens"

    def __post_init__(self) -> None:
        _check_positive_int("max_tokens", self.max_tokens, required=True)


def select_union(
    ranked_kept: Sequence[Sequence[Candidate]],
    max_tokens: int | None = None,
    *,
    extra_tokens: Callable[[int, Candidate], int] | None = None,
    on_add: Callable[[int, Candidate], None] | None = None,
) -> tuple[list[int], bool]:
    """Merge per-criterion selections into one deduplicated set of page indices.

    ``ranked_kept`` holds, per criterion, its kept candidates best first. Without a budget
    the union is every kept page. With one, criteria take turns adding their next best page
    (a page another criterion already added costs nothing), so a shared budget is split
    fairly instead of going to whichever criterion ranks first. Returns the kept indices in
    document order and whether the budget dropped anything.

    With passage pruning a page another criterion added may still cost something: this
    criterion's passages of it may not be there yet. ``extra_tokens(position, candidate)``
    then says what adding criterion ``position``'s candidate would add to the context (0
    when nothing new), and ``on_add`` is told each addition.
    """
    if max_tokens is not None:
        _check_positive_int("union max_tokens", max_tokens)
    chosen: dict[int, None] = {}

    def cost(position: int, cand: Candidate) -> int:
        if extra_tokens is not None:
            return extra_tokens(position, cand)
        return 0 if cand.index in chosen else cand.tokens

    used = 0
    truncated = False
    cursors = [0] * len(ranked_kept)
    active = True
    while active:
        active = False
        for i, kept in enumerate(ranked_kept):
            # Advance this criterion to its next page that adds something and fits; one
            # page a turn (without a budget, every page at once).
            while cursors[i] < len(kept):
                cand = kept[cursors[i]]
                cursors[i] += 1
                extra = cost(i, cand)
                if cand.index in chosen and extra == 0:
                    if on_add is not None:
                        on_add(i, cand)
                    continue
                if max_tokens is not None and used + extra > max_tokens:
                    truncated = True
                    continue
                chosen[cand.index] = None
                used += extra
                if on_add is not None:
                    on_add(i, cand)
                active = True
                if max_tokens is not None:
                    break
    return sorted(chosen), truncated


#: Up to 5 pages a criterion, those at least 1% likely to be relevant, and always the best
#: one. Recall-leaning on purpose: a dropped evidence page costs more than an extra page.
#: (The default scorer's probabilities are calibrated on data where ~1-5% of pages are
#: evidence, so evidence pages often score 0.02-0.3; docs/quality.md has the trade-offs.)
_DEFAULT_DESCRIPTION = "Hybrid(top_k=5, threshold=0.01, min_keep=1)"
DEFAULT_POLICY: Hybrid = Hybrid(top_k=5, threshold=0.01, min_keep=1)


def build_policy(
    policy: Policy | None = None,
    *,
    threshold: float | None = None,
    top_k: int | None = None,
    max_tokens: int | None = None,
    min_keep: int | None = None,
) -> Policy:
    """A policy from either ``policy`` or the shortcut constraints, never both.

    Each shortcut changes that knob of :data:`DEFAULT_POLICY` and keeps the others:
    ``min_keep=2`` alone is ``Hybrid(top_k=5, threshold=0.01, min_keep=2)``, not "keep
    everything", and ``max_tokens=2000`` adds a budget to the default's top-5 and threshold.
    To switch a default knob off, give its neutral value (``threshold=0``, ``min_keep=0``,
    a ``top_k`` as large as the document) or a policy of your own. With nothing given,
    :data:`DEFAULT_POLICY`. Every entry point (the CLI, the batch engine, the server, the
    framework integrations, ``select_relevant_pages``) chooses its policy here.

    Guide with examples: [Concepts][concepts].
    """
    given = {
        name: value
        for name, value in (
            ("threshold", threshold),
            ("top_k", top_k),
            ("max_tokens", max_tokens),
            ("min_keep", min_keep),
        )
        if value is not None
    }
    if policy is not None:
        if given:
            raise InvalidInputError(
                "give either policy= or threshold/top_k/max_tokens/min_keep, not both"
            )
        if not isinstance(policy, Policy):
            raise InvalidPolicyError(
                f"policy must be a Policy (Hybrid, TopK, Threshold, TokenBudget or an object "
                f"with select() and describe()), got {type(policy).__name__}"
            )
        return policy
    if not given:
        return DEFAULT_POLICY
    base = DEFAULT_POLICY
    if (
        top_k is None
        and base.top_k is not None
        and isinstance(min_keep, int)
        and not isinstance(min_keep, bool)
        and min_keep > base.top_k
    ):
        raise InvalidPolicyError(
            f"min_keep ({min_keep}) cannot be larger than top_k ({base.top_k}, the "
            "default policy's); give top_k too"
        )
    return Hybrid(
        top_k=base.top_k if top_k is None else top_k,
        threshold=base.threshold if threshold is None else threshold,
        max_tokens=base.max_tokens if max_tokens is None else max_tokens,
        min_keep=base.min_keep if min_keep is None else min_keep,
    )
