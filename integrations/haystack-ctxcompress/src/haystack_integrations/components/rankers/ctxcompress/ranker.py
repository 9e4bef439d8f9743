"""``CtxCompressRanker``: a Haystack ranker that keeps what a calibrated scorer finds relevant."""

from __future__ import annotations

import copy
import dataclasses
from typing import Any, Literal

from haystack import Document, component, default_from_dict, default_to_dict
from haystack_integrations.components.rankers.ctxcompress._options import (
    policy_for_call,
    scorer_spec,
)

from ctxcompress import (
    Compressor,
    Criterion,
    Hybrid,
    Scorer,
    Selection,
    build_policy,
)

__all__ = ["CtxCompressRanker"]


def _rebuild(cls: type[CtxCompressRanker], settings: dict[str, Any]) -> CtxCompressRanker:
    return cls(**settings)


@component
class CtxCompressRanker:
    """Ranks documents by a ctxcompress scorer's calibrated probability and keeps the relevant.

    Usage example:

    ```python
    from haystack import Document
    from haystack_integrations.components.rankers.ctxcompress import CtxCompressRanker

    ranker = CtxCompressRanker(scorer="bm25", top_k=2)
    docs = [Document(content="Paris is in France"), Document(content="Berlin is in Germany")]
    result = ranker.run(query="City in Germany", documents=docs)
    print(result["documents"][0].content, result["documents"][0].score)
    ```

    Each returned document is a copy of the input (inputs are never changed) whose
    ``score`` is the calibrated probability that it is relevant to the query, with
    ``meta["ctxcompress_rule"]`` saying why the policy kept it (and
    ``meta["ctxcompress_error"]`` when scoring failed with ``on_error="keep"``). Documents
    come best first (``order="score"``) or in input order (``order="document"``). A
    document without text content is scored as empty text.
    """

    def __init__(
        self,
        scorer: str | Scorer | None = None,
        *,
        top_k: int | None = None,
        threshold: float | None = None,
        max_tokens: int | None = None,
        min_keep: int = 0,
        instruction: str | None = None,
        order: Literal["score", "document"] = "score",
        token_counter: str = "tiktoken",
        on_error: Literal["raise", "keep"] = "raise",
    ) -> None:
        """
        Creates a CtxCompressRanker.

        :param scorer: a ctxcompress scorer spec (``"default"``, ``"bm25"``,
            ``"remote:cohere"``, ``"hub:<owner>/<name>"``, a model directory) or a scorer
            object; None is ctxcompress's default scorer. Only a spec serializes.
        :param top_k: the most documents returned.
        :param threshold: the lowest calibrated probability a returned document has.
        :param max_tokens: a token budget for the returned documents' content.
        :param min_keep: keep the best ``min_keep`` documents even below the threshold.
        :param instruction: an instruction scored with the query, for scorers that take one.
        :param order: ``"score"`` (best first) or ``"document"`` (input order).
        :param token_counter: how ``max_tokens`` counts (``"tiktoken"``, ``"whitespace"``...).
        :param on_error: ``"raise"``, or ``"keep"`` every document when scoring fails.
            With none of ``top_k``, ``threshold``, ``max_tokens``, ``min_keep``,
            ctxcompress's default policy applies.
        :raises ValueError: a bad value, named.
        """
        if order not in ("score", "document"):
            raise ValueError(f"order must be 'score' or 'document', got {order!r}")
        if on_error not in ("raise", "keep"):
            raise ValueError(f"on_error must be 'raise' or 'keep', got {on_error!r}")
        self.scorer = scorer
        self.top_k = top_k
        self.threshold = threshold
        self.max_tokens = max_tokens
        self.min_keep = min_keep
        self.instruction = instruction
        self.order = order
        self.token_counter = token_counter
        self.on_error = on_error
        self._policy()  # bad values fail here, not at the first query
        self._compressor: Compressor | None = None
        self._built_for: tuple[Any, ...] | None = None

    def _settings(self) -> dict[str, Any]:
        return {
            "scorer": self.scorer,
            "top_k": self.top_k,
            "threshold": self.threshold,
            "max_tokens": self.max_tokens,
            "min_keep": self.min_keep,
            "instruction": self.instruction,
            "order": self.order,
            "token_counter": self.token_counter,
            "on_error": self.on_error,
        }

    def _policy(self) -> Hybrid:
        policy = build_policy(
            threshold=self.threshold,
            top_k=self.top_k,
            max_tokens=self.max_tokens,
            min_keep=self.min_keep,
        )
        assert isinstance(policy, Hybrid)  # built from the shortcuts, or the default Hybrid
        return policy

    # -- Haystack's component protocol --------------------------------------------------------

    def warm_up(self) -> None:
        """Loads the scorer (an ONNX session, an HTTP client) once; later calls reuse it.

        Pipelines call it before running; ``run`` calls it when it was not.
        """
        key = self.scorer if isinstance(self.scorer, str | None) else id(self.scorer)
        settings = (key, self.token_counter, self.order, self.on_error)
        if self._compressor is not None and self._built_for == settings:
            return
        scorer: Scorer | str | None = self.scorer
        if self._compressor is not None and self._built_for and self._built_for[0] == key:
            scorer = self._compressor.scorer  # the same scorer: keep what was loaded
        self._compressor = Compressor(
            scorer, self._policy(), self.token_counter, order=self.order, on_error=self.on_error
        )
        self._built_for = settings

    def to_dict(self) -> dict[str, Any]:
        """Serializes the component to a dictionary (the scorer must be a spec string)."""
        settings = self._settings()
        settings["scorer"] = scorer_spec(type(self).__name__, self.scorer)
        return default_to_dict(self, **settings)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CtxCompressRanker:
        """Deserializes the component from a dictionary."""
        return default_from_dict(cls, data)

    def __reduce__(self) -> tuple[Any, ...]:
        # pickle and copy.deepcopy rebuild the ranker from its settings: the scorer's session
        # and connections are loaded again where the copy lives, and a copy belongs to no
        # pipeline (a Haystack component belongs to one).
        return (_rebuild, (type(self), self._settings()))

    # -- ranking --------------------------------------------------------------------------------

    def _ready(self, top_k: int | None, threshold: float | None) -> Compressor:
        # Bad values raise InvalidInputError, a ValueError, before any scoring.
        policy = policy_for_call(self._policy(), top_k=top_k, threshold=threshold)
        self.warm_up()
        compressor = self._compressor
        assert compressor is not None
        if policy == compressor.policy:
            return compressor
        # A shallow copy shares the scorer and token counter; only the policy differs.
        once = copy.copy(compressor)
        once.policy = policy
        return once

    def _criteria(self, query: str) -> list[Criterion]:
        return [Criterion("query", query, self.instruction)]

    @component.output_types(documents=list[Document])
    def run(
        self,
        query: str,
        documents: list[Document],
        top_k: int | None = None,
        threshold: float | None = None,
    ) -> dict[str, list[Document]]:
        """
        Returns the documents relevant to the query, scored with calibrated probabilities.

        :param query: the query the documents are scored against.
        :param documents: the documents to rank.
        :param top_k: the most documents returned, for this call (replaces the ranker's).
        :param threshold: the lowest score returned, for this call (replaces the ranker's).
        :returns: ``{"documents": [...]}``, copies with ``score`` and ``meta`` set.
        """
        compressor = self._ready(top_k, threshold)
        if not documents:
            return {"documents": []}
        result = compressor.compress([d.content or "" for d in documents], self._criteria(query))
        return {"documents": _ranked(documents, result.selections[0])}

    @component.output_types(documents=list[Document])
    async def run_async(
        self,
        query: str,
        documents: list[Document],
        top_k: int | None = None,
        threshold: float | None = None,
    ) -> dict[str, list[Document]]:
        """
        The native async twin of ``run``: a remote scorer's requests are awaited.

        :param query: the query the documents are scored against.
        :param documents: the documents to rank.
        :param top_k: the most documents returned, for this call (replaces the ranker's).
        :param threshold: the lowest score returned, for this call (replaces the ranker's).
        :returns: ``{"documents": [...]}``, copies with ``score`` and ``meta`` set.
        """
        compressor = self._ready(top_k, threshold)
        if not documents:
            return {"documents": []}
        result = await compressor.acompress(
            [d.content or "" for d in documents], self._criteria(query)
        )
        return {"documents": _ranked(documents, result.selections[0])}


def _ranked(documents: list[Document], selection: Selection) -> list[Document]:
    rules = {d.index: d.rule for d in selection.decisions}
    out = []
    for sp in selection.kept:
        source = documents[sp.page.index]
        meta: dict[str, Any] = {**source.meta, "ctxcompress_rule": rules[sp.page.index]}
        if selection.error:
            meta["ctxcompress_error"] = selection.error
        out.append(dataclasses.replace(source, score=sp.score, meta=meta))
    return out
