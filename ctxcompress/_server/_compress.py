"""``/v1/compress``: score through the batcher, then let the public ``Compressor`` decide.

Scores come from the shared batcher (so compression requests batch with rerank requests);
the policy, token counts and union come from :class:`ctxcompress.Compressor`, fed the
scores by a scorer that only replays them. A criterion whose scoring failed replays its
error, so ``on_error="keep"`` fails open exactly as in-process.
"""

from __future__ import annotations

from collections.abc import Sequence

from .. import (
    Compressor,
    Criterion,
    InvalidInputError,
    Page,
    TokenCounter,
    TokenizerUnavailableError,
    build_policy,
    load_token_counter,
    split_pages,
)
from ._errors import ApiError
from ._wire_compress import CompressRequest, CriterionIn, PageIn

__all__ = ["ReplayScorer", "build_job", "make_compressor", "token_counter_for"]

CriterionLike = Criterion | str
PageLike = Page | str

_TOKENIZER_SCHEMES = ("tiktoken", "tiktoken-model", "whitespace")


class ReplayScorer:
    """A scorer that hands back scores computed elsewhere, or the error they met."""

    pointwise = True

    def __init__(self, name: str, fingerprint: str) -> None:
        self.name = name
        self.fingerprint = fingerprint
        #: criterion id -> its scores or the exception its scoring raised; filled in once
        #: the batcher has answered.
        self.outcomes: dict[str, list[float] | BaseException] = {}

    def score(self, criterion: CriterionLike, pages: Sequence[PageLike]) -> list[float]:
        return self.score_batch([criterion], pages)[0]

    def score_batch(
        self, criteria: Sequence[CriterionLike], pages: Sequence[PageLike]
    ) -> list[list[float]]:
        rows = []
        for criterion in criteria:
            # The compressor passes the Criterion objects it was given.
            key = criterion.id if isinstance(criterion, Criterion) else criterion
            outcome = self.outcomes[key]
            if isinstance(outcome, BaseException):
                raise outcome
            rows.append(outcome)
        return rows


def build_job(
    req: CompressRequest, max_pages: int, max_criteria: int
) -> tuple[list[Page], list[Criterion]]:
    """Pages and criteria of a request, or an :class:`ApiError` naming what is wrong."""
    if (req.pages is None) == (req.document is None):
        raise ApiError(422, "invalid_request", "give either 'pages' or 'document', not both")
    try:
        if req.document is not None:
            pages = split_pages(req.document)
        else:
            pages = [_page(p, i) for i, p in enumerate(req.pages or [])]
        criteria = [_criterion(c, i) for i, c in enumerate(req.criteria)]
    except InvalidInputError as exc:
        raise ApiError(422, "invalid_request", str(exc)) from None
    if not pages or all(not p.text.strip() for p in pages):
        raise ApiError(400, "empty", "the document is empty: it has no pages, or only blank ones")
    if len(pages) > max_pages:
        raise ApiError(
            413,
            "too_large",
            f"{len(pages)} pages, more than this server accepts ({max_pages}, --max-documents)",
        )
    if len(criteria) > max_criteria:
        raise ApiError(
            413,
            "too_large",
            f"{len(criteria)} criteria, more than this server accepts ({max_criteria})",
        )
    ids = [c.id for c in criteria]
    if len(set(ids)) != len(ids):
        raise ApiError(422, "invalid_request", "criterion ids must be unique")
    return pages, criteria


def _page(item: str | PageIn, index: int) -> Page:
    if isinstance(item, str):
        return Page(text=item, index=index)
    return Page(text=item.text, index=index, page_number=item.page_number, source=item.source)


def _criterion(item: str | CriterionIn, index: int) -> Criterion:
    if isinstance(item, str):
        return Criterion(id=f"c{index}", text=item)
    return Criterion(id=item.id or f"c{index}", text=item.text, instruction=item.instruction)


def token_counter_for(spec: str | None, cache: dict[str, TokenCounter]) -> TokenCounter | None:
    if spec is None:
        return None
    if spec.split(":", 1)[0] not in _TOKENIZER_SCHEMES:
        raise ApiError(
            422,
            "invalid_request",
            f"tokenizer {spec!r} is not served: use tiktoken[:<encoding>], "
            "tiktoken-model:<model> or whitespace",
        )
    if spec not in cache:
        try:
            cache[spec] = load_token_counter(spec)
        except InvalidInputError as exc:
            raise ApiError(422, "invalid_request", str(exc)) from None
    return cache[spec]


def make_compressor(
    req: CompressRequest, scorer: ReplayScorer, counter: TokenCounter | None
) -> Compressor:
    """The request's compressor, checked before any scoring is spent on it."""
    # The request's fields are named after build_policy's and Compressor's arguments.
    try:
        policy = build_policy(**(req.policy.model_dump() if req.policy else {}))
        options = req.model_dump(include={"order", "on_error", "union_max_tokens"})
        return Compressor(scorer, policy, counter, **options)
    except InvalidInputError as exc:
        raise ApiError(422, "invalid_request", str(exc)) from None
    except TokenizerUnavailableError as exc:
        # The default token counter's files are missing on this server: its fault, not the
        # request's (the Docker image bakes tiktoken's files in).
        raise ApiError(503, "unavailable", str(exc)) from None
