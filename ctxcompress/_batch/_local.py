"""The local engine: every document in this process, one after another (the baseline)."""

from __future__ import annotations

from collections.abc import Callable, Collection

from ._inputs import CriteriaPlan, DocumentSource
from ._output import write_block
from ._work import DocumentResult, DocumentWorker, RunStats

__all__ = ["run_local"]

#: progress(documents done, documents to do)
Progress = Callable[[int, int], None]


def run_local(
    source: DocumentSource,
    plan: CriteriaPlan,
    worker: DocumentWorker,
    out_root: str,
    *,
    skip: Collection[str] = (),
    todo: int,
    batch_size: int,
    progress: Progress | None = None,
) -> RunStats:
    """Compress every document of ``source`` not in ``skip``; a block every ``batch_size``."""
    stats = RunStats()
    block: list[DocumentResult] = []
    for doc in source:
        if doc.doc_id in skip:
            continue
        result = worker.run(doc, plan.for_doc(doc.doc_id))
        stats.add(result)
        block.append(result)
        if len(block) >= batch_size:
            write_block(out_root, block)
            stats.blocks += 1
            block = []
        if progress is not None:
            progress(stats.documents, todo)
    if block:
        write_block(out_root, block)
        stats.blocks += 1
    return stats
