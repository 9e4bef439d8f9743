"""One document's work, the same for both engines: ``Compressor.compress``, then output rows.

A document whose compression raises becomes error rows instead of stopping the job: with
``on_error="keep"`` every page is kept (as ``Compressor(on_error="keep")`` does for a failed
criterion), with ``"raise"`` none is, and the ``error`` column says why in both cases.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from ctxcompress import (
    CompressionResult,
    Compressor,
    Criterion,
    Page,
    Policy,
    Scorer,
    TokenCounter,
    load_scorer,
)

from ._inputs import Document

__all__ = [
    "DocumentResult",
    "DocumentWorker",
    "OnError",
    "RunStats",
    "ScorerArg",
    "build_scorer",
    "onnx_tuning",
]

OnError = Literal["raise", "keep"]
#: A scorer, a spec for ``load_scorer``, or a zero-argument factory (what a Ray actor calls
#: once to build its own scorer).
ScorerArg = Scorer | str | Callable[[], Scorer]

# Schemes whose scorers run on onnxruntime and take ``intra_op_threads`` and ``providers``.
_ONNX_SCHEMES = ("default", "bi-encoder", "hub")


def onnx_tuning(spec: str, cpus: float, gpus: float) -> dict[str, Any]:
    """Options that fit an ONNX scorer to its actor: threads = its CPUs, CUDA with a GPU."""
    scheme = spec.partition(":")[0]
    is_path = spec.startswith(("/", "./", "../", "~")) or Path(spec).is_dir()
    if scheme not in _ONNX_SCHEMES and not is_path:
        return {}
    options: dict[str, Any] = {"intra_op_threads": max(1, int(cpus))}
    if gpus > 0:
        options["providers"] = "cuda"
    return options


def build_scorer(scorer: ScorerArg, *, cpus: float = 1, gpus: float = 0) -> Scorer:
    """The scorer an engine runs: a spec gets ``onnx_tuning``, a factory is called once."""
    if isinstance(scorer, str):
        return load_scorer(scorer, **onnx_tuning(scorer, cpus, gpus))
    if isinstance(scorer, Scorer):
        return scorer
    if callable(scorer):
        built = scorer()
        if not isinstance(built, Scorer):
            raise TypeError(f"the scorer factory returned {type(built).__name__}, not a scorer")
        return built
    raise TypeError(f"scorer must be a Scorer, a spec or a factory, got {type(scorer).__name__}")


@dataclass(frozen=True, slots=True)
class DocumentResult:
    """A document's output rows: one per criterion, and its whole-document union."""

    doc_id: str
    selections: list[dict[str, Any]]
    union: dict[str, Any]

    @property
    def failed_pairs(self) -> int:
        return sum(1 for row in self.selections if row["error"] is not None)

    def as_row(self) -> dict[str, Any]:
        """The nested row of ``compress_dataset``'s output (``RESULT_SCHEMA``)."""
        return {"doc_id": self.doc_id, "selections": self.selections, "union": self.union}


@dataclass(slots=True)
class RunStats:
    """What one run of an engine did (documents skipped by --resume are not counted)."""

    documents: int = 0
    pairs: int = 0
    failed_pairs: int = 0
    failed_documents: int = 0
    blocks: int = 0

    def add(self, result: DocumentResult) -> None:
        self.documents += 1
        self.pairs += len(result.selections)
        failed = result.failed_pairs
        self.failed_pairs += failed
        self.failed_documents += 1 if failed else 0


class DocumentWorker:
    """Compresses documents one at a time with one long-lived scorer and token counter."""

    def __init__(
        self,
        scorer: Scorer,
        policy: Policy | None = None,
        token_counter: TokenCounter | str | None = None,
        *,
        on_error: OnError = "raise",
        union_max_tokens: int | None = None,
    ) -> None:
        self.on_error: OnError = on_error
        self.compressor = Compressor(
            scorer,
            policy,
            token_counter,
            on_error=on_error,
            union_max_tokens=union_max_tokens,
        )

    def run(self, doc: Document, criteria: Sequence[Criterion]) -> DocumentResult:
        pages = doc.page_list()
        try:
            result = self.compressor.compress(pages, criteria)
        except Exception as exc:
            # One document's failure (a remote 4xx, a broken page) is that document's rows.
            return self._failed(doc.doc_id, pages, criteria, f"{type(exc).__name__}: {exc}")
        return _rows(doc.doc_id, result)

    def _failed(
        self, doc_id: str, pages: list[Page], criteria: Sequence[Criterion], error: str
    ) -> DocumentResult:
        chars_total = sum(len(p.text) for p in pages)
        try:
            tokens_total = sum(self.compressor.token_counter.count(p.text) for p in pages)
        except Exception:
            tokens_total = 0  # the counter failed too; the error column already says why
        keep = self.on_error == "keep"
        kept = [p.index for p in pages] if keep else []
        chars_kept = chars_total if keep else 0
        tokens_kept = tokens_total if keep else 0
        selections = [
            {
                "criterion_id": c.id,
                "kept_pages": kept,
                "scores": [None] * len(pages),
                "chars_kept": chars_kept,
                "chars_total": chars_total,
                "tokens_kept": tokens_kept,
                "tokens_total": tokens_total,
                "truncated_by_budget": False,
                "error": error,
            }
            for c in criteria
        ]
        union = {
            "kept_pages": kept,
            "chars_kept": chars_kept,
            "chars_total": chars_total,
            "tokens_kept": tokens_kept,
            "tokens_total": tokens_total,
        }
        return DocumentResult(doc_id, selections, union)


def _rows(doc_id: str, result: CompressionResult) -> DocumentResult:
    selections = []
    for s in result.selections:
        # Every page's score from the policy's decisions (the kept pages alone would lose
        # the rest); None for a page kept unscored after a failure.
        scores: list[float | None] = [None] * len(result.pages)
        for decision in s.decisions:
            scores[decision.index] = None if decision.score is None else float(decision.score)
        selections.append(
            {
                "criterion_id": s.criterion.id,
                "kept_pages": sorted(s.kept_indices),
                "scores": scores,
                "chars_kept": s.chars_kept,
                "chars_total": s.chars_total,
                "tokens_kept": s.tokens_kept,
                "tokens_total": s.tokens_total,
                "truncated_by_budget": s.truncated_by_budget,
                "error": s.error,
            }
        )
    u = result.union
    union = {
        "kept_pages": sorted(u.kept_indices),
        "chars_kept": u.chars_kept,
        "chars_total": u.chars_total,
        "tokens_kept": u.tokens_kept,
        "tokens_total": u.tokens_total,
    }
    return DocumentResult(doc_id, selections, union)
