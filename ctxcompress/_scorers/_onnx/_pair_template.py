"""How a cross-encoder's tokenizer joins a query and a passage, replayed on token ids.

80 criteria × 150 pages are 12,000 pairs but only 230 distinct texts. Tokenising each pair
from its strings encodes every page once per criterion; on a GPU that was most of the time
(fp16 MiniLM-L6 on an H100: ~0.18 ms a pair to tokenise, ~0.05 ms in the model). Encoding
each text once and joining the ids as the tokenizer's post-processor does gives the same
ids without the repeats. The layout is read off the tokenizer itself from one probe pair,
so BERT's ``[CLS] q [SEP] p [SEP]`` and RoBERTa's ``<s> q </s></s> p </s>`` both work; where
the probe cannot be reproduced exactly, :meth:`PairTemplate.probe` returns None and the
scorer keeps tokenising pairs from their strings.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class PairTemplate:
    """The special tokens around and between the two sequences of a pair, with the
    token type of every part."""

    prefix: tuple[int, ...]
    middle: tuple[int, ...]
    suffix: tuple[int, ...]
    prefix_types: tuple[int, ...]
    middle_types: tuple[int, ...]
    suffix_types: tuple[int, ...]
    first_type: int
    second_type: int

    @property
    def special_tokens(self) -> int:
        return len(self.prefix) + len(self.middle) + len(self.suffix)

    def write(
        self, ids: np.ndarray[Any, Any], types: np.ndarray[Any, Any], first: Any, second: Any
    ) -> None:
        """Write the pair into ``ids`` and ``types`` (rows exactly as long as the pair)."""
        a = len(self.prefix)
        b = a + len(first)
        c = b + len(self.middle)
        d = c + len(second)
        ids[:a], types[:a] = self.prefix, self.prefix_types
        ids[a:b], types[a:b] = first, self.first_type
        ids[b:c], types[b:c] = self.middle, self.middle_types
        ids[c:d], types[c:d] = second, self.second_type
        ids[d:], types[d:] = self.suffix, self.suffix_types

    def join(self, first: Sequence[int], second: Sequence[int]) -> tuple[list[int], list[int]]:
        """The pair's input ids and token type ids."""
        n = self.special_tokens + len(first) + len(second)
        ids, types = np.zeros(n, dtype=np.int64), np.zeros(n, dtype=np.int64)
        self.write(ids, types, first, second)
        return ids.tolist(), types.tolist()

    @classmethod
    def probe(cls, tokenizer: Any) -> PairTemplate | None:
        """Read the layout off ``tokenizer`` (a ``tokenizers.Tokenizer`` without truncation
        or padding); None when joining ids would not reproduce its own pair encoding."""
        first, second = "which query", "a passage of text"
        a = tokenizer.encode(first, add_special_tokens=False)
        b = tokenizer.encode(second, add_special_tokens=False)
        pair = tokenizer.encode(first, second, add_special_tokens=True)
        sequence = pair.sequence_ids  # 0, 1, or None for a special token
        try:
            start_a = sequence.index(0)
            start_b = sequence.index(1)
        except ValueError:
            return None
        end_a, end_b = start_a + len(a.ids), start_b + len(b.ids)
        ids, types = pair.ids, pair.type_ids
        template = cls(
            prefix=tuple(ids[:start_a]),
            middle=tuple(ids[end_a:start_b]),
            suffix=tuple(ids[end_b:]),
            prefix_types=tuple(types[:start_a]),
            middle_types=tuple(types[end_a:start_b]),
            suffix_types=tuple(types[end_b:]),
            first_type=types[start_a],
            second_type=types[start_b],
        )
        if template.join(a.ids, b.ids) != (list(ids), list(types)):
            return None
        return template


@dataclass(frozen=True, slots=True)
class JoinedPair:
    """A pair as slices of its once-tokenised texts, written into a batch row on demand."""

    template: PairTemplate
    first: np.ndarray[Any, Any]
    second: np.ndarray[Any, Any]

    def __len__(self) -> int:
        return self.template.special_tokens + len(self.first) + len(self.second)

    def write(self, ids: np.ndarray[Any, Any], types: np.ndarray[Any, Any]) -> None:
        self.template.write(ids, types, self.first, self.second)


@dataclass(frozen=True, slots=True)
class EncodedPair:
    """A pair the tokenizer encoded whole from its strings."""

    ids: list[int]
    type_ids: list[int]

    def __len__(self) -> int:
        return len(self.ids)

    def write(self, ids: np.ndarray[Any, Any], types: np.ndarray[Any, Any]) -> None:
        ids[:] = self.ids
        types[:] = self.type_ids
