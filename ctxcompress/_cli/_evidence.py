"""Evidence recall for ``ctxcompress eval``: page-level and, with ``--prune passages``,
pruned by :class:`PassagePruner`, side by side.

Pruning here is what the compressor does with ``TopK(K)``: each of a criterion's top pages
is split into passages, the passages of a page are scored against the criteria that keep
it (one pseudo-document per page, the same scorer), and the pruner picks the spans. A page
the criterion keeps is pruned the same way whatever K is, so every K is measured from one
scoring of the top ``max(K)`` pages.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .._evaluation._data import EvalDataset
from .._evaluation._evidence import evidence_curve
from .._evaluation._metrics import ScoredCriterion
from .._pruning import PassagePruner
from .._scorers._base import Scorer, scores_of
from .._types import Criterion, Page, Span

__all__ = ["EVIDENCE_KS", "evidence_markdown", "evidence_report", "pruned_spans"]

EVIDENCE_KS = (1, 2, 3, 4, 5, 6, 8, 10, 15, 20, 25, 30)


def pruned_spans(
    data: EvalDataset,
    items: Sequence[ScoredCriterion],
    scorer: Scorer,
    pruner: PassagePruner,
    max_k: int,
) -> dict[tuple[str, int], tuple[Span, ...]]:
    """The spans ``pruner`` keeps of each criterion's top ``max_k`` pages."""
    texts = {c.id: c.text for c in data.criteria}
    out: dict[tuple[str, int], tuple[Span, ...]] = {}
    by_doc: dict[str, list[ScoredCriterion]] = {}
    for c in items:
        by_doc.setdefault(c.doc_id, []).append(c)
    for doc_id, criteria in by_doc.items():
        pages = [Page(t, i) for i, t in enumerate(data.documents[doc_id].pages)]
        wanting: dict[int, list[ScoredCriterion]] = {}
        for c in criteria:
            for i in c.ranking()[:max_k]:
                wanting.setdefault(i, []).append(c)
        for i, group in sorted(wanting.items()):
            passages = pruner.passages(pages[i])
            if len(passages) < 2:
                continue
            pseudo = [Page(pages[i].text[p.start : p.end], j) for j, p in enumerate(passages)]
            rows = scores_of(scorer, [Criterion(c.id, texts[c.id]) for c in group], pseudo).rows
            for c, row in zip(group, rows, strict=True):
                out[(c.id, i)] = pruner.keep(pages[i], passages, row, c.scores[i])
    return out


def evidence_report(
    data: EvalDataset,
    items: Sequence[ScoredCriterion],
    scorer: Scorer | None,
    pruner: PassagePruner | None,
    ks: Sequence[int] = EVIDENCE_KS,
) -> dict[str, Any] | None:
    """Page-level (and pruned, with a pruner) evidence recall curves; None when the data
    carries no evidence."""
    if not any(c.evidence for c in data.criteria):
        return None
    longest = max(len(d.pages) for d in data.documents.values())
    ks = [k for k in ks if k <= longest] or [1]
    report: dict[str, Any] = {"pages": evidence_curve(data, items, ks)}
    if pruner is not None and scorer is not None:
        spans = pruned_spans(data, items, scorer, pruner, max(ks))
        report["pruned"] = evidence_curve(data, items, ks, lambda cid, i: spans.get((cid, i)))
        report["pruner"] = pruner.describe()
    return report


def evidence_markdown(report: dict[str, Any]) -> str:
    """The curves as one table, page-level and pruned side by side."""
    pages, pruned = report["pages"], report.get("pruned")
    head = "| K | evidence recall (pages) | characters sent (pages) |"
    rule = "| --- | --- | --- |"
    if pruned:
        head += " evidence recall (pruned) | characters sent (pruned) |"
        rule += " --- | --- |"
    lines = [
        f"### Evidence recall vs characters sent ({pages['n_criteria']} criteria with evidence)",
        "",
        head,
        rule,
    ]
    for n, row in enumerate(pages["curve"]):
        line = f"| {row['k']} | {_num(row['evidence_recall'])} | {_pct(row['chars_sent'])} |"
        if pruned:
            other = pruned["curve"][n]
            line += f" {_num(other['evidence_recall'])} | {_pct(other['chars_sent'])} |"
        lines.append(line)
    lines.append("")
    for name, curve in (("pages", pages), ("pruned", pruned)):
        if curve:
            lines.append(
                f"90% evidence recall, {name}: "
                + (
                    f"K={curve['k_for_evidence_recall_90']}, "
                    f"{_pct(curve['chars_for_evidence_recall_90'])} of the characters"
                    if curve["k_for_evidence_recall_90"] is not None
                    else "not reached"
                )
            )
    if pruned:
        lines.append(f"pruner: `{report['pruner']}`")
    return "\n".join(lines)


def _num(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1%}"
