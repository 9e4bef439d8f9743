"""Tune PassagePruner's defaults on the shared page-selection sets, cross-validated by document.

Stage 1 (``--score``) scores, for every criterion, the passages of its top ``--max-k`` pages
(ranked by the default scorer) and caches them under ``.cache/ctxcompress/prune/``; the
page embeddings are cached in ``.cache/ctxcompress/embeddings.sqlite`` (shared with
``scripts/fit_default_scorer.py``), so a rerun embeds nothing. Stage 2 (the default) sweeps
the pruner's threshold and context over ``TopK(K)``, measuring evidence recall (see
``ctxcompress/_evaluation/_evidence.py``) and the share of characters sent, and picks,
on 4 of 5 folds of documents, the cheapest setting whose recall reaches 0.90 at the best K,
then reports it on the held-out fold.

    python scripts/tune_pruner.py --score --sets financebench contractnli-dev [--scorer default]
    python scripts/tune_pruner.py --sets financebench contractnli-dev [--mode page|kept]
"""

from __future__ import annotations

import argparse
import itertools
import json
import pickle
import random
import statistics
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ctxcompress import Criterion, Page, SQLiteCache, load_scorer
from ctxcompress._evaluation._data import EvalDataset, load_dataset
from ctxcompress._evaluation._evidence import criterion_evidence_recall, match_evidence
from ctxcompress._evaluation._harness import score_dataset
from ctxcompress._pruning import PassagePruner
from ctxcompress._types import kept_text

ROOT = Path(__file__).resolve().parents[1]
CACHE = Path(__import__("os").environ.get("CTXCOMPRESS_CACHE_DIR", ROOT / ".cache" / "ctxcompress"))
KS = {"financebench": (5, 10, 15, 20, 25, 30), "contractnli-dev": (1, 2, 3, 4, 5, 6)}


def _scorer(spec: str) -> Any:
    if spec == "default":
        return load_scorer(
            "default",
            cache=SQLiteCache(CACHE / "embeddings.sqlite"),
            token_cache=SQLiteCache(CACHE / "tokens.sqlite"),
        )
    return load_scorer(spec)


def score(data: EvalDataset, spec: str, max_k: int, mode: str, ks: Sequence[int]) -> None:
    """Page scores, then passage scores: ``page`` mode scores each page's passages as a
    pseudo-document of their own; ``kept`` mode scores the passages of the top K pages
    together (one pseudo-document per criterion and K), as the compressor does."""
    out_path = CACHE / "prune" / f"{data.name}.{spec}.{mode}.pkl"
    scorer = _scorer(spec)
    pages_path = CACHE / "prune" / f"page_scores_{data.name}.json"
    if pages_path.is_file():
        page_scores = json.loads(pages_path.read_text())
    else:
        page_scorer = _scorer("default")
        items = score_dataset(data, page_scorer)
        page_scores = {c.id: list(c.scores) for c in items}
        pages_path.write_text(json.dumps(page_scores))
    pruner = PassagePruner()
    rows: dict[str, Any] = {}
    for n, (doc, criteria) in enumerate(data.by_document()):
        tops = {
            c.id: sorted(range(len(doc.pages)), key=lambda i: (-page_scores[c.id][i], i))[:max_k]
            for c in criteria
        }
        crits = [Criterion(c.id, c.text) for c in criteria]
        for c in criteria:
            rows[c.id] = {"ranked": tops[c.id], "page_scores": page_scores[c.id], "passages": {}}
        if mode == "page":
            # Each page its own pseudo-document, scored once for all the document's criteria.
            for i in sorted({i for top in tops.values() for i in top}):
                passages = pruner.passages(Page(doc.pages[i], i))
                texts = [doc.pages[i][p.start : p.end] for p in passages]
                matrix = scorer.score_batch(crits, texts) if texts else [[] for _ in crits]
                for c, row in zip(criteria, matrix, strict=True):
                    rows[c.id]["passages"].setdefault("all", {})[i] = row
        else:
            for c, crit in zip(criteria, crits, strict=True):
                for k in ks:
                    chosen = tops[c.id][:k]
                    per = {i: pruner.passages(Page(doc.pages[i], i)) for i in chosen}
                    texts = [doc.pages[i][p.start : p.end] for i in chosen for p in per[i]]
                    flat = scorer.score(crit, texts) if texts else []
                    out, pos = {}, 0
                    for i in chosen:
                        out[i] = flat[pos : pos + len(per[i])]
                        pos += len(per[i])
                    rows[c.id]["passages"][k] = out
        print(f"{data.name} {spec} {mode}: document {n + 1}", flush=True)
    out_path.write_bytes(pickle.dumps(rows))
    print(f"wrote {out_path}")


def measure(
    data: EvalDataset,
    rows: dict[str, Any],
    ids: set[str],
    k: int,
    pruner: PassagePruner | None,
    matches: dict[str, Any],
    passages_of: dict[tuple[str, int], Any],
) -> tuple[float, float]:
    """Mean evidence recall and mean share of characters sent over the criteria in ``ids``
    (those with evidence found on its page), for TopK(k) with or without ``pruner``."""
    recalls, shares = [], []
    for c in data.criteria:
        if c.id not in ids or c.id not in rows:
            continue
        doc = data.documents[c.doc_id]
        row = rows[c.id]
        kept_pages = row["ranked"][:k]
        per = row["passages"].get("all") or row["passages"].get(k)
        kept: dict[int, Any] = {}
        sent = 0
        for i in kept_pages:
            text = doc.pages[i]
            if pruner is None:
                kept[i] = None
                sent += len(text)
                continue
            page = Page(text, i)
            spans = pruner.keep(page, passages_of[(c.doc_id, i)], per[i], row["page_scores"][i])
            kept[i] = spans
            sent += len(kept_text(text, spans))
        recall = criterion_evidence_recall(matches[c.id], kept)
        if recall is None:
            continue
        recalls.append(recall)
        shares.append(sent / sum(len(p) for p in doc.pages))
    return statistics.fmean(recalls), statistics.fmean(shares)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="/work/shared/data")
    parser.add_argument("--sets", nargs="+", default=["financebench", "contractnli-dev"])
    parser.add_argument("--scorer", default="default")
    parser.add_argument("--mode", choices=["page", "kept"], default="page")
    parser.add_argument("--max-k", type=int, default=30)
    parser.add_argument("--score", action="store_true", help="stage 1: score the passages")
    parser.add_argument("--limit", type=int, help="only the first N criteria (quick runs)")
    args = parser.parse_args()
    (CACHE / "prune").mkdir(parents=True, exist_ok=True)
    for name in args.sets:
        data = load_dataset(Path(args.data) / name, limit=args.limit)
        if args.score:
            score(data, args.scorer, args.max_k, args.mode, KS[name])
            continue
        path = CACHE / "prune" / f"{data.name}.{args.scorer}.{args.mode}.pkl"
        rows = pickle.loads(path.read_bytes())
        matches = {
            c.id: match_evidence(c, data.documents[c.doc_id].pages)
            for c in data.criteria
            if c.evidence
        }
        base = PassagePruner()
        passages_of = {
            (c.doc_id, i): base.passages(Page(data.documents[c.doc_id].pages[i], i))
            for c in data.criteria
            if c.id in rows
            for i in rows[c.id]["ranked"]
        }
        ids = set(matches)
        print(f"## {name} ({len(ids)} criteria with evidence) scorer {args.scorer} {args.mode}")
        grid: list[tuple[float, int, bool] | None] = [
            None,
            *itertools.product(THRESHOLDS, CONTEXTS, WHOLE_TABLES),
        ]
        table: dict[tuple[Any, int], tuple[float, float]] = {}
        folds = _folds(data, ids)
        for setting in grid:
            pruner = (
                None
                if setting is None
                else PassagePruner(
                    threshold=setting[0], context=setting[1], whole_tables=setting[2]
                )
            )
            cells = []
            for k in KS[name]:
                per_fold = [
                    measure(data, rows, fold, k, pruner, matches, passages_of) for fold in folds
                ]
                table[(setting, k)] = per_fold  # type: ignore[assignment]
                r, ch = _pooled(per_fold, folds)
                cells.append(f"K={k} {r:.3f}/{ch:.3f}")
            label = (
                "pages"
                if setting is None
                else f"t={setting[0]} ctx={setting[1]}" + (" tables" if setting[2] else " rows")
            )
            print(f"{label}: " + "  ".join(cells), flush=True)
        for pruned in (False, True):
            _held_out(name, table, folds, pruned)


THRESHOLDS = (0.1, 0.3, 0.5, 0.7, 0.9)
CONTEXTS = (0, 1, 2)
WHOLE_TABLES = (True, False)  # a kept row keeps its whole table, or only itself


def _folds(data: EvalDataset, ids: set[str], k: int = 5) -> list[set[str]]:
    docs = sorted({c.doc_id for c in data.criteria if c.id in ids})
    random.Random(0).shuffle(docs)
    fold_of = {d: i % k for i, d in enumerate(docs)}
    folds: list[set[str]] = [set() for _ in range(k)]
    for c in data.criteria:
        if c.id in ids:
            folds[fold_of[c.doc_id]].add(c.id)
    return folds


def _pooled(
    per_fold: Sequence[tuple[float, float]], folds: Sequence[set[str]]
) -> tuple[float, float]:
    n = sum(len(f) for f in folds)
    r = sum(x[0] * len(f) for x, f in zip(per_fold, folds, strict=True)) / n
    ch = sum(x[1] * len(f) for x, f in zip(per_fold, folds, strict=True)) / n
    return r, ch


def _held_out(name: str, table: Any, folds: list[set[str]], pruned: bool) -> None:
    """Choose (setting, K) on four folds: the fewest characters with recall >= 0.90; report
    the fifth. Pooled over the five held-out folds."""
    chosen, recalls, shares, sizes = [], [], [], []
    for f in range(len(folds)):
        train = [i for i in range(len(folds)) if i != f]
        best = None
        for (setting, k), per_fold in table.items():
            if (setting is not None) != pruned:
                continue
            r, ch = _pooled([per_fold[i] for i in train], [folds[i] for i in train])
            if r >= 0.9 and (best is None or ch < best[0]):
                best = (ch, setting, k)
        if best is None:
            print(f"{name} fold {f}: no setting reaches 0.90 on the other folds")
            continue
        _, setting, k = best
        r, ch = table[(setting, k)][f]
        chosen.append((setting, k))
        recalls.append(r * len(folds[f]))
        shares.append(ch * len(folds[f]))
        sizes.append(len(folds[f]))
    if sizes:
        n = sum(sizes)
        what = "pruned" if pruned else "pages"
        print(
            f"{name} {what}, held out (5 folds by document): evidence recall "
            f"{sum(recalls) / n:.3f} at {sum(shares) / n:.1%} of the characters; chosen {chosen}"
        )


if __name__ == "__main__":
    main()
