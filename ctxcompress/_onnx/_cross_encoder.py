"""A cross-encoder reranker (BERT family) on onnxruntime, scoring (criterion, page) pairs.

Pairs are tokenised with the model's ``tokenizer.json`` (the Rust ``tokenizers`` library),
sorted by length and batched under a token budget (not a fixed pair count), then unsorted.
A page longer than the model's window is scored over overlapping windows and the window
scores aggregated (max by default); the scorer records which pages were windowed.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np

from .._exceptions import InvalidInputError, ScoringError
from .._scorer import BaseScorer, ScoreNotes, query_text
from .._types import Criterion
from ._description import (
    PRECISION_FILES,
    ModelDescription,
    file_fingerprint,
)
from ._session import Providers, open_model

__all__ = ["PRECISION_FILES", "CrossEncoderScorer"]

Aggregation = Literal["max", "mean_top2"]


class CrossEncoderScorer(BaseScorer):
    """Scores with a cross-encoder exported to ``model_dir`` (see ``ModelDescription``).

    ``precision`` picks ``model.onnx`` (fp32), ``model_fp16.onnx`` or ``model_int8.onnx``;
    the default is fp16 when a GPU provider is asked for and that file exists, else fp32.

    Windowing, length-sorted batching and failure isolation live here; how a (query,
    passage) pair becomes token ids, which side is padded and how the graph's output
    becomes a probability are hooks (``_query``, ``_page_budget``, ``_encode_pairs``,
    ``_pad_left``, ``_probabilities``) that the decoder reranker overrides.
    """

    kind = "cross-encoder"
    _pad_left = False

    def __init__(
        self,
        model_dir: str | os.PathLike[str],
        *,
        precision: Literal["fp32", "fp16", "int8"] | None = None,
        providers: Providers = "auto",
        max_length: int | None = None,
        batch_tokens: int = 8192,
        window_stride: float = 0.5,
        aggregation: Aggregation = "max",
        strict: bool = False,
        intra_op_threads: int | None = None,
        io_binding: bool | None = None,
    ) -> None:
        if aggregation not in ("max", "mean_top2"):
            raise InvalidInputError(
                f"aggregation must be 'max' or 'mean_top2', got {aggregation!r}"
            )
        opened = open_model(
            model_dir,
            self.kind,
            precision=precision,
            providers=providers,
            cpu_precision="fp32",
            window_stride=window_stride,
            batch_tokens=batch_tokens,
            strict=strict,
            intra_op_threads=intra_op_threads,
            io_binding=io_binding,
        )
        from tokenizers import Tokenizer

        root, onnx_file = opened.root, opened.onnx_file
        self.description: ModelDescription = opened.description
        self.session = opened.session
        self._runner = opened.runner
        self.input_names = opened.input_names
        self.tokenizer = opened.tokenizer
        # Pairs are truncated (a safety net behind windowing); single texts are measured whole.
        self._measure = Tokenizer.from_file(str(root / "tokenizer.json"))
        self._measure.no_padding()
        self._measure.no_truncation()
        self.max_length = min(
            max_length or self.description.max_length, self.description.max_length
        )
        self.tokenizer.enable_truncation(self.max_length, strategy="only_second")
        self.pad_id = self.tokenizer.token_to_id("[PAD]") or 0
        self.batch_tokens = batch_tokens
        self.window_stride = window_stride
        self.aggregation = aggregation
        self.precision = opened.precision
        self.name = f"onnx:{root.name}/{opened.precision}"
        self._model_file = onnx_file
        self._fingerprint: str | None = None
        # (criterion id, page index) -> number of windows, for pages longer than the model.
        self.last_windowed: dict[tuple[str, int], int] = {}

    pointwise = True

    @property
    def fingerprint(self) -> str:
        if self._fingerprint is None:
            self._fingerprint = (
                f"{self.name}:{file_fingerprint(self._model_file)}:{self.max_length}"
                f":{self.window_stride}:{self.aggregation}"
            )
        return self._fingerprint

    def _page_budget(self, query: str) -> int:
        """How many page tokens fit beside ``query`` in one model window."""
        budget = self.max_length - len(self._measure.encode(query, add_special_tokens=False).ids)
        budget -= self.tokenizer.num_special_tokens_to_add(is_pair=True)
        if budget < 8:
            raise InvalidInputError(
                f"criterion too long for a {self.max_length}-token model: {query[:60]!r}"
            )
        return int(budget)

    def _windows(self, page: str, offsets: Sequence[tuple[int, int]], budget: int) -> list[str]:
        """The page itself, or overlapping windows of at most ``budget`` tokens."""
        if len(offsets) <= budget:
            return [page]
        step = max(1, int(budget * self.window_stride))
        windows = []
        for start in range(0, len(offsets), step):
            end = min(start + budget, len(offsets))
            windows.append(page[offsets[start][0] : offsets[end - 1][1]])
            if end == len(offsets):
                break
        return windows

    def _score_many(self, criteria: Sequence[Criterion], texts: Sequence[str]) -> list[list[float]]:
        return self._score_many_noted(criteria, texts)[0]

    def _score_many_noted(
        self, criteria: Sequence[Criterion], texts: Sequence[str]
    ) -> tuple[list[list[float]], ScoreNotes]:
        pairs: list[tuple[str, str]] = []
        owners: list[tuple[int, int]] = []
        windowed: dict[tuple[str, int], int] = {}
        # Each page is measured once for the whole batch, not once per criterion.
        offsets = [
            e.offsets for e in self._measure.encode_batch(list(texts), add_special_tokens=False)
        ]
        for ci, criterion in enumerate(criteria):
            query = self._query(criterion)
            budget = self._page_budget(query)
            for pi, text in enumerate(texts):
                windows = self._windows(text, offsets[pi], budget)
                if len(windows) > 1:
                    windowed[(criterion.id, pi)] = len(windows)
                pairs.extend((query, w) for w in windows)
                owners.extend([(ci, pi)] * len(windows))
        self.last_windowed = windowed
        scores = self.score_pairs(pairs)
        per_pair: dict[tuple[int, int], list[float]] = {}
        for owner, s in zip(owners, scores, strict=True):
            per_pair.setdefault(owner, []).append(s)
        rows = []
        for ci in range(len(criteria)):
            row = []
            for pi in range(len(texts)):
                values = sorted(per_pair[(ci, pi)], reverse=True)
                row.append(values[0] if self.aggregation == "max" else float(np.mean(values[:2])))
            rows.append(row)
        notes: ScoreNotes = {}
        positions = {c.id: i for i, c in enumerate(criteria)}
        for (criterion_id, pi), n in windowed.items():
            notes[(positions[criterion_id], pi)] = (
                f"longer than the model's {self.max_length} tokens: scored over {n} "
                f"overlapping windows ({self.aggregation})"
            )
        return rows, notes

    def _query(self, criterion: Criterion) -> str:
        # A cross-encoder has no instruction slot: the instruction goes first, on its own line.
        return query_text(criterion, separator="\n")

    def _encode_pairs(self, pairs: Sequence[tuple[str, str]]) -> Any:
        return self.tokenizer.encode_batch(list(pairs))

    def score_pairs(self, pairs: Sequence[tuple[str, str]]) -> list[float]:
        """Probabilities for (query, passage) pairs, batched by length under a token budget."""
        encodings = self._encode_pairs(pairs)
        order = sorted(range(len(encodings)), key=lambda i: len(encodings[i].ids))
        out = np.zeros(len(encodings), dtype=np.float64)
        batch: list[int] = []
        for i in order:
            longest = len(encodings[i].ids)  # sorted: the newest item is the longest
            if batch and longest * (len(batch) + 1) > self.batch_tokens:
                self._run_isolating(batch, encodings, pairs, out)
                batch = []
            batch.append(i)
        if batch:
            self._run_isolating(batch, encodings, pairs, out)
        return [float(v) for v in out]

    def _run_isolating(
        self,
        batch: list[int],
        encodings: Any,
        pairs: Sequence[tuple[str, str]],
        out: np.ndarray[Any, Any],
    ) -> None:
        # A failing batch is retried in halves to isolate the bad input, then reported.
        try:
            out[batch] = self._run(batch, encodings)
        except Exception as exc:
            if len(batch) == 1:
                query, passage = pairs[batch[0]]
                raise ScoringError(
                    f"{self.name} failed on the pair ({query[:40]!r}, {passage[:40]!r}): {exc}"
                ) from exc
            half = len(batch) // 2
            self._run_isolating(batch[:half], encodings, pairs, out)
            self._run_isolating(batch[half:], encodings, pairs, out)

    def _run(self, batch: list[int], encodings: Any) -> np.ndarray[Any, Any]:
        width = max(len(encodings[i].ids) for i in batch)
        feeds = {name: np.zeros((len(batch), width), dtype=np.int64) for name in self.input_names}
        if "input_ids" in feeds:
            feeds["input_ids"].fill(self.pad_id)
        for row, i in enumerate(batch):
            enc = encodings[i]
            n = len(enc.ids)
            # Left padding puts every sequence's last token in the last position.
            cols = slice(width - n, width) if self._pad_left else slice(0, n)
            if "input_ids" in feeds:
                feeds["input_ids"][row, cols] = enc.ids
            if "attention_mask" in feeds:
                feeds["attention_mask"][row, cols] = 1
            if "token_type_ids" in feeds:
                feeds["token_type_ids"][row, cols] = enc.type_ids
        logits = np.asarray(self._runner.run(feeds), dtype=np.float64)
        return self._probabilities(logits)

    def _probabilities(self, logits: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
        return _activate(logits, self.description.activation)


def _activate(logits: np.ndarray[Any, Any], activation: str) -> np.ndarray[Any, Any]:
    if (logits.ndim == 2 and logits.shape[1] == 2) or activation == "softmax":
        shifted = logits - logits.max(axis=1, keepdims=True)
        e = np.exp(shifted)
        probs: np.ndarray[Any, Any] = (e[:, -1] / e.sum(axis=1)).astype(np.float64)
        return probs
    flat = logits.reshape(len(logits), -1)[:, 0]
    if activation == "none":
        return flat
    sigmoid: np.ndarray[Any, Any] = 1.0 / (1.0 + np.exp(-flat))
    return sigmoid
