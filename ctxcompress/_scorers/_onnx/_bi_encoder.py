"""A bi-encoder on onnxruntime: pages and criteria are embedded separately, then compared.

The exported graph already mean-pools and L2-normalises (see ``export_bi_encoder``), so a
dot product is the cosine similarity. A page longer than the model's window is embedded as
overlapping windows, so nothing past the window is ignored; a page's score for a criterion
aggregates its windows (best window by default). Page embeddings go through a cache keyed
by the model's fingerprint and the page text, so a document's pages are embedded once
however many criteria (and calls) score them.

Graphs exported by ctxcompress also output the last layer's token embeddings; the same run
that embeds a page then yields its tokens too (:meth:`BiEncoder.embed_tokens`), for
token-level (late interaction) features. Those are kept in a separate, smaller cache:
a page's tokens take a few hundred times the room of its embedding.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..._cache import Cache, MemoryCache, cache_key, text_digest
from ..._exceptions import InvalidInputError
from ..._types import Criterion, Page
from .._base import BaseScorer, Scores, query_text
from ._aggregation import Aggregation, aggregate, check_aggregation
from ._description import Precision, file_fingerprint
from ._files import ModelFiles
from ._pooling import pool
from ._session import OnnxModelUser, Providers, SessionOptions, open_model

__all__ = [
    "BiEncoder",
    "BiEncoderScorer",
    "bi_encoder_scorer",
    "minilm_cosine_mapping",
]

TOKEN_OUTPUT = "token_embeddings"
# What Hugging Face exports call the last hidden state, in order of preference.
_HIDDEN_OUTPUTS = ("last_hidden_state", "token_embeddings")
# Token matrices are large (a 600-token page: ~0.5 MB at float16, a long page's many
# times that), so the default in-memory cache for them holds a few documents' pages, not
# 50,000, and at most TOKEN_CACHE_BYTES of them whatever the pages' length.
TOKEN_CACHE_ENTRIES = 512
TOKEN_CACHE_BYTES = 256 * 1024 * 1024


class BiEncoder(OnnxModelUser):
    """Embeds texts with the bi-encoder in ``model_dir``.

    ``window`` is the number of text tokens per window (default: the model's max length
    less its special tokens); consecutive windows overlap by ``1 - window_stride``.
    ``precision`` defaults to int8 on a CPU when ``model_int8.onnx`` exists, and on a GPU to
    fp16 when ``model_fp16.onnx`` exists, else fp32.
    ``cache`` keeps embeddings (an in-memory LRU of 50,000 by default), ``token_cache``
    token embeddings (an in-memory LRU of 512 texts by default).

    Guide with examples: [Local models][guide-local-models].
    """

    def __init__(
        self,
        model_dir: str | os.PathLike[str] | ModelFiles,
        *,
        precision: Precision | None = None,
        providers: Providers = "auto",
        window: int | None = None,
        window_stride: float = 0.5,
        batch_tokens: int = 16384,
        cache: Cache | None = None,
        token_cache: Cache | None = None,
        strict: bool = False,
        intra_op_threads: int | None = None,
        io_binding: bool | None = None,
        device_id: int = 0,
    ) -> None:
        session = SessionOptions(
            precision, providers, window_stride, batch_tokens, strict, intra_op_threads,
            io_binding, device_id,
        )  # fmt: skip
        opened = open_model(model_dir, "bi-encoder", session, cpu_precision="int8")
        self._adopt(opened)
        onnx_file = opened.onnx_file
        self.tokenizer.no_truncation()
        # The special tokens a single text is wrapped in ([CLS] ... [SEP] for BERT).
        wrapped = self.tokenizer.encode("", add_special_tokens=True).ids
        self._prefix, self._suffix = wrapped[:1], wrapped[1:]
        specials = len(wrapped)
        limit = self.description.max_length - specials
        if window is not None and not 8 <= window <= limit:
            raise InvalidInputError(f"window must be between 8 and {limit} tokens, got {window!r}")
        self.window = window or limit
        self.window_stride = window_stride
        self.batch_tokens = batch_tokens
        self.precision = opened.precision
        # An int8 graph quantises its activations dynamically: one scale per run, taken
        # over every row of the batch (padding included), so a text's embedding would
        # depend on what it was batched with, and the cache would freeze whichever
        # neighbours came first. One window per run makes an embedding a function of its
        # text alone (docs/benchmarks.md: the cost on a CPU is small).
        self.solo_runs = opened.precision == "int8"
        self.cache: Cache = cache if cache is not None else MemoryCache(50_000)
        self.token_cache: Cache = (
            token_cache
            if token_cache is not None
            else MemoryCache(TOKEN_CACHE_ENTRIES, max_bytes=TOKEN_CACHE_BYTES)
        )
        outputs = [o.name for o in self.session.get_outputs()]
        # A Hugging Face export outputs the last hidden state: one output gives both the
        # tokens and (pooled here, see _pooling) the embedding.
        self._pooling = self.description.pooling
        if self._pooling is not None:
            hidden = next((n for n in _HIDDEN_OUTPUTS if n in outputs), outputs[0])
            rank = len(self.session.get_outputs()[outputs.index(hidden)].shape)
            if rank != 3:
                raise InvalidInputError(
                    f"{onnx_file}: output {hidden!r} has rank {rank}, not the last hidden "
                    "state (batch × tokens × dim) a bi-encoder export outputs"
                )
            self.has_tokens = True
            self._outputs: tuple[str, ...] = (hidden,)
        else:
            self.has_tokens = TOKEN_OUTPUT in outputs
            self._outputs = (outputs[0], TOKEN_OUTPUT) if self.has_tokens else (outputs[0],)
        self.name = f"{opened.name}/{opened.precision}"
        # The weights' digest, not the directory's name, identifies the model.
        # int8 windows embedded one per call differ a little from batched ones: a cache
        # filled before one-window calls must not serve them.
        self.fingerprint = (
            f"bi-encoder:{file_fingerprint(onnx_file)}:w{self.window}:s{self.window_stride}"
            + (f":pool={self._pooling}" if self._pooling else "")
            + (":solo" if self.solo_runs else "")
        )

    def embed(self, texts: Sequence[str]) -> np.ndarray[Any, Any]:
        """One embedding per text (the first window only: for short texts such as queries)."""
        rows = self._embed_cached(texts, windowed=False)
        return np.stack([r[0] for r in rows]) if rows else np.zeros((0, 0), np.float32)

    def embed_windows(self, texts: Sequence[str]) -> list[np.ndarray[Any, Any]]:
        """Per text, a (windows × dim) matrix covering the whole text."""
        return self._embed_cached(texts, windowed=True)

    def embed_tokens(
        self, texts: Sequence[str], *, windowed: bool = True
    ) -> list[np.ndarray[Any, Any]]:
        """Per text, its tokens' L2-normalised embeddings (tokens × dim, float16), window
        after window as :meth:`token_ids` lists them (special tokens left out; a token in
        two overlapping windows appears twice, once in each context). ``windowed=False``
        reads the first window only, as :meth:`embed` does (for queries)."""
        if not self.has_tokens:
            raise InvalidInputError(
                f"{self.name} has no {TOKEN_OUTPUT!r} output; export it again with "
                "`ctxcompress export --kind bi-encoder` to get token embeddings"
            )
        mode = "windows" if windowed else "first"

        def compute(todo: list[str]) -> list[bytes]:
            pooled, tokens = self._embed_texts(todo, windowed=windowed, tokens=True)
            # The same run embedded the texts: keep that too, so scoring needs no second one.
            self.cache.put_many(
                {
                    cache_key("embedding", self.fingerprint, mode, text_digest(t)): _pack(m)
                    for t, m in zip(todo, pooled, strict=True)
                }
            )
            return [_pack(t, np.float16) for t in tokens]

        blobs = self._through_cache(self.token_cache, "tokens", mode, texts, compute)
        return [_unpack(blob, np.float16) for blob in blobs]

    def token_ids(self, texts: Sequence[str], *, windowed: bool = True) -> list[list[int]]:
        """Per text, the token ids whose embeddings :meth:`embed_tokens` returns, in order."""
        encodings = self.tokenizer.encode_batch(list(texts), add_special_tokens=False)
        return [[i for w in self._windows(e.ids, windowed) for i in w] for e in encodings]

    def _embed_cached(self, texts: Sequence[str], *, windowed: bool) -> list[np.ndarray[Any, Any]]:
        def compute(todo: list[str]) -> list[bytes]:
            return [_pack(m) for m in self._embed_texts(todo, windowed=windowed)[0]]

        mode = "windows" if windowed else "first"
        return [
            _unpack(b) for b in self._through_cache(self.cache, "embedding", mode, texts, compute)
        ]

    def _through_cache(
        self,
        cache: Cache,
        kind: str,
        mode: str,
        texts: Sequence[str],
        compute: Callable[[list[str]], list[bytes]],
    ) -> list[bytes]:
        """Per text, its cached value, ``compute`` filling in the missing (each text once)."""
        keys = [cache_key(kind, self.fingerprint, mode, text_digest(t)) for t in texts]
        found = cache.get_many(keys)
        missing = list(dict.fromkeys(k for k in keys if k not in found))
        if missing:
            index = {k: i for i, k in enumerate(keys)}
            new = dict(zip(missing, compute([texts[index[k]] for k in missing]), strict=True))
            cache.put_many(new)
            found = {**found, **new}
        return [found[k] for k in keys]

    def _embed_texts(
        self, texts: Sequence[str], *, windowed: bool, tokens: bool = False
    ) -> tuple[list[np.ndarray[Any, Any]], list[np.ndarray[Any, Any]]]:
        """Per text: its windows' embeddings and, with ``tokens``, its token embeddings."""
        encodings = self.tokenizer.encode_batch(list(texts), add_special_tokens=False)
        pieces: list[list[int]] = []
        owners: list[int] = []
        for ti, enc in enumerate(encodings):
            for ids in self._windows(enc.ids, windowed):
                pieces.append(self._prefix + ids + self._suffix)
                owners.append(ti)
        results = self._run_batched(pieces, tokens)
        out: list[list[np.ndarray[Any, Any]]] = [[] for _ in texts]
        out_tokens: list[list[np.ndarray[Any, Any]]] = [[] for _ in texts]
        for owner, (vector, token_vectors) in zip(owners, results, strict=True):
            out[owner].append(vector)
            out_tokens[owner].append(token_vectors)
        pooled = [np.stack(v).astype(np.float32) for v in out]
        if not tokens:
            return pooled, []
        return pooled, [np.concatenate(t).astype(np.float16) for t in out_tokens]

    def _windows(self, ids: list[int], windowed: bool) -> list[list[int]]:
        if len(ids) <= self.window or not windowed:
            return [ids[: self.window]]
        step = max(1, int(self.window * self.window_stride))
        windows = []
        for start in range(0, len(ids), step):
            end = min(start + self.window, len(ids))
            windows.append(ids[start:end])
            if end == len(ids):
                break
        return windows

    def _run_batched(self, pieces: list[list[int]], tokens: bool) -> list[_Embedded]:
        order = sorted(range(len(pieces)), key=lambda i: len(pieces[i]))
        empty = np.zeros(0, np.float32)
        out: list[_Embedded] = [(empty, empty)] * len(pieces)
        batch: list[int] = []
        for i in order:
            if batch and (self.solo_runs or len(pieces[i]) * (len(batch) + 1) > self.batch_tokens):
                self._run(batch, pieces, out, tokens)
                batch = []
            batch.append(i)
        if batch:
            self._run(batch, pieces, out, tokens)
        return out

    def _run(
        self,
        batch: list[int],
        pieces: list[list[int]],
        out: list[_Embedded],
        tokens: bool,
    ) -> None:
        width = max(len(pieces[i]) for i in batch)
        ids = np.zeros((len(batch), width), dtype=np.int64)
        mask = np.zeros((len(batch), width), dtype=np.int64)
        for row, i in enumerate(batch):
            ids[row, : len(pieces[i])] = pieces[i]
            mask[row, : len(pieces[i])] = 1
        feeds = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
        names = self._outputs if tokens else self._outputs[:1]
        results = self._runner.run_outputs({n: feeds[n] for n in self.input_names}, names)
        if self._pooling is not None:  # [last hidden state] -> [embeddings, tokens]
            results = [pool(results[0], mask, self._pooling), results[0]]
        head, tail = len(self._prefix), len(self._suffix)
        for row, i in enumerate(batch):
            pooled = np.asarray(results[0][row], dtype=np.float32)
            if not tokens:
                out[i] = (pooled, np.zeros(0, np.float32))
                continue
            # The text's own tokens: no padding, no [CLS]/[SEP]; unit length for cosines.
            hidden = np.asarray(results[1][row, head : len(pieces[i]) - tail], np.float32)
            norms = np.linalg.norm(hidden, axis=1, keepdims=True)
            out[i] = (pooled, hidden / np.maximum(norms, 1e-12))

    def __repr__(self) -> str:
        return f"BiEncoder(name={self.name!r}, window={self.window})"


# One window's pooled embedding and (when asked for) its tokens' embeddings.
_Embedded = tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]


def _pack(matrix: np.ndarray[Any, Any], dtype: type[np.floating[Any]] = np.float32) -> bytes:
    rows, dim = matrix.shape if matrix.ndim == 2 else (0, 0)
    header = np.array([rows, dim], dtype=np.int32).tobytes()
    return header + np.ascontiguousarray(matrix, dtype=dtype).tobytes()


def _unpack(blob: bytes, dtype: type[np.floating[Any]] = np.float32) -> np.ndarray[Any, Any]:
    rows, dim = (int(v) for v in np.frombuffer(blob[:8], dtype=np.int32))
    return np.frombuffer(blob[8:], dtype=dtype).reshape(rows, dim)


class BiEncoderScorer(BaseScorer):
    """Cosine similarity of criterion and page embeddings, mapped to a probability by
    ``sigmoid(slope * cosine + bias)``.

    The default mapping was fitted for all-MiniLM-L6-v2 (see ``default_scorer.json``);
    fit a calibrator on your own data for another model.

    Guide with examples: [Local models][guide-local-models].
    """

    def __init__(
        self,
        encoder: BiEncoder,
        *,
        slope: float,
        bias: float,
        aggregation: Aggregation = "max",
    ) -> None:
        check_aggregation(aggregation)
        if not (math.isfinite(slope) and math.isfinite(bias)):
            raise InvalidInputError("slope and bias must be finite numbers")
        self.encoder = encoder
        self.slope = slope
        self.bias = bias
        self.aggregation: Aggregation = aggregation
        self.name = f"bi-encoder:{encoder.name}"

    # A page's cosine depends on that page alone: caches and cascades may rely on it.
    pointwise = True

    @property
    def fingerprint(self) -> str:
        # The weights and windows (the encoder's fingerprint) and the probability map.
        return (
            f"{self.name}:{self.encoder.fingerprint}:slope={self.slope}:bias={self.bias}"
            f":{self.aggregation}"
        )

    def similarities(
        self, criteria: Sequence[Criterion], texts: Sequence[str]
    ) -> np.ndarray[Any, Any]:
        """(criteria × pages) cosine similarities, each page's windows aggregated."""
        queries = self.encoder.embed([query_text(c) for c in criteria])
        pages = self.encoder.embed_windows(texts)
        out = np.zeros((len(criteria), len(texts)), dtype=np.float64)
        for pi, windows in enumerate(pages):
            sims = queries @ windows.T  # criteria × windows
            for ci in range(len(criteria)):
                out[ci, pi] = aggregate(sims[ci], self.aggregation)
        return out

    def _score(self, criteria: Sequence[Criterion], pages: Sequence[Page]) -> Scores:
        sims = self.similarities(criteria, [p.text for p in pages])
        logits = np.clip(self.slope * sims + self.bias, -50.0, 50.0)  # no overflow
        return Scores.of(1.0 / (1.0 + np.exp(-logits)))


def minilm_cosine_mapping() -> dict[str, float]:
    """The cosine -> probability map fitted for all-MiniLM-L6-v2.

    ``scripts/fit_default_scorer.py`` fits it with the fusion and stores both in the default
    scorer's ``default_scorer.json``; it is read here as a data file (not through the
    default scorer's module, which imports this one).
    """
    path = Path(__file__).resolve().parents[1] / "_default" / "default_scorer.json"
    data = json.loads(path.read_text("utf-8"))
    return {"slope": float(data["bi_encoder_slope"]), "bias": float(data["bi_encoder_bias"])}


def bi_encoder_scorer(
    model_dir: str | os.PathLike[str] | ModelFiles, **options: Any
) -> BiEncoderScorer:
    """A bi-encoder directory as a scorer. ``slope``, ``bias`` and ``aggregation`` go to
    the scorer (the mapping defaults to MiniLM's, see :func:`minilm_cosine_mapping`), the
    other options to :class:`BiEncoder`."""
    mapping: dict[str, Any] = minilm_cosine_mapping()
    for key in ("slope", "bias", "aggregation"):
        if key in options:
            mapping[key] = options.pop(key)
    return BiEncoderScorer(BiEncoder(model_dir, **options), **mapping)
