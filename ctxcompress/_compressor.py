"""The compressor: pages × criteria → scores → policy → per-criterion and union contexts.

The scheduling and selection logic lives in :class:`_Job`, which does no I/O; ``compress``
and ``acompress`` are thin shells that feed it scores from a sync or async scorer.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Generator, Sequence
from typing import Any, Literal, TypeVar, cast

from ._chunking import split_pages
from ._exceptions import CtxCompressError, InvalidInputError, InvalidPolicyError, ScoringError
from ._policies import DEFAULT_POLICY, Candidate, Policy, build_policy, select_union
from ._pruning import PagePruning, PassagePruner, Prune, ScoreRequest, resolve_pruner
from ._scorers._base import (
    AsyncScorer,
    CriterionLike,
    PageLike,
    PageNote,
    Scorer,
    Scores,
    as_criteria,
    as_pages,
    ascores_of,
    scores_of,
)
from ._scorers._registry import load_scorer, shared_default_scorer
from ._tokens import TokenCounter, default_token_counter, load_token_counter
from ._types import (
    CompressionResult,
    Criterion,
    Order,
    Page,
    PageDecision,
    ScoredPage,
    Selection,
    Span,
    UnionSelection,
    kept_text,
    merge_spans,
)

__all__ = ["Compressor", "OnError", "select_relevant_pages"]

logger = logging.getLogger("ctxcompress")

#: What a compressor does when a scorer fails: raise, or keep every page of the criterion.
OnError = Literal["raise", "keep"]
ProgressCallback = Callable[[int, int], None]

# The sans-I/O job asks its shell for scores one request at a time.
_Steps = Generator[ScoreRequest, Scores, None]

_ORDERS = ("document", "score")


class Compressor:
    """Select, per criterion, the pages of a document worth sending to an LLM.

    ``scorer`` is a scorer object or a spec for :func:`load_scorer` (default: ``"default"``);
    ``token_counter`` a counter or a spec for :func:`load_token_counter` (default: tiktoken
    o200k_base). ``order`` puts kept pages in document order (what an LLM reads best) or
    best first. ``on_error="keep"`` fails open: a criterion whose scoring failed keeps every
    page and its selection carries the error. ``union_max_tokens`` is a token budget for the
    whole-document context, shared fairly across criteria.

    ``prune="passages"`` (or a :class:`PassagePruner`) cuts each kept page down to the
    passages that matter to the criterion (see :mod:`ctxcompress._pruning`): pages are
    chosen as without it, then each keeps its best passages; ``ScoredPage.spans`` says
    which, and token budgets (the policy's and ``union_max_tokens``) count what is sent.

    Guide with examples: [Getting started][getting-started].
    """

    def __init__(
        self,
        scorer: Scorer | str | None = None,
        policy: Policy | None = None,
        token_counter: TokenCounter | str | None = None,
        *,
        order: Order = "document",
        on_error: OnError = "raise",
        union_max_tokens: int | None = None,
        criteria_per_call: int = 16,
        progress: ProgressCallback | None = None,
        prune: Prune = None,
    ) -> None:
        if order not in _ORDERS:
            raise InvalidInputError(f"order must be 'document' or 'score', got {order!r}")
        if on_error not in ("raise", "keep"):
            raise InvalidInputError(f"on_error must be 'raise' or 'keep', got {on_error!r}")
        if (
            isinstance(criteria_per_call, bool)
            or not isinstance(criteria_per_call, int)
            or criteria_per_call < 1
        ):
            raise InvalidInputError(
                f"criteria_per_call must be an int >= 1, got {criteria_per_call!r}"
            )
        if union_max_tokens is not None and (
            isinstance(union_max_tokens, bool)
            or not isinstance(union_max_tokens, int)
            or union_max_tokens < 1
        ):
            raise InvalidPolicyError(
                f"union_max_tokens must be an int >= 1, got {union_max_tokens!r}"
            )
        if policy is not None and not isinstance(policy, Policy):
            raise InvalidInputError(f"policy must be a Policy, got {type(policy).__name__}")
        self.scorer: Scorer | AsyncScorer = _resolve_scorer(scorer)
        self.policy: Policy = policy if policy is not None else DEFAULT_POLICY
        self.token_counter: TokenCounter = _resolve_counter(token_counter)
        self.order: Order = order
        self.on_error: OnError = on_error
        self.union_max_tokens = union_max_tokens
        self.criteria_per_call = criteria_per_call
        self.progress = progress
        self.pruner: PassagePruner | None = resolve_pruner(prune)
        # Passages are scored by the pruner's own scorer when it names one, else by ours.
        self.prune_scorer: Scorer | AsyncScorer = (
            _resolve_scorer(self.pruner.scorer)
            if self.pruner is not None and self.pruner.scorer is not None
            else self.scorer
        )

    def __repr__(self) -> str:
        return (
            f"Compressor(scorer={self.scorer.name!r}, policy={self.policy.describe()}, "
            f"token_counter={self.token_counter.name!r}, order={self.order!r}, "
            f"on_error={self.on_error!r}"
            + (f", prune={self.pruner.describe()}" if self.pruner is not None else "")
            + ")"
        )

    def compress(
        self,
        document: str | Sequence[PageLike],
        criteria: CriterionLike | Sequence[CriterionLike],
    ) -> CompressionResult:
        """Score every page against every criterion and apply the policy."""
        # Sync/async twin of acompress (the httpx pattern): the schedule is shared in _Job;
        # only the call to the scorer differs, and Python cannot await in a sync loop.
        for scorer in (self.scorer, self.prune_scorer):
            if not isinstance(scorer, Scorer):
                raise InvalidInputError(
                    f"scorer {scorer.name!r} has only an async path (ascore_batch): "
                    "use acompress, or give a scorer with score_batch"
                )
        job = self._job(document, criteria)
        steps = job.steps()
        try:
            ask = next(steps)
            while True:
                try:
                    scores = scores_of(cast(Scorer, ask.scorer), ask.criteria, ask.pages)
                except Exception as exc:
                    ask = steps.throw(_typed(ask.scorer, ask.criteria, exc))
                else:
                    ask = steps.send(scores)
        except StopIteration:
            pass
        return job.result()

    async def acompress(
        self,
        document: str | Sequence[PageLike],
        criteria: CriterionLike | Sequence[CriterionLike],
    ) -> CompressionResult:
        """The async twin of :meth:`compress`; uses the scorer's native async path if any."""
        # Sync/async twin of compress: the same loop, the scorer's answer awaited.
        job = self._job(document, criteria)
        steps = job.steps()
        try:
            ask = next(steps)
            while True:
                try:
                    scores = await ascores_of(ask.scorer, ask.criteria, ask.pages)
                except Exception as exc:
                    ask = steps.throw(_typed(ask.scorer, ask.criteria, exc))
                else:
                    ask = steps.send(scores)
        except StopIteration:
            pass
        return job.result()

    def _job(
        self, document: str | Sequence[PageLike], criteria: CriterionLike | Sequence[CriterionLike]
    ) -> _Job:
        pages = _as_document(document)
        crits = as_criteria(criteria)
        tokens = [self.token_counter.count(p.text) for p in pages]
        return _Job(self, pages, crits, tokens)


class _Job:
    """One document's scoring schedule and selection; no I/O."""

    def __init__(
        self, owner: Compressor, pages: list[Page], criteria: list[Criterion], tokens: list[int]
    ) -> None:
        self.owner = owner
        self.pages = pages
        self.criteria = criteria
        self.tokens = tokens
        self.scores: dict[str, list[float]] = {}
        self.notes: dict[str, dict[int, PageNote]] = {}
        self.errors: dict[str, str] = {}
        self.done = 0
        self.picks: dict[str, list[int]] = {}
        self._whole: dict[str, list[Candidate]] = {}  # per criterion, see _candidates
        self.pruning = (
            None
            if owner.pruner is None
            else PagePruning(
                owner.pruner,
                owner.prune_scorer,
                pages,
                tokens,
                owner.token_counter,
                criteria_per_call=owner.criteria_per_call,
                fail_open=owner.on_error == "keep",
            )
        )

    def batches(self) -> list[list[Criterion]]:
        step = self.owner.criteria_per_call
        return [self.criteria[i : i + step] for i in range(0, len(self.criteria), step)]

    def steps(self) -> _Steps:
        """The schedule, as a generator: it yields each batch of criteria to score and is
        sent its :class:`Scores`, or thrown the scorer's error. With ``on_error="keep"``, a
        failed batch is retried one criterion at a time so one bad criterion does not take
        the others down, and the criteria that still fail are kept whole."""
        scorer = self.owner.scorer
        for batch in self.batches():
            try:
                self.record(batch, (yield ScoreRequest(scorer, batch, self.pages)))
            except Exception as exc:
                if self.owner.on_error == "raise":
                    raise
                failed: dict[str, BaseException] = {}
                if len(batch) == 1:  # already alone: asking again would only repeat it
                    self.mark_failed({batch[0].id: exc})
                    continue
                for criterion in batch:
                    try:
                        self.record(
                            [criterion], (yield ScoreRequest(scorer, [criterion], self.pages))
                        )
                    except Exception as single:
                        failed[criterion.id] = single
                self.mark_failed(failed)
        if self.pruning is not None:
            # Pages are picked before pruning without the token budget (pruned pages are
            # smaller, so more may fit); the budget is applied to what is sent in result().
            scored = [c for c in self.criteria if c.id not in self.errors]
            self.picks = {c.id: self._pick_unbudgeted(c) for c in scored}
            yield from self.pruning.steps(self.picks, scored)

    def _pick_unbudgeted(self, criterion: Criterion) -> list[int]:
        policy = self.owner.policy
        # The built-in policies (Hybrid, TopK, Threshold, TokenBudget) say what they are
        # as a Hybrid, whose budget can be lifted; any other policy picks as it is.
        as_hybrid = getattr(policy, "as_hybrid", None)
        if callable(as_hybrid):
            hybrid = as_hybrid()
            if hybrid.top_k is None and hybrid.threshold is None:
                # A budget alone: every page is a candidate until the budget is applied.
                scores = self.scores[criterion.id]
                return sorted(range(len(self.pages)), key=lambda i: (-scores[i], i))
            return list(
                dataclasses.replace(hybrid, max_tokens=None).ranked_kept(
                    self._candidates(criterion.id, {})
                )
            )
        return list(policy.select(self._candidates(criterion.id, {})).ranked_kept)

    def _candidates(self, criterion_id: str, tokens: dict[int, int]) -> list[Candidate]:
        """The policy's view of the pages: their score and tokens (``tokens`` overrides
        the whole page's count for pages that are pruned)."""
        scores = self.scores[criterion_id]
        base = self._whole.get(criterion_id)
        if base is None:
            base = [
                Candidate(p.index, s, t)
                for p, s, t in zip(self.pages, scores, self.tokens, strict=True)
            ]
            # Pruning asks twice (the pick before pruning, the selection after): the
            # whole pages' candidates are built once and only pruned pages' replaced.
            if self.pruning is not None:
                self._whole[criterion_id] = base
        if not tokens:
            return list(base)
        out = list(base)
        for i, t in tokens.items():
            out[i] = Candidate(i, scores[i], t)
        return out

    def record(self, batch: Sequence[Criterion], scores: Scores) -> None:
        for ci, criterion in enumerate(batch):
            self.scores[criterion.id] = list(scores.rows[ci])
            self.notes[criterion.id] = {}
        for (position, page_index), note in scores.notes.items():
            if 0 <= position < len(batch) and 0 <= page_index < len(self.pages):
                self.notes[batch[position].id][page_index] = note
        self._advance(len(batch))

    def mark_failed(self, failed: dict[str, BaseException]) -> None:
        """Record criteria whose scoring failed; they fail open in :meth:`result`."""
        for criterion_id, err in failed.items():
            self.errors[criterion_id] = f"{type(err).__name__}: {err}"
            logger.warning(
                "scoring failed for criterion %r; keeping all %d pages (on_error='keep'): %s",
                criterion_id,
                len(self.pages),
                self.errors[criterion_id],
            )
        if failed:
            self._advance(len(failed))

    def _advance(self, n_criteria: int) -> None:
        self.done += n_criteria * len(self.pages)
        if self.owner.progress is not None:
            self.owner.progress(self.done, len(self.criteria) * len(self.pages))

    def result(self) -> CompressionResult:
        owner = self.owner
        chars_total = sum(len(p.text) for p in self.pages)
        tokens_total = sum(self.tokens)
        selections: list[Selection] = []
        union_inputs: list[list[Candidate]] = []
        for criterion in self.criteria:
            if criterion.id in self.errors:
                selection, ranked = self._fail_open(criterion, chars_total, tokens_total)
            else:
                selection, ranked = self._select(criterion, chars_total, tokens_total)
            selections.append(selection)
            union_inputs.append(ranked)
        if self.pruning is None:
            union = self._union(selections, union_inputs, chars_total, tokens_total)
        else:
            union = self._pruned_union(selections, union_inputs, (chars_total, tokens_total))
        return CompressionResult(
            pages=tuple(self.pages),
            selections=tuple(selections),
            union=union,
            scorer=owner.scorer.name,
            policy=owner.policy.describe(),
            token_counter=owner.token_counter.name,
        )

    def _union(
        self,
        selections: list[Selection],
        union_inputs: list[list[Candidate]],
        chars_total: int,
        tokens_total: int,
    ) -> UnionSelection:
        kept_union, truncated = select_union(union_inputs, self.owner.union_max_tokens)
        by_page: dict[int, list[str]] = {i: [] for i in kept_union}
        for selection in selections:
            for sp in selection.kept:
                if sp.page.index in by_page:
                    by_page[sp.page.index].append(selection.criterion.id)
        return self._union_value(kept_union, by_page, truncated, chars_total, tokens_total)

    def _pruned_union(
        self,
        selections: list[Selection],
        union_inputs: list[list[Candidate]],
        totals: tuple[int, int],  # the document's characters and tokens
    ) -> UnionSelection:
        """The union when pages are pruned: a page's spans are the union of the spans its
        criteria kept, and a union budget counts the tokens each criterion's spans add."""
        assert self.pruning is not None
        pruning = self.pruning
        sent = [{sp.page.index: sp.spans for sp in s.kept} for s in selections]
        spans: dict[int, tuple[Span, ...]] = {}
        by_page: dict[int, list[str]] = {}

        def extra(position: int, cand: Candidate) -> int:
            i = cand.index
            merged = merge_spans(spans.get(i, ()), sent[position][i])
            before = pruning.tokens(i, spans[i]) if i in spans else 0
            return 0 if merged == spans.get(i) else max(0, pruning.tokens(i, merged) - before)

        def add(position: int, cand: Candidate) -> None:
            i = cand.index
            spans[i] = merge_spans(spans.get(i, ()), sent[position][i])
            by_page.setdefault(i, []).append(selections[position].criterion.id)

        kept_union, truncated = select_union(
            union_inputs, self.owner.union_max_tokens, extra_tokens=extra, on_add=add
        )
        return self._union_value(kept_union, by_page, truncated, *totals, spans)

    def _union_value(
        self,
        kept_union: list[int],
        by_page: dict[int, list[str]],
        truncated: bool,
        chars_total: int,
        tokens_total: int,
        spans: dict[int, tuple[Span, ...]] | None = None,
    ) -> UnionSelection:
        spans = spans or {}
        pruning = self.pruning
        chars = tokens = 0
        for i in kept_union:
            text = self.pages[i].text
            pruned = pruning is not None and i in spans
            chars += len(kept_text(text, spans[i])) if pruned else len(text)
            tokens += (
                pruning.tokens(i, spans[i]) if pruning is not None and pruned else self.tokens[i]
            )
        return UnionSelection(
            pages=tuple(self.pages[i] for i in kept_union),
            criteria_by_page={i: tuple(by_page.get(i, ())) for i in kept_union},
            chars_kept=chars,
            chars_total=chars_total,
            tokens_kept=tokens,
            tokens_total=tokens_total,
            truncated_by_budget=truncated,
            spans=spans,
        )

    def _select(
        self, criterion: Criterion, chars_total: int, tokens_total: int
    ) -> tuple[Selection, list[Candidate]]:
        scores = self.scores[criterion.id]
        spans: dict[int, tuple[Span, ...]] = {}
        if self.pruning is not None:
            spans = {
                i: self.pruning.spans(criterion.id, i, scores[i])
                for i in self.picks.get(criterion.id, ())
            }
        pruning = self.pruning
        tokens = {i: pruning.tokens(i, s) for i, s in spans.items()} if pruning else {}
        candidates = self._candidates(criterion.id, tokens)
        outcome = self.owner.policy.select(candidates)
        order = (
            list(outcome.ranked_kept)
            if self.owner.order == "score"
            else sorted(outcome.ranked_kept)
        )
        notes = dict(self.notes.get(criterion.id, {}))
        if pruning is not None:
            for i in order:
                failure = pruning.failure(criterion.id, i)
                if failure is not None:
                    old = notes.get(i, PageNote())
                    text = failure if old.text is None else f"{old.text}; {failure}"
                    notes[i] = dataclasses.replace(old, text=text)
        kept = tuple(
            ScoredPage(self.pages[i], scores[i], *_note_fields(notes.get(i)), spans.get(i, ()))
            for i in order
        )
        ranked = [candidates[i] for i in outcome.ranked_kept]
        decisions = tuple(
            dataclasses.replace(d, note=notes[d.index].text, flags=notes[d.index].flags)
            if d.index in notes
            else d
            for d in outcome.decisions
        )
        return (
            Selection(
                criterion=criterion,
                kept=kept,
                decisions=decisions,
                chars_kept=sum(len(sp.kept_text) for sp in kept),
                chars_total=chars_total,
                tokens_kept=sum(candidates[i].tokens for i in order),
                tokens_total=tokens_total,
                truncated_by_budget=outcome.truncated_by_budget,
            ),
            ranked,
        )

    def _fail_open(
        self, criterion: Criterion, chars_total: int, tokens_total: int
    ) -> tuple[Selection, list[Candidate]]:
        error = self.errors[criterion.id]
        rule = "kept: scoring failed and on_error='keep'"
        decisions = tuple(
            PageDecision(p.index, None, t, True, rule)
            for p, t in zip(self.pages, self.tokens, strict=True)
        )
        kept = tuple(ScoredPage(p, None) for p in self.pages)
        # Unscored pages compete for a union budget in document order.
        ranked = [Candidate(p.index, 1.0, t) for p, t in zip(self.pages, self.tokens, strict=True)]
        return (
            Selection(
                criterion=criterion,
                kept=kept,
                decisions=decisions,
                chars_kept=chars_total,
                chars_total=chars_total,
                tokens_kept=tokens_total,
                tokens_total=tokens_total,
                error=error,
            ),
            ranked,
        )


def _note_fields(note: PageNote | None) -> tuple[str | None, tuple[Any, ...]]:
    return (None, ()) if note is None else (note.text, note.flags)


def _typed(scorer: Scorer | AsyncScorer, batch: Sequence[Criterion], exc: Exception) -> Exception:
    """A scorer's failure as a ctxcompress error: ours pass through; anything else (a custom
    scorer's RuntimeError) becomes a :class:`ScoringError` naming the scorer and the
    criteria, with the original as its cause."""
    if isinstance(exc, CtxCompressError):
        return exc
    ids = ", ".join(repr(c.id) for c in batch)
    what = "criterion" if len(batch) == 1 else "criteria"
    typed = ScoringError(
        f"scorer {scorer.name!r} failed on {what} {ids}: {type(exc).__name__}: {exc}"
    )
    typed.__cause__ = exc
    return typed


def _as_document(document: str | Sequence[PageLike]) -> list[Page]:
    if isinstance(document, str):
        return split_pages(document)
    if not isinstance(document, Sequence):
        raise InvalidInputError(
            f"document must be a str or a sequence of pages, got {type(document).__name__}"
        )
    pages = as_pages(document)
    if not pages:
        raise InvalidInputError("document has no pages")
    if all(not p.text.strip() for p in pages):
        raise InvalidInputError("document is empty: every page is blank")
    return pages


def _resolve_scorer(scorer: Scorer | AsyncScorer | str | None) -> Scorer | AsyncScorer:
    # An async-only scorer (the AsyncScorer protocol) serves acompress; compress refuses it.
    if isinstance(scorer, AsyncScorer) and not isinstance(scorer, Scorer):
        return scorer
    return _resolve(scorer, Scorer, "scorer", shared_default_scorer, load_scorer)


def _resolve_counter(counter: TokenCounter | str | None) -> TokenCounter:
    return _resolve(
        counter, TokenCounter, "token_counter", default_token_counter, load_token_counter
    )


_T = TypeVar("_T")


def _resolve(
    value: _T | str | None,
    protocol: type,
    what: str,
    default: Callable[[], _T],
    load: Callable[[str], _T],
) -> _T:
    """``value`` itself, the shared default for None, or what a spec string names; anything
    else is refused with an error naming the argument."""
    if value is None:
        return default()
    if isinstance(value, str):
        return load(value)
    if not isinstance(value, protocol):
        raise InvalidInputError(
            f"{what} must be a {protocol.__name__} or a spec string, got {type(value).__name__}"
        )
    return value


def select_relevant_pages(
    pages: str | Sequence[PageLike],
    criterion: CriterionLike,
    *,
    scorer: Scorer | str | None = None,
    policy: Policy | None = None,
    threshold: float | None = None,
    top_k: int | None = None,
    max_tokens: int | None = None,
    min_keep: int | None = None,
    token_counter: TokenCounter | str | None = None,
    order: Order = "document",
    **options: Any,
) -> Selection:
    """One-off use: the pages relevant to one criterion.

    Give either a ``policy`` or any of ``threshold``/``top_k``/``max_tokens``/``min_keep``
    (each changes that knob of :data:`DEFAULT_POLICY`, see :func:`build_policy`); with
    neither, :data:`DEFAULT_POLICY` applies.

    Guide with examples: [Getting started][getting-started].
    """
    policy = build_policy(
        policy, threshold=threshold, top_k=top_k, max_tokens=max_tokens, min_keep=min_keep
    )
    compressor = Compressor(scorer, policy, token_counter, order=order, **options)
    return compressor.compress(pages, [criterion]).selections[0]
