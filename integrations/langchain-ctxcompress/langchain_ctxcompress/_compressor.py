"""``CtxCompressor``: a LangChain document compressor over ctxcompress."""

from __future__ import annotations

import copy
import difflib
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from langchain_core.callbacks import Callbacks
from langchain_core.documents import BaseDocumentCompressor, Document
from langchain_core.load.serializable import (
    Serializable,
    SerializedConstructor,
    SerializedNotImplemented,
)
from pydantic import ConfigDict, Field, PrivateAttr, field_validator, model_validator

from ctxcompress import (
    CompressionResult,
    Compressor,
    Criterion,
    InvalidInputError,
    PassagePruner,
    Policy,
    Scorer,
    Selection,
    build_policy,
    check_scorer_spec,
)

from ._options import policy_for_call, policy_from_data, policy_to_data, scorer_spec

__all__ = ["CtxCompressor", "compress_by_criteria"]


# What users of other rerankers write, and the field that means it here.
_ALIASES = {"top_k": "top_n", "k": "top_n", "model": "scorer", "model_name": "scorer"}


def unknown_fields_message(
    owner: str, unknown: set[str], known: Sequence[str], count: str = "top_n"
) -> str:
    """One line naming each unknown keyword and the field that was probably meant.

    ``count`` is the owner's field for the number of documents (the compressor's
    ``top_n``, the retriever's ``k``)."""
    aliases = {**_ALIASES, "top_k": count, "k": count, "top_n": count}
    parts = []
    for name in sorted(unknown):
        meant = aliases.get(name) or next(iter(difflib.get_close_matches(name, known, 1)), None)
        hint = f" (did you mean {meant!r}?)" if meant in known else ""
        parts.append(f"{name!r}{hint}")
    return (
        f"{owner} got unknown keyword argument(s) {', '.join(parts)}; it takes "
        f"{', '.join(known)}. The number of documents kept is {count}, LangChain's name for "
        "it (ctxcompress itself calls it top_k)"
    )


class CtxCompressor(BaseDocumentCompressor, Serializable):
    """Keep the documents a calibrated scorer finds relevant to the query.

    Give a ``policy`` or any of ``threshold`` / ``top_n`` / ``max_tokens`` / ``min_keep``
    (each changes that knob of ctxcompress's default policy and keeps the others); with
    none, the default policy applies. The
    token budget counts ``page_content``, the text the LLM will receive.

    Output order: ``order="score"`` (the default, as LangChain rerankers return them) puts
    the most relevant document first; ``order="document"`` keeps the input order. Each
    kept document is a copy with ``metadata["relevance_score"]`` (the calibrated
    probability) and ``metadata["ctxcompress_rule"]``; the inputs are never changed.

    ``prune="passages"`` (or a ``PassagePruner``) cuts each kept document down to the
    passages that matter: its ``page_content`` is then the kept text (cuts marked ``[…]``)
    and ``metadata["ctxcompress_spans"]`` the kept ``[start, end]`` ranges of the original
    ``page_content``, so every cut can be recovered.

    Unknown keyword arguments are refused (``top_k`` names ``top_n``). Settings may be
    changed after first use; the next call uses them, and a scorer given as a spec string is
    loaded once and reused while the spec stays the same. ``compress_documents(docs, query,
    top_n=..., threshold=...)`` replaces those two for one call.

    ``copy.deepcopy`` and ``pickle`` copy the settings, never the loaded scorer or its
    session: a copy loads its own at first use. ``dumpd``/``dumps`` work when the scorer is
    a spec string (load with ``loads(..., valid_namespaces=["langchain_ctxcompress"],
    allowed_objects=[CtxCompressor])``); a scorer object raises an error naming the spec
    form to use.

    Guide with examples: [LangChain][guide-langchain].
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
    prune: PassagePruner | Literal["passages"] | None = None

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

    @field_validator("policy", mode="before")
    @classmethod
    def _policy_from_data(cls, value: Any) -> Any:
        # The form to_json writes a policy in (its Hybrid fields), read back.
        return policy_from_data(value)

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

    # -- LangChain serialization, pickle and copy --------------------------------------------

    @classmethod
    def is_lc_serializable(cls) -> bool:
        return True

    @classmethod
    def get_lc_namespace(cls) -> list[str]:
        # The package, not the private module the class is defined in.
        return ["langchain_ctxcompress"]

    def to_json(self) -> SerializedConstructor | SerializedNotImplemented:
        scorer_spec(type(self).__name__, self.scorer)  # a scorer object: an error naming specs
        serialized = super().to_json()
        if serialized["type"] == "constructor" and self.policy is not None:
            serialized["kwargs"]["policy"] = policy_to_data(self.policy)
        return serialized

    def __getstate__(self) -> dict[Any, Any]:
        # Settings only: the built compressor and a loaded scorer (an ONNX session, HTTP
        # connections) are rebuilt at first use wherever the copy lives.
        state = dict(super().__getstate__())
        state["__pydantic_private__"] = {
            name: attr.get_default() for name, attr in type(self).__private_attributes__.items()
        }
        return state

    def __deepcopy__(self, memo: dict[int, Any] | None = None) -> CtxCompressor:
        memo = {} if memo is None else memo
        copied = type(self).__new__(type(self))
        memo[id(self)] = copied
        copied.__setstate__(copy.deepcopy(self.__getstate__(), memo))
        return copied

    # -- the compressor ---------------------------------------------------------------------

    def _settings(self) -> tuple[Any, ...]:
        return (
            id(self.scorer) if not isinstance(self.scorer, str | None) else self.scorer,
            self._policy(),
            self.token_counter,
            self.order,
            self.on_error,
            self.prune,
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
                prune=self.prune,
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

    def _for_call(self, top_n: int | None, threshold: float | None) -> Policy:
        """The policy of one call: the instance's, ``top_n`` / ``threshold`` replaced."""
        return policy_for_call(self._policy(), top_n=top_n, threshold=threshold)

    def _with(self, policy: Policy) -> Compressor:
        compressor = self._get()
        if policy == compressor.policy:
            return compressor
        # A shallow copy shares the scorer and token counter; only the policy differs.
        once = copy.copy(compressor)
        once.policy = policy
        return once

    def compress_documents(
        self,
        documents: Sequence[Document],
        query: str,
        callbacks: Callbacks | None = None,
        *,
        top_n: int | None = None,
        threshold: float | None = None,
    ) -> Sequence[Document]:
        """Keep the relevant documents; ``top_n`` / ``threshold`` replace the instance's
        for this call (its token budget and ``min_keep`` still apply)."""
        policy = self._for_call(top_n, threshold)  # bad values fail even with no documents
        if not documents:
            return []
        result = self._with(policy).compress(
            [d.page_content for d in documents], self._criteria(query)
        )
        return _kept(documents, result.selections[0], self.prune is not None)

    async def acompress_documents(
        self,
        documents: Sequence[Document],
        query: str,
        callbacks: Callbacks | None = None,
        *,
        top_n: int | None = None,
        threshold: float | None = None,
    ) -> Sequence[Document]:
        """The native async twin of :meth:`compress_documents`."""
        policy = self._for_call(top_n, threshold)
        if not documents:
            return []
        result = await self._with(policy).acompress(
            [d.page_content for d in documents], self._criteria(query)
        )
        return _kept(documents, result.selections[0], self.prune is not None)


def _kept(
    documents: Sequence[Document], selection: Selection, pruned: bool = False
) -> list[Document]:
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
        update: dict[str, Any] = {"metadata": metadata}
        if pruned:
            metadata["ctxcompress_spans"] = [list(span) for span in sp.spans]
            update["page_content"] = sp.kept_text
        out.append(source.model_copy(update=update))
    return out


def compress_by_criteria(
    compressor: CtxCompressor,
    documents: Sequence[Document],
    criteria: Sequence[str | Criterion] | Mapping[str, str],
) -> dict[str, list[Document]]:
    """Compress one document set against several criteria in one batch.

    ``criteria`` is a list (ids ``c0``, ``c1``...) or a mapping of id to question; returns
    the kept documents per criterion id.

    Guide with examples: [LangChain][guide-langchain].
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
    pruned = compressor.prune is not None
    return {s.criterion.id: _kept(documents, s, pruned) for s in result.selections}
