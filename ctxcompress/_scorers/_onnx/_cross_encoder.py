"""A cross-encoder reranker (BERT family) on onnxruntime, scoring (criterion, page) pairs.

Pairs are tokenised with the model's ``tokenizer.json`` (the Rust ``tokenizers`` library),
sorted by length and batched under a token budget (not a fixed pair count), then unsorted.
A page longer than the model's window is scored over overlapping windows and the window
scores aggregated (max by default); the scorer records which pages were windowed.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..._exceptions import InvalidInputError, ScoringError
from ..._types import Criterion, Page
from .._base import BaseScorer, PageNote, Scores, query_text
from ._aggregation import Aggregation, check_aggregation
from ._description import PRECISION_FILES, Precision, file_fingerprint
from ._files import ModelFiles
from ._pair_template import EncodedPair, JoinedPair, PairTemplate
from ._session import OnnxModelUser, Providers, SessionOptions, open_model

__all__ = ["PRECISION_FILES", "CrossEncoderScorer"]

_Item = JoinedPair | EncodedPair
# Tokens per run when ``batch_tokens`` is not given. A GPU wants bigger runs: on an H100,
# 80 criteria x 150 pages at 512 tokens took 1.12 s at 8,192 and 0.75 s at 65,536
# (benchmarks/bench_cross_encoder_gpu.py, docs/benchmarks.md).
CPU_BATCH_TOKENS = 8192
GPU_BATCH_TOKENS = 65536


class CrossEncoderScorer(OnnxModelUser, BaseScorer):
    """Scores with a cross-encoder exported to ``model_dir`` (see ``ModelDescription``).

    ``precision`` picks ``model.onnx`` (fp32), ``model_fp16.onnx`` or ``model_int8.onnx``;
    the default is fp16 when a GPU provider is asked for and that file exists, else fp32.

    Windowing, length-sorted batching and failure isolation live here; how a (query,
    passage) pair becomes token ids, which side is padded and how the graph's output
    becomes a probability are hooks (``_query``, ``_page_budget``, ``_encode_pairs``,
    ``_pad_left``, ``_joins_token_ids``, ``_probabilities``) that the decoder reranker
    overrides.

    Guide with examples: [Local models][guide-local-models].
    """

    kind = "cross-encoder"
    _pad_left = False
    # Pairs are joined from once-tokenised texts where the tokenizer allows (see
    # _pair_template); a decoder's prompt is tokenised whole instead.
    _joins_token_ids = True

    def __init__(
        self,
        model_dir: str | os.PathLike[str] | ModelFiles,
        *,
        precision: Precision | None = None,
        providers: Providers = "auto",
        max_length: int | None = None,
        batch_tokens: int | None = None,
        window_stride: float = 0.5,
        aggregation: Aggregation = "max",
        strict: bool = False,
        intra_op_threads: int | None = None,
        io_binding: bool | None = None,
        device_id: int = 0,
    ) -> None:
        check_aggregation(aggregation)
        session = SessionOptions(
            precision, providers, window_stride, batch_tokens, strict, intra_op_threads,
            io_binding, device_id,
        )  # fmt: skip
        opened = open_model(model_dir, self.kind, session, cpu_precision="fp32")
        self._adopt(opened)
        from tokenizers import Tokenizer

        onnx_file = opened.onnx_file
        # Pairs are truncated (a safety net behind windowing); single texts are measured whole.
        self._measure = Tokenizer.from_file(str(opened.tokenizer_file))
        self._measure.no_padding()
        self._measure.no_truncation()
        self._template = PairTemplate.probe(self._measure) if self._joins_token_ids else None
        self.max_length = min(
            max_length or self.description.max_length, self.description.max_length
        )
        self.tokenizer.enable_truncation(self.max_length, strategy="only_second")
        self.pad_id = self.tokenizer.token_to_id("[PAD]") or 0
        if batch_tokens is None:
            on_gpu = self._runner.device == "cuda"
            batch_tokens = GPU_BATCH_TOKENS if on_gpu else CPU_BATCH_TOKENS
        self.batch_tokens = batch_tokens
        # An int8 graph quantises activations with one scale per run (padding included): a
        # pair's score would depend on the pairs batched with it, and a score cache would
        # keep whichever came first. One pair per run makes it a function of the pair.
        self._solo_runs = opened.precision == "int8"
        self.window_stride = window_stride
        self.aggregation = aggregation
        self.precision = opened.precision
        self.name = f"onnx:{opened.name}/{opened.precision}"
        self._model_file = onnx_file
        self._fingerprint: str | None = None

    pointwise = True

    @property
    def fingerprint(self) -> str:
        if self._fingerprint is None:
            # Windows cut from a page's token ids (joined pairs) score a little differently
            # from windows re-tokenised from text, so cached scores must not mix the two.
            windows = "ids" if self._template is not None else "text"
            # The description (activation, prompt template, scoring tokens, logit scale)
            # turns the same logits into other probabilities.
            described = hashlib.sha256(self.description.fingerprint_json().encode()).hexdigest()
            self._fingerprint = (
                f"{self.name}:{file_fingerprint(self._model_file)}:{described[:12]}"
                f":{self.max_length}:{self.window_stride}:{self.aggregation}:{windows}"
                # int8 pairs run one per call since issue 25: older cached scores were
                # batched and differ a little.
                + (":solo" if self._solo_runs else "")
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

    def _window_spans(self, tokens: int, budget: int) -> list[tuple[int, int]]:
        """Token ranges of the page itself, or of overlapping windows of ``budget`` tokens."""
        if tokens <= budget:
            return [(0, tokens)]
        step = max(1, int(budget * self.window_stride))
        spans = []
        for start in range(0, tokens, step):
            end = min(start + budget, tokens)
            spans.append((start, end))
            if end == tokens:
                break
        return spans

    def _score(self, criteria: Sequence[Criterion], pages: Sequence[Page]) -> Scores:
        texts = [p.text for p in pages]
        items: list[_Item] = []  # with a template: each pair as slices of its texts' ids
        pairs: list[tuple[str, str]] = []  # each pair's strings (the error message's too)
        owners: list[tuple[int, int]] = []
        windowed: dict[tuple[int, int], int] = {}
        # Each page is tokenised once for the whole batch, not once per criterion.
        encoded = self._measure.encode_batch(texts, add_special_tokens=False)
        page_ids = [np.asarray(e.ids, dtype=np.int64) for e in encoded]
        for ci, criterion in enumerate(criteria):
            query = self._query(criterion)
            budget = self._page_budget(query)
            query_ids = np.asarray(
                self._measure.encode(query, add_special_tokens=False).ids, dtype=np.int64
            )
            for pi, text in enumerate(texts):
                spans = self._window_spans(len(page_ids[pi]), budget)
                if len(spans) > 1:
                    windowed[(ci, pi)] = len(spans)
                    offsets = encoded[pi].offsets
                    pairs.extend((query, text[offsets[a][0] : offsets[b - 1][1]]) for a, b in spans)
                else:
                    pairs.append((query, text))
                if self._template is not None:
                    template, ids = self._template, page_ids[pi]
                    items.extend(JoinedPair(template, query_ids, ids[a:b]) for a, b in spans)
                owners.extend([(ci, pi)] * len(spans))
        if self._template is not None:
            scores = self._score_items(items, pairs)
        else:
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
        notes = {
            owner: PageNote(
                f"longer than the model's {self.max_length} tokens: scored over {n} "
                f"overlapping windows ({self.aggregation})",
                ("windowed",),
            )
            for owner, n in windowed.items()
        }
        return Scores.of(rows, notes)

    def _query(self, criterion: Criterion) -> str:
        # A cross-encoder has no instruction slot: the instruction goes first, on its own line.
        return query_text(criterion, separator="\n")

    def _encode_pairs(self, pairs: Sequence[tuple[str, str]]) -> Any:
        return self.tokenizer.encode_batch(list(pairs))

    def score_pairs(self, pairs: Sequence[tuple[str, str]]) -> list[float]:
        """Probabilities for (query, passage) pairs, batched by length under a token budget."""
        encoded = self._encode_pairs(pairs)
        return self._score_items([EncodedPair(e.ids, e.type_ids) for e in encoded], pairs)

    def _score_items(self, items: Sequence[_Item], pairs: Sequence[tuple[str, str]]) -> list[float]:
        order = sorted(range(len(items)), key=lambda i: len(items[i]))
        out = np.zeros(len(items), dtype=np.float64)
        batch: list[int] = []
        for i in order:
            longest = len(items[i])  # sorted: the newest item is the longest
            if batch and (self._solo_runs or longest * (len(batch) + 1) > self.batch_tokens):
                self._run_isolating(batch, items, pairs, out)
                batch = []
            batch.append(i)
        if batch:
            self._run_isolating(batch, items, pairs, out)
        return [float(v) for v in out]

    def _run_isolating(
        self,
        batch: list[int],
        items: Sequence[_Item],
        pairs: Sequence[tuple[str, str]],
        out: np.ndarray[Any, Any],
    ) -> None:
        # A failing batch is retried in halves to isolate the bad input, then reported.
        try:
            out[batch] = self._run(batch, items)
        except Exception as exc:
            if len(batch) == 1:
                query, passage = pairs[batch[0]]
                raise ScoringError(
                    f"{self.name} failed on the pair ({query[:40]!r}, {passage[:40]!r}): {exc}"
                ) from exc
            half = len(batch) // 2
            self._run_isolating(batch[:half], items, pairs, out)
            self._run_isolating(batch[half:], items, pairs, out)

    def _run(self, batch: list[int], items: Sequence[_Item]) -> np.ndarray[Any, Any]:
        width = max(len(items[i]) for i in batch)
        ids = np.full((len(batch), width), self.pad_id, dtype=np.int64)
        types = np.zeros((len(batch), width), dtype=np.int64)
        mask = np.zeros((len(batch), width), dtype=np.int64)
        for row, i in enumerate(batch):
            n = len(items[i])
            # Left padding puts every sequence's last token in the last position.
            cols = slice(width - n, width) if self._pad_left else slice(0, n)
            items[i].write(ids[row, cols], types[row, cols])
            mask[row, cols] = 1
        given = {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}
        feeds = {name: given.get(name, np.zeros_like(ids)) for name in self.input_names}
        logits = np.asarray(self._runner.run(feeds), dtype=np.float64)
        return self._probabilities(logits)

    def _probabilities(self, logits: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
        return _activate(logits, self.description.activation, self.description.positive_index)


def _activate(
    logits: np.ndarray[Any, Any], activation: str, positive: int = -1
) -> np.ndarray[Any, Any]:
    if (logits.ndim == 2 and logits.shape[1] == 2) or activation == "softmax":
        shifted = logits - logits.max(axis=1, keepdims=True)
        e = np.exp(shifted)
        probs: np.ndarray[Any, Any] = (e[:, positive] / e.sum(axis=1)).astype(np.float64)
        return probs
    flat = logits.reshape(len(logits), -1)[:, 0]
    if activation == "none":
        return flat
    sigmoid: np.ndarray[Any, Any] = 1.0 / (1.0 + np.exp(-flat))
    return sigmoid
