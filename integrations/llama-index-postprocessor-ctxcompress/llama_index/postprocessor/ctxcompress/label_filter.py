"""``CtxLabelFilterPostprocessor``: keep the nodes a label applies to.

Each node's text is classified against ``labels`` (name -> description) with calibrated
probabilities (``ctxcompress.classify_many``); a node is kept when any of ``keep``
(default: every label) reaches ``threshold``, or, with ``drop``, when none does. The query
is not used: this filters by what a node is, not by what was asked.
"""

from __future__ import annotations

from typing import Any

from llama_index.core.bridge.pydantic import ConfigDict, Field
from llama_index.core.postprocessor.types import BaseNodePostprocessor
from llama_index.core.schema import MetadataMode, NodeWithScore, QueryBundle

from ctxcompress import InvalidInputError, classify_many

__all__ = ["CtxLabelFilterPostprocessor"]


class CtxLabelFilterPostprocessor(BaseNodePostprocessor):
    """Keep (or, with ``drop=True``, remove) the nodes a calibrated classifier assigns one of
    ``keep`` (default: any of ``labels``) at or above ``threshold``.

    Guide with examples: [Classification and routing][guide-classification].
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    labels: dict[str, str]
    keep: list[str] | None = None
    threshold: float = 0.5
    drop: bool = False
    exclusive: bool = False
    scorer: Any = Field(default=None, exclude=True)

    @classmethod
    def class_name(cls) -> str:
        return "CtxLabelFilterPostprocessor"

    def _postprocess_nodes(
        self, nodes: list[NodeWithScore], query_bundle: QueryBundle | None = None
    ) -> list[NodeWithScore]:
        wanted = list(self.keep) if self.keep is not None else list(self.labels)
        unknown = [k for k in wanted if k not in self.labels]
        if unknown:
            raise InvalidInputError(
                f"CtxLabelFilterPostprocessor: keep names unknown labels {unknown}"
            )
        if not nodes:
            return []
        texts = [n.node.get_content(metadata_mode=MetadataMode.NONE) for n in nodes]
        results = classify_many(
            texts, self.labels, self.threshold, scorer=self.scorer, exclusive=self.exclusive
        )
        return [
            n
            for n, r in zip(nodes, results, strict=True)
            if any(label in wanted for label in r.positive) != self.drop
        ]
