"""Decoder rerankers (Qwen3-Reranker, zerank-style) on onnxruntime.

A decoder reranker reads one prompt per (criterion, page): the model's template with the
instruction, the criterion and the page filled in, and answers with its next token. The
exported graph returns the last position's logits; the score is the softmax over the
[no, yes] tokens' logits, or ``sigmoid(logit(yes) / logit_scale)`` for models that score
with one token (zerank: scale 5). Batches are left-padded so the last position is every
prompt's last token; the models use rotary positions, so the shift changes nothing.
Windowing, batching and failure isolation are the cross-encoder's (see its docstring).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..._exceptions import InvalidInputError
from ..._types import Criterion
from ._cross_encoder import CrossEncoderScorer
from ._files import ModelFiles

__all__ = ["QWEN3_RERANKER_INSTRUCTION", "QWEN3_RERANKER_TEMPLATE", "DecoderRerankerScorer"]

QWEN3_RERANKER_TEMPLATE = (
    "<|im_start|>system\nJudge whether the Document meets the requirements based on the Query "
    'and the Instruct provided. Note that the answer can only be "yes" or "no".<|im_end|>\n'
    "<|im_start|>user\n<Instruct>: {instruction}\n<Query>: {query}\n<Document>: {document}"
    "<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n"
)
QWEN3_RERANKER_INSTRUCTION = (
    "Given a web search query, retrieve relevant passages that answer the query"
)
# Tokens merged across the template/page boundary can make a prompt a little longer than
# the sum of its parts; windows leave this much room.
_BOUNDARY_MARGIN = 4


class DecoderRerankerScorer(CrossEncoderScorer):
    """Scores with a decoder reranker exported to ``model_dir``; options as for
    :class:`CrossEncoderScorer`. A criterion's ``instruction`` fills the template's
    instruction slot (the description's ``default_instruction`` when it has none).

    Guide with examples: [Local models][guide-local-models].
    """

    kind = "decoder-reranker"
    _pad_left = True
    _joins_token_ids = False

    def __init__(self, model_dir: str | os.PathLike[str] | ModelFiles, **options: Any) -> None:
        super().__init__(model_dir, **options)
        d = self.description
        template = d.prompt_template or ""
        head, self._tail = template.split("{document}")
        self._head = head
        self.tokenizer.no_truncation()
        self._yes = self._single_token(d.yes_token or "")
        self._no = self._single_token(d.no_token) if d.no_token else None
        self._tail_tokens = len(self._measure.encode(self._tail, add_special_tokens=False).ids)
        self.pad_id = 0  # masked out: any id will do

    def _single_token(self, token: str) -> int:
        ids = self._measure.encode(token, add_special_tokens=False).ids
        if len(ids) != 1:
            raise InvalidInputError(
                f"{self.name}: the scoring token {token!r} is {len(ids)} tokens in this "
                "tokenizer; it must be exactly one"
            )
        return int(ids[0])

    def _query(self, criterion: Criterion) -> str:
        instruction = criterion.instruction or self.description.default_instruction or ""
        # Slots are replaced, not str.format()ed: templates may hold literal braces.
        return self._head.replace("{instruction}", instruction).replace("{query}", criterion.text)

    def _page_budget(self, query: str) -> int:
        used = len(self._measure.encode(query, add_special_tokens=False).ids) + self._tail_tokens
        budget = self.max_length - used - _BOUNDARY_MARGIN
        if budget < 8:
            raise InvalidInputError(
                f"criterion too long for a {self.max_length}-token model: {query[-60:]!r}"
            )
        return int(budget)

    def _encode_pairs(self, pairs: Sequence[tuple[str, str]]) -> Any:
        prompts = [query + passage + self._tail for query, passage in pairs]
        return self.tokenizer.encode_batch(prompts, add_special_tokens=False)

    def _probabilities(self, logits: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
        yes = logits[:, self._yes]
        if self._no is None:
            margin = yes / self.description.logit_scale
        else:
            margin = yes - logits[:, self._no]  # softmax over [no, yes] = sigmoid(yes - no)
        probs: np.ndarray[Any, Any] = 1.0 / (1.0 + np.exp(-np.clip(margin, -50.0, 50.0)))
        return probs
