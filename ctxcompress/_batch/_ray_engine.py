"""The Ray Data engine: documents stream through a pool of actors that each keep a scorer.

The pattern is Ray Data's batch inference: ``map_batches`` with a callable class, so each
actor builds its scorer once (an ONNX session, a remote client, caches) and reuses it for
every batch. The actors take ``cpus_per_actor`` CPUs (onnxruntime gets as many threads)
or ``gpus_per_actor`` GPUs (the CUDA provider). Reading, parsing and writing run as plain
Ray tasks, so the pool must leave them a CPU: on 2 CPUs a pool that takes both stalls.
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ctxcompress import (
    Criterion,
    InvalidInputError,
    MissingDependencyError,
    Policy,
    Scorer,
    TokenCounter,
)

from ._arrow import import_pyarrow
from ._inputs import CriteriaPlan, Document, DocumentSource
from ._output import selection_schema, union_schema, write_block
from ._work import DocumentResult, DocumentWorker, OnError, RunStats, ScorerArg, build_scorer

try:
    import ray
    import ray.data
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise MissingDependencyError("ray", "ray", "the Ray batch engine") from exc

if TYPE_CHECKING:
    from ray.data import Dataset

__all__ = ["CriteriaArg", "compress_dataset", "result_schema", "run_ray"]

logger = logging.getLogger("ctxcompress")

#: The same criteria for every document, or a mapping doc_id -> criteria (key None: criteria
#: for every document as well).
CriteriaArg = Sequence[Criterion | str] | Mapping[str | None, Sequence[Criterion | str]]


def result_schema() -> Any:
    """``compress_dataset``'s rows: ``doc_id``, ``selections`` (a list of the
    ``DIR/selections`` columns but ``doc_id``) and ``union`` (``DIR/union``'s, likewise)."""
    pa = import_pyarrow()
    selection = pa.struct([f for f in selection_schema() if f.name != "doc_id"])
    union = pa.struct([f for f in union_schema() if f.name != "doc_id"])
    return pa.schema(
        [
            pa.field("doc_id", pa.string(), nullable=False),
            pa.field("selections", pa.list_(selection), nullable=False),
            pa.field("union", union, nullable=False),
        ]
    )


def _plan(criteria: CriteriaArg | CriteriaPlan) -> CriteriaPlan:
    if isinstance(criteria, CriteriaPlan):
        return criteria
    if isinstance(criteria, Mapping):
        # Plain strings are numbered across the whole mapping, so that a document's shared
        # and own criteria never share an id.
        pairs = [(c, doc) for doc, group in criteria.items() for c in group]
        items = [
            (_criterion(c, i), None if doc is None else str(doc))
            for i, (c, doc) in enumerate(pairs)
        ]
    elif isinstance(criteria, Sequence) and not isinstance(criteria, str):
        items = [(_criterion(c, i), None) for i, c in enumerate(criteria)]
    else:
        raise InvalidInputError(
            f"criteria must be a list or a mapping doc_id -> list, got {type(criteria).__name__}"
        )
    if not items:
        raise InvalidInputError("no criteria given")
    return CriteriaPlan.build(items)


def _criterion(value: Criterion | str, position: int) -> Criterion:
    if isinstance(value, Criterion):
        return value
    if isinstance(value, str):
        return Criterion(id=f"c{position}", text=value)
    raise InvalidInputError(f"criterion {position}: expected a Criterion or str, got {value!r}")


class _CompressActor:
    """One actor of the pool: builds its scorer once, then compresses batch after batch."""

    def __init__(
        self,
        scorer: ScorerArg,
        policy: Policy | None,
        token_counter: TokenCounter | str | None,
        on_error: OnError,
        union_max_tokens: int | None,
        plan: CriteriaPlan,
        cpus: float,
        gpus: float,
    ) -> None:
        built = build_scorer(scorer, cpus=cpus, gpus=gpus)
        self.worker = DocumentWorker(
            built,
            policy,
            token_counter,
            on_error=on_error,
            union_max_tokens=union_max_tokens,
        )
        self.plan = plan
        self.schema = result_schema()

    def __call__(self, batch: Any) -> Any:
        pa = import_pyarrow()
        rows = []
        for item in batch.to_pylist():
            where = f"document {item.get('doc_id')!r}"
            doc = Document.from_fields(
                item.get("doc_id"), item.get("pages"), item.get("text"), where
            )
            criteria = self.plan.for_doc(doc.doc_id)
            if not criteria:
                raise InvalidInputError(f"{where} has no criteria")
            rows.append(self.worker.run(doc, criteria).as_row())
        return pa.Table.from_pylist(rows, schema=self.schema)


def default_actors(cpus_per_actor: float, gpus_per_actor: float) -> int:
    """One actor per GPU share, else per CPU share of all CPUs but one (Ray's own tasks)."""
    resources = _cluster_resources()
    if gpus_per_actor > 0:
        return max(1, int(resources.get("GPU", 0) // gpus_per_actor))
    return max(1, int((resources.get("CPU", 1) - 1) // cpus_per_actor))


def _cluster_resources() -> dict[str, float]:
    resources: dict[str, float] = ray.cluster_resources()  # type: ignore[no-untyped-call]
    return resources


def compress_dataset(
    documents: Dataset,
    criteria: CriteriaArg | CriteriaPlan,
    *,
    scorer: Scorer | str | Callable[[], Scorer] = "default",
    policy: Policy | None = None,
    token_counter: TokenCounter | str | None = None,
    actors: int | None = None,
    cpus_per_actor: float = 1,
    gpus_per_actor: float = 0,
    batch_size: int = 16,
    on_error: OnError = "raise",
    union_max_tokens: int | None = None,
) -> Dataset:
    """Compress every document of a Ray Dataset; one output row per document.

    ``documents`` has a ``doc_id`` column and ``pages`` (a list of strings) and/or ``text``
    (split into pages as ``load_document`` splits). ``criteria`` applies to every document,
    or maps doc_id to its criteria (key None: criteria for every document too). ``scorer``
    is a spec (each actor loads it once, onnxruntime with ``cpus_per_actor`` threads and
    CUDA when ``gpus_per_actor`` > 0), a picklable scorer, or a picklable factory.
    ``actors`` defaults to one per GPU share, else to all CPUs but one, per
    ``cpus_per_actor``. A document whose scoring fails gets ``error`` in its rows and keeps
    all its pages (``on_error="keep"``) or none (``"raise"``); the job goes on.

    Rows (:func:`result_schema`): ``doc_id``; ``selections``, one struct per criterion
    (``criterion_id``, ``kept_pages``, ``scores``, ``chars_kept``, ``chars_total``,
    ``tokens_kept``, ``tokens_total``, ``truncated_by_budget``, ``error``); ``union``
    (``kept_pages``, ``chars_kept``, ``chars_total``, ``tokens_kept``, ``tokens_total``).
    """
    if on_error not in ("raise", "keep"):
        raise InvalidInputError(f"on_error must be 'raise' or 'keep', got {on_error!r}")
    _check_positive("batch_size", batch_size, integer=True)
    _check_positive("cpus_per_actor", cpus_per_actor, zero=gpus_per_actor > 0)
    _check_positive("gpus_per_actor", gpus_per_actor, zero=True)
    if actors is not None:
        _check_positive("actors", actors, integer=True)
    plan = _plan(criteria)
    if gpus_per_actor > 0 and not _cluster_resources().get("GPU", 0):
        # Otherwise the actors wait for a GPU that never comes, and the job hangs silently.
        raise InvalidInputError(
            f"gpus_per_actor={gpus_per_actor:g} (--gpus-per-actor), but this Ray cluster has "
            "no GPU; join a cluster with GPU nodes (--address), or on an autoscaling cluster "
            "start a GPU node first, or score on CPUs (gpus_per_actor=0)"
        )
    size = actors if actors is not None else default_actors(cpus_per_actor, gpus_per_actor)
    total_cpus = _cluster_resources().get("CPU", 0)
    if gpus_per_actor == 0 and size * cpus_per_actor >= total_cpus:
        logger.warning(
            "%d actors x %g CPUs take all %g CPUs of the cluster; Ray's read and write tasks "
            "need one too, so the job may stall",
            size,
            cpus_per_actor,
            total_cpus,
        )
    result: Dataset = documents.map_batches(
        _CompressActor,
        fn_constructor_kwargs={
            "scorer": scorer,
            "policy": policy,
            "token_counter": token_counter,
            "on_error": on_error,
            "union_max_tokens": union_max_tokens,
            "plan": plan,
            "cpus": cpus_per_actor,
            "gpus": gpus_per_actor,
        },
        compute=ray.data.ActorPoolStrategy(size=size),
        batch_size=batch_size,
        batch_format="pyarrow",
        num_cpus=cpus_per_actor,
        num_gpus=gpus_per_actor,
    )
    return result


def _check_positive(name: str, value: float, *, integer: bool = False, zero: bool = False) -> None:
    valid = not isinstance(value, bool) and isinstance(value, int if integer else (int, float))
    if not valid or value < 0 or (value == 0 and not zero):
        bound = ">= 0" if zero else "> 0"
        kind = "an int" if integer else "a number"
        raise InvalidInputError(f"{name} must be {kind} {bound}, got {value!r}")


def _doc_schema() -> Any:
    pa = import_pyarrow()
    return pa.schema(
        [
            pa.field("doc_id", pa.string()),
            pa.field("pages", pa.list_(pa.string())),
            pa.field("text", pa.string()),
        ]
    )


def _jsonl_lines(row: dict[str, Any]) -> list[dict[str, Any]]:
    """A documents file's bytes -> its lines, split on newlines only and decoded as the
    driver's check decodes them (utf-8-sig). ``read_text`` would also split on U+2028,
    U+2029 and U+0085, which JSON keeps raw inside strings, and would keep a BOM."""
    text = bytes(row["bytes"]).decode("utf-8-sig")
    return [{"text": line} for line in text.split("\n") if line.strip()]


def _parse_jsonl(batch: Any, skip: Collection[str]) -> Any:
    """Lines of a documents file -> document rows, minus those done."""
    pa = import_pyarrow()
    rows = []
    for line in batch.column("text").to_pylist():
        if not line.strip():
            continue
        item = json.loads(line)
        doc = Document.from_fields(item.get("doc_id"), item.get("pages"), item.get("text"), "")
        if doc.doc_id not in skip:
            rows.append(_doc_row(doc))
    return pa.Table.from_pylist(rows, schema=_doc_schema())


def _from_parquet(batch: Any, skip: Collection[str]) -> Any:
    pa = import_pyarrow()
    rows = []
    for item in batch.to_pylist():
        doc = Document.from_fields(item.get("doc_id"), item.get("pages"), item.get("text"), "")
        if doc.doc_id not in skip:
            rows.append(_doc_row(doc))
    return pa.Table.from_pylist(rows, schema=_doc_schema())


def _doc_row(doc: Document) -> dict[str, Any]:
    pages = list(doc.pages) if doc.pages is not None else None
    return {"doc_id": doc.doc_id, "pages": pages, "text": doc.text}


def _write_results(batch: Any, root: str) -> Any:
    """Write a block of results to DIR (shared storage on a cluster); return its counts."""
    pa = import_pyarrow()
    stats = RunStats()
    results = []
    for row in batch.to_pylist():
        result = DocumentResult(row["doc_id"], row["selections"], row["union"])
        stats.add(result)
        results.append(result)
    written = write_block(root, results)
    return pa.table(
        {
            "documents": [stats.documents],
            "pairs": [stats.pairs],
            "failed_pairs": [stats.failed_pairs],
            "failed_documents": [stats.failed_documents],
            "blocks": [1 if written else 0],
        }
    )


def read_documents(
    source: DocumentSource, skip: Collection[str], rows_per_block: int | None = None
) -> Dataset:
    """The documents as a Dataset of ``doc_id``, ``pages``, ``text``, without ``skip``;
    with ``rows_per_block``, in blocks of at most that many documents.

    A JSONL file is read whole by one task and a Parquet file by row group, so without
    ``rows_per_block`` a file makes a handful of blocks (128 MiB each): no more actors
    than blocks work at once, and a block is what a killed job computes again."""
    frozen = frozenset(skip)
    if source.is_parquet:
        columns = source.parquet_columns()
        files = [str(p) for p in source.parquet_files()]
        raw = ray.data.read_parquet(files).select_columns(columns)
        parsed: Dataset = raw.map_batches(
            functools.partial(_from_parquet, skip=frozen), batch_format="pyarrow"
        )
    else:
        lines = ray.data.read_binary_files(str(source.path)).flat_map(_jsonl_lines)
        parsed = lines.map_batches(
            functools.partial(_parse_jsonl, skip=frozen), batch_format="pyarrow"
        )
    if rows_per_block is not None:
        # Streaming (no shuffle): splits big blocks and joins small ones.
        parsed = parsed.repartition(target_num_rows_per_block=rows_per_block)
    return parsed


def run_ray(
    source: DocumentSource,
    plan: CriteriaPlan,
    out_root: str,
    *,
    skip: Collection[str],
    scorer: ScorerArg,
    policy: Policy | None,
    token_counter: TokenCounter | str | None,
    on_error: OnError,
    union_max_tokens: int | None,
    actors: int | None,
    cpus_per_actor: float,
    gpus_per_actor: float,
    batch_size: int,
    address: str | None,
) -> RunStats:
    """The CLI's ray engine: join or start Ray, stream the job, write blocks from tasks."""
    started = not ray.is_initialized()
    if started:
        if address:
            ray.init(address=address)
        else:
            ray.init(include_dashboard=False)
    try:
        results = compress_dataset(
            # One actor call and one output block per batch, as with the local engine.
            read_documents(source, skip, rows_per_block=batch_size),
            plan,
            scorer=scorer,
            policy=policy,
            token_counter=token_counter,
            actors=actors,
            cpus_per_actor=cpus_per_actor,
            gpus_per_actor=gpus_per_actor,
            batch_size=batch_size,
            on_error=on_error,
            union_max_tokens=union_max_tokens,
        )
        return _write_all(results, out_root)
    finally:
        if started:
            ray.shutdown()


def _write_all(results: Dataset, out_root: str) -> RunStats:
    """Write the result rows from Ray tasks, a block each, and add up the blocks' counts."""
    written = results.map_batches(
        functools.partial(_write_results, root=out_root),
        batch_format="pyarrow",
        batch_size=None,
    )
    stats = RunStats()
    for counts in written.iter_rows():
        stats.documents += int(counts["documents"])
        stats.pairs += int(counts["pairs"])
        stats.failed_pairs += int(counts["failed_pairs"])
        stats.failed_documents += int(counts["failed_documents"])
        stats.blocks += int(counts["blocks"])
    return stats
