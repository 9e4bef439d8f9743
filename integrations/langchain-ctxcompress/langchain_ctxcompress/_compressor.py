"""``CtxCompressor``: a LangChain document compressor over ctxcompress."""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from langchain_core.callbacks import Callbacks
from langchain_core.documents import BaseDocumentCompressor, Document
from pydantic import ConfigDict, Field, PrivateAttr, model_validator

from ctxcompress import (
    CompressionResult,
    Compressor,
    Criterion,
    InvalidInputError,
    Policy,
    Scorer,
    Selection,
    build_policy,
    check_scorer_spec,
)

__all__ = ["CtxCompressor", "compress_by_criteria"]


# What users of other rerankers write, and the field that means it here.
_ALIASES = {"top_k": "top_n", "k": "top_n", "model": "scorer", "model_name": "scorer"}


def unknown_fields_message(owner: str, unknown: set[str], known: Sequence[str]) -> str:
    """One line naming each unknown keyword and the field that was probably meant."""
    parts = []
    for name in sorted(unknown):
        meant = _ALIASES.get(name) or next(iter(difflib.get_close_matches(name, known, 1)), None)
        hint = f" (did you mean {meant!r}?)" if meant in known else ""
        parts.append(f"{name!r}{hint}")
    return (
        f"{owner} got unknown keyword argument(s) {', '.join(parts)}; it takes "
        f"{', '.join(known)}. The number of documents kept is top_n, LangChain's name for it "
        "(ctxcompress itself calls it top_k)"
    )


class CtxCompressor(BaseDocumentCompressor):
    """Keep the documents a calibrated scorer finds relevant to the query.

    Give a ``policy`` or any of ``threshold`` / ``top_n`` / ``max_tokens`` / ``min_keep``
    (each changes that knob of ctxcompress's default policy and keeps the others); with
    none, the default policy applies. The
    token budget counts ``page_content``, the text the LLM will receive.

    Output order: ``order="score"`` (the default, as LangChain rerankers return them) puts
    the most relevant document first; ``order="document"`` keeps the input order. Each
    kept document is a copy with ``metadata["relevance_score"]`` (the calibrated
    probability) and ``metadata["ctxcompress_rule"]``; the inputs are never changed.

    Unknown keyword arguments are refused (``top_k`` names ``top_n``). Settings may be
    changed after first use; the next call uses them, and a scorer given as a spec string is
    loaded once and reused while the spec stays the same.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True, extra="forbid")

    scorer: Scorer | str | None = Field(
        default=None, description="scorer object or spec; None = default"
    )
    policy: Policy | None = None
    threshold: float | None = None
    top_n: int | None = None
    max_tokens: int | None = None
    min_keep: int | None = None
    instruction: str | None = None
    order: Literal["score", "document"] = "score"
    token_counter: str = "tiktoken"
    on_error: Literal["raise", "keep"] = "raise"

    _compressor: Compressor | None = PrivateAttr(default=None)
    _built_for: tuple[Any, ...] | None = PrivateAttr(default=None)
    _loaded: tuple[str | None, Scorer] | None = PrivateAttr(default=None)

    @model_validator(mode="before")
    @classmethod
    def _refuse_unknown_fields(cls, data: Any) -> Any:
        if isinstance(data, Mapping):
            unknown = set(data) - set(cls.model_fields)
            if unknown:
                raise ValueError(
                    unknown_fields_message(cls.__name__, unknown, list(cls.model_fields))
                )
        return data

    @model_validator(mode="after")
    def _check_policy(self) -> CtxCompressor:
        # Bad values (top_n=-1, threshold=2) fail here, not at the first query, in the
        # names this class uses.
        try:
            self._policy()
            if isinstance(self.scorer, str):
                check_scorer_spec(self.scorer)  # an unknown spec is named now, loaded later
        except InvalidInputError as exc:
            raise ValueError(str(exc).replace("top_k", "top_n")) from exc
        return self

    def _settings(self) -> tuple[Any, ...]:
        return (
            id(self.scorer) if not isinstance(self.scorer, str | None) else self.scorer,
            self._policy(),
            self.token_counter,
            self.order,
            self.on_error,
        )

    def _scorer(self) -> Scorer | str | None:
        # A spec is loaded once: rebuilding an ONNX session per settings change would be slow.
        if not isinstance(self.scorer, str | None):
            return self.scorer
        if self._loaded is None or self._loaded[0] != self.scorer:
            self._loaded = (self.scorer, Compressor(self.scorer, token_counter="whitespace").scorer)
        return self._loaded[1]

    def _get(self) -> Compressor:
        settings = self._settings()
        if self._compressor is None or self._built_for != settings:
            self._compressor = Compressor(
                self._scorer(),
                self._policy(),
                self.token_counter,
                order=self.order,
                on_error=self.on_error,
            )
            self._built_for = settings
        return self._compressor

    def _policy(self) -> Policy:
        # Raises InvalidInputError, a ValueError, when both forms are given.
        return build_policy(
            self.policy,
            threshold=self.threshold,
            top_k=self.top_n,
            max_tokens=self.max_tokens,
            min_keep=self.min_keep,
        )

    def _criteria(self, query: str) -> list[Criterion]:
        return [Criterion("query", query, self.instruction)]

    def compress_documents(
        self, documents: Sequence[Document], query: str, callbacks: Callbacks | None = None
    ) -> Sequence[Document]:
        if not documents:
            return []
        result = self._get().compress([d.page_content for d in documents], self._criteria(query))
        return _kept(documents, result.selections[0])

    async def acompress_documents(
        self, documents: Sequence[Document], query: str, callbacks: Callbacks | None = None
    ) -> Sequence[Document]:
        if not documents:
            return []
        result = await self._get().acompress(
            [d.page_content for d in documents], self._criteria(query)
        )
        return _kept(documents, result.selections[0])


def _kept(documents: Sequence[Document], selection: Selection) -> list[Document]:
    rules = {d.index: d.rule for d in selection.decisions}
    out = []
    for sp in selection.kept:
        source = documents[sp.page.index]
        metadata: dict[str, Any] = {
            **source.metadata,
            "relevance_score": sp.score,
            "ctxcompress_rule": rules[sp.page.index],
        }
        if selection.error:
            metadata["ctxcompress_error"] = selection.error
        out.append(source.model_copy(update={"metadata": metadata}))
    return out


def compress_by_criteria(
    compressor: CtxCompressor,
    documents: Sequence[Document],
    criteria: Sequence[str | Criterion] | Mapping[str, str],
) -> dict[str, list[Document]]:
    """Compress one document set against several criteria in one batch.

    ``criteria`` is a list (ids ``c0``, ``c1``...) or a mapping of id to question; returns
    the kept documents per criterion id.
    """
    if isinstance(criteria, Mapping):
        crits = [Criterion(k, v, compressor.instruction) for k, v in criteria.items()]
    else:
        crits = [
            c if isinstance(c, Criterion) else Criterion(f"c{i}", c, compressor.instruction)
            for i, c in enumerate(criteria)
        ]
    if not documents:
        return {c.id: [] for c in crits}
    result: CompressionResult = compressor._get().compress(
        [d.page_content for d in documents], crits
    )
    return {s.criterion.id: _kept(documents, s) for s in result.selections}
