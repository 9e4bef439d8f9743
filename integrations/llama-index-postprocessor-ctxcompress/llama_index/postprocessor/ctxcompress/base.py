"""``CtxCompressPostprocessor``: a LlamaIndex node postprocessor over ctxcompress."""

from __future__ import annotations

import copy
import difflib
import threading
from collections import OrderedDict
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, Literal

import llama_index.core.instrumentation as instrument
from llama_index.core.bridge.pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    field_serializer,
    field_validator,
    model_validator,
)
from llama_index.core.callbacks import CBEventType, EventPayload
from llama_index.core.instrumentation.events.rerank import ReRankEndEvent, ReRankStartEvent
from llama_index.core.postprocessor.types import BaseNodePostprocessor
from llama_index.core.schema import MetadataMode, NodeWithScore, QueryBundle, TextNode
from llama_index.postprocessor.ctxcompress._options import (
    policy_from_data,
    policy_to_data,
    scorer_spec,
)

from ctxcompress import (
    Compressor,
    Criterion,
    InvalidInputError,
    Page,
    PassagePruner,
    Policy,
    Scorer,
    Selection,
    TokenCounter,
    build_policy,
    check_scorer_spec,
    load_token_counter,
)

dispatcher = instrument.get_dispatcher(__name__)

__all__ = ["CtxCompressPostprocessor"]


# What users of other rerankers write, and the field that means it here.
_ALIASES = {"top_k": "top_n", "k": "top_n", "model": "scorer", "model_name": "scorer"}


def _unknown_fields_message(owner: str, unknown: set[str], known: Sequence[str]) -> str:
    parts = []
    for name in sorted(unknown):
        meant = _ALIASES.get(name) or next(iter(difflib.get_close_matches(name, known, 1)), None)
        hint = f" (did you mean {meant!r}?)" if meant in known else ""
        parts.append(f"{name!r}{hint}")
    return (
        f"{owner} got unknown keyword argument(s) {', '.join(parts)}; it takes "
        f"{', '.join(known)}. The number of nodes kept is top_n, LlamaIndex's name for it "
        "(ctxcompress itself calls it top_k)"
    )


class _LLMViewTokens:
    """Counts what the LLM receives (a node's LLM metadata view) for the page text the
    scorer sees (its EMBED view).

    The compressor counts the text it is given; the budget must count the LLM view. Before
    each call the postprocessor records each page's LLM-view count here, under the EMBED
    text. One instance belongs to one tokenizer (a new token counter gets a new instance,
    so counts of different tokenizers never mix), and it keeps the last 10,000 texts.
    Where two nodes share an EMBED text, the larger count is kept: budgets still hold.
    """

    _LIMIT = 10_000

    def __init__(self, inner: TokenCounter) -> None:
        self.inner = inner
        self.name = inner.name
        self._counts: OrderedDict[str, int] = OrderedDict()
        self._lock = threading.Lock()

    def record(self, embed_text: str, llm_text: str) -> None:
        n = self.inner.count(llm_text)
        with self._lock:
            self._counts[embed_text] = max(n, self._counts.get(embed_text, 0))
            self._counts.move_to_end(embed_text)
            while len(self._counts) > self._LIMIT:
                self._counts.popitem(last=False)

    def count(self, text: str) -> int:
        with self._lock:
            n = self._counts.get(text)
        return self.inner.count(text) if n is None else n


class CtxCompressPostprocessor(BaseNodePostprocessor):
    """Keep the nodes a calibrated scorer finds relevant to the query.

    Give a ``policy`` or any of ``threshold`` / ``top_n`` / ``max_tokens`` / ``min_keep``
    (each changes that knob of ctxcompress's default policy and keeps the others); with
    none, the default policy applies. The token budget counts what the LLM
    receives (each node's LLM metadata view); the scorer reads the EMBED view.

    Output order: ``order="score"`` (the default, as LlamaIndex rerankers return nodes)
    puts the most relevant node first; ``order="document"`` keeps the retrieval order. Each
    ``NodeWithScore.score`` is the calibrated probability; retrieved nodes are never
    changed. Unknown keyword arguments are refused (``top_k`` names ``top_n``). The scorer,
    its ONNX session and the compressor are built once and reused across queries; settings
    changed after first use take effect at the next query.

    ``prune="passages"`` (or a ``PassagePruner``) cuts each kept node down to the passages
    that matter: the scorer then reads each node's own text (no metadata), the kept node is
    a copy whose text is the kept text (cuts marked ``[…]``), and
    ``metadata["ctxcompress_spans"]`` holds the kept ``[start, end]`` ranges of the original
    text. A pruned node's tokens are counted on its kept text alone (its metadata view is
    not added to a budget).

    ``copy.deepcopy`` and ``pickle`` copy the settings, never the loaded scorer or its
    session: a copy loads its own at first use. ``to_dict`` / ``to_json`` and
    ``from_dict`` / ``from_json`` round-trip when the scorer is a spec string (a policy is
    written as its Hybrid's fields); a scorer object raises an error naming the spec form.

    Guide with examples: [LlamaIndex][guide-llamaindex].
    """

    model_config = ConfigDict(arbitrary_types_allowed=True, extra="forbid")

    scorer: Scorer | str | None = Field(
        default=None, description="ctxcompress scorer object or spec; None = default"
    )
    policy: Policy | None = Field(
        default=None, description="a ctxcompress Policy; or use the shortcuts"
    )
    threshold: float | None = None
    top_n: int | None = None
    max_tokens: int | None = None
    min_keep: int | None = None
    instruction: str | None = None
    order: Literal["score", "document"] = "score"
    token_counter: str = "tiktoken"
    keep_retrieval_score: bool = False
    on_error: Literal["raise", "keep"] = "raise"
    prune: PassagePruner | Literal["passages"] | None = None

    _counter: tuple[str, _LLMViewTokens] | None = PrivateAttr(default=None)
    _loaded: tuple[str | None, Scorer] | None = PrivateAttr(default=None)
    _compressor: tuple[tuple[Any, ...], Compressor] | None = PrivateAttr(default=None)

    @model_validator(mode="before")
    @classmethod
    def _refuse_unknown_fields(cls, data: Any) -> Any:
        if isinstance(data, Mapping):
            # class_name is what LlamaIndex's own to_dict adds; from_dict passes it back.
            unknown = set(data) - set(cls.model_fields) - {"class_name"}
            if unknown:
                known = [f for f in cls.model_fields if f != "callback_manager"]
                raise ValueError(_unknown_fields_message(cls.__name__, unknown, known))
        return data

    @field_validator("policy", mode="before")
    @classmethod
    def _policy_from_data(cls, value: Any) -> Any:
        # The form to_dict writes a policy in (its Hybrid fields), read back.
        return policy_from_data(value)

    @field_serializer("policy")
    def _policy_as_data(self, policy: Policy | None) -> dict[str, Any] | None:
        return policy_to_data(policy)

    @field_serializer("scorer")
    def _scorer_as_spec(self, scorer: Scorer | str | None) -> str | None:
        return scorer_spec(type(self).__name__, scorer)

    @model_validator(mode="after")
    def _check_policy(self) -> CtxCompressPostprocessor:
        # Bad values fail at construction, in the names this class uses.
        try:
            self._policy()
            if isinstance(self.scorer, str):
                check_scorer_spec(self.scorer)  # an unknown spec is named now, loaded later
        except InvalidInputError as exc:
            raise ValueError(str(exc).replace("top_k", "top_n")) from exc
        return self

    @classmethod
    def class_name(cls) -> str:
        return "CtxCompressPostprocessor"

    def __getstate__(self) -> dict[Any, Any]:
        # Settings only: the compressor, a loaded scorer (its ONNX session) and the token
        # counts are rebuilt at first use wherever the copy lives. BaseModel's, not
        # BaseComponent's: that one drops a field it cannot pickle with a log line, and the
        # copy then fails later; here pickling fails at once, naming the field.
        state = dict(BaseModel.__getstate__(self))
        state["__pydantic_private__"] = {
            name: attr.get_default() for name, attr in type(self).__private_attributes__.items()
        }
        return state

    def __deepcopy__(self, memo: dict[int, Any] | None = None) -> CtxCompressPostprocessor:
        memo = {} if memo is None else memo
        copied = type(self).__new__(type(self))
        memo[id(self)] = copied
        copied.__setstate__(copy.deepcopy(self.__getstate__(), memo))
        return copied

    def _policy(self) -> Policy:
        # Raises InvalidInputError, a ValueError, when both forms are given.
        return build_policy(
            self.policy,
            threshold=self.threshold,
            top_k=self.top_n,
            max_tokens=self.max_tokens,
            min_keep=self.min_keep,
        )

    def _tokens(self) -> _LLMViewTokens:
        if self._counter is None or self._counter[0] != self.token_counter:
            self._counter = (
                self.token_counter,
                _LLMViewTokens(load_token_counter(self.token_counter)),
            )
        return self._counter[1]

    def _scorer(self) -> Scorer | str | None:
        # A spec is loaded once (an ONNX session is slow to start), while it stays the same.
        if not isinstance(self.scorer, str | None):
            return self.scorer
        if self._loaded is None or self._loaded[0] != self.scorer:
            self._loaded = (self.scorer, Compressor(self.scorer, token_counter="whitespace").scorer)
        return self._loaded[1]

    def _compressor_now(self) -> Compressor:
        """The compressor for the current settings: built once, rebuilt when they change."""
        counter = self._tokens()
        scorer = self._scorer()
        settings = (id(scorer), id(counter), self._policy(), self.order, self.on_error, self.prune)
        if self._compressor is None or self._compressor[0] != settings:
            compressor = Compressor(
                scorer,
                self._policy(),
                counter,
                order=self.order,
                on_error=self.on_error,
                prune=self.prune,
            )
            self._compressor = (settings, compressor)
        return self._compressor[1]

    def _prepare(self, nodes: list[NodeWithScore]) -> tuple[Compressor, list[Page]]:
        compressor = self._compressor_now()
        counter = self._tokens()
        pages = []
        for i, n in enumerate(nodes):
            # Pruning cuts the node's own text, so its offsets must be into that text.
            mode = MetadataMode.EMBED if self.prune is None else MetadataMode.NONE
            text = n.node.get_content(metadata_mode=mode)
            counter.record(text, n.node.get_content(metadata_mode=MetadataMode.LLM))
            pages.append(Page(text, i))
        return compressor, pages

    @contextmanager
    def _reranking(
        self, nodes: list[NodeWithScore], query_bundle: QueryBundle | None
    ) -> Iterator[tuple[Criterion, list[NodeWithScore]]]:
        """The events LlamaIndex rerankers emit around a rerank, shared by sync and async.

        Yields the criterion and a list the caller fills with the kept nodes.
        """
        if query_bundle is None:
            raise ValueError("CtxCompressPostprocessor needs a query (query_bundle or query_str)")
        model_name = str(getattr(self.scorer, "name", self.scorer or "default"))
        dispatcher.event(
            ReRankStartEvent(
                query=query_bundle,
                nodes=nodes,
                top_n=self.top_n or len(nodes),
                model_name=model_name,
            )
        )
        criterion = Criterion("query", query_bundle.query_str, self.instruction)
        kept: list[NodeWithScore] = []
        with self.callback_manager.event(
            CBEventType.RERANKING,
            payload={EventPayload.NODES: nodes, EventPayload.QUERY_STR: criterion.text},
        ) as event:
            yield criterion, kept
            event.on_end(payload={EventPayload.NODES: kept})
        dispatcher.event(ReRankEndEvent(nodes=kept))

    def _postprocess_nodes(
        self, nodes: list[NodeWithScore], query_bundle: QueryBundle | None = None
    ) -> list[NodeWithScore]:
        with self._reranking(nodes, query_bundle) as (criterion, kept):
            if nodes:
                compressor, pages = self._prepare(nodes)
                kept += self._kept(nodes, compressor.compress(pages, [criterion]).selections[0])
        return kept

    async def _apostprocess_nodes(
        self, nodes: list[NodeWithScore], query_bundle: QueryBundle | None = None
    ) -> list[NodeWithScore]:
        with self._reranking(nodes, query_bundle) as (criterion, kept):
            if nodes:
                compressor, pages = self._prepare(nodes)
                result = await compressor.acompress(pages, [criterion])
                kept += self._kept(nodes, result.selections[0])
        return kept

    def _kept(self, nodes: list[NodeWithScore], selection: Selection) -> list[NodeWithScore]:
        out = []
        for sp in selection.kept:
            source = nodes[sp.page.index]
            node = source.node
            metadata = dict(node.metadata)
            update: dict[str, Any] = {}
            if self.keep_retrieval_score:
                metadata["retrieval_score"] = source.score
            if self.prune is not None and isinstance(node, TextNode):
                metadata["ctxcompress_spans"] = [list(span) for span in sp.spans]
                update["text"] = sp.kept_text
            if metadata != node.metadata:
                update["metadata"] = metadata
            if update:
                # A copy: the retrieved node (often shared with the index) is never mutated.
                node = node.model_copy(update=update)
            out.append(NodeWithScore(node=node, score=sp.score))
        return out
