"""``ctxcompress eval``, ``calibrate`` and ``threshold``: measure and tune on labelled data."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from .._calibration import METHODS, load_calibrator
from .._evaluation import (
    apply_calibrator,
    calibrate_cross_validated,
    cross_validated_threshold,
    evaluate,
    load_dataset,
    plot_report,
    score_dataset,
)
from .._evaluation._data import EvalDataset
from .._evaluation._metrics import ScoredCriterion
from .._exceptions import InvalidInputError
from .._pruning import PassagePruner
from .._scorers._base import BaseScorer
from .._scorers._calibrated import CalibratedScorer
from .._tokens import load_token_counter
from ._classify_eval import run_calibrate_classify, run_eval_classify
from ._common import ProgressBar, UsageError, add_scorer_option, scorer_from_args
from ._evidence import evidence_markdown, evidence_report

__all__ = ["add_parsers"]


def _data_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--data",
        required=True,
        metavar="DIR",
        help="page-selection folder (documents.jsonl + criteria.jsonl) or BEIR folder; with "
        "--task classify or duplicates, a JSONL file of labelled texts",
    )
    p.add_argument("--split", default="test", help="BEIR qrels split (default: test)")
    p.add_argument("--limit", type=int, help="only the first N criteria (a quick run)")
    add_scorer_option(p)
    p.add_argument(
        "--tokenizer",
        default="tiktoken",
        metavar="SPEC",
        help="counts page tokens for the tokens-kept metrics (see compress --tokenizer)",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")


def _task_options(p: argparse.ArgumentParser, *, thresholds: bool = True) -> None:
    p.add_argument(
        "--task",
        choices=("select", "classify", "duplicates"),
        default="select",
        help="select: pages of documents (default); classify: labelled texts (JSONL), as "
        "classify() answers; duplicates: the same JSONL where each label's description is a "
        "reference text, scored as duplicate_probability() (is the text a near-duplicate of "
        "it, not about it)",
    )
    if thresholds:
        p.add_argument(
            "--thresholds",
            default="0.3,0.4,0.5",
            metavar="LIST",
            help="classify: comma-separated thresholds to report F1 at (default 0.3,0.4,0.5)",
        )


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    e = sub.add_parser("eval", help="measure a scorer on labelled data; prints a Markdown table")
    _data_options(e)
    _task_options(e)
    e.add_argument("--calibrator", metavar="FILE", help="apply this calibrator JSON to the scores")
    e.add_argument("--json", metavar="OUT", help="write the full report as JSON")
    e.add_argument("--plot", metavar="OUT.png", help="write the recall curve and reliability PNG")
    e.add_argument(
        "--prune",
        choices=["passages"],
        help="with evidence in the data: also measure pruned pages (the default PassagePruner)",
    )
    e.set_defaults(run=run_eval)

    c = sub.add_parser("calibrate", help="fit a calibrator, cross-validated by document")
    _data_options(c)
    _task_options(c, thresholds=False)
    c.add_argument("--method", choices=METHODS, default="isotonic")
    c.add_argument(
        "--out", required=True, metavar="FILE", help="where to write the calibrator JSON"
    )
    c.add_argument("--folds", type=int, default=5)
    c.set_defaults(run=run_calibrate)

    t = sub.add_parser("threshold", help="the largest threshold that keeps a target recall")
    _data_options(t)
    t.add_argument("--calibrator", metavar="FILE", help="apply this calibrator JSON first")
    t.add_argument("--target-recall", type=float, default=0.95)
    t.add_argument("--confidence", type=float, default=0.95, help="for the recall lower bound")
    t.add_argument(
        "--conservative",
        action="store_true",
        help="require the recall lower bound, not the estimate, to reach the target",
    )
    t.add_argument("--folds", type=int, default=5)
    t.add_argument("--json", metavar="OUT", help="write the result as JSON")
    t.set_defaults(run=run_threshold)


def _scored(
    args: argparse.Namespace,
) -> tuple[list[ScoredCriterion], BaseScorer, str, EvalDataset]:
    if args.limit is not None and args.limit < 1:
        raise UsageError(f"--limit must be >= 1, got {args.limit}")
    if not Path(args.data).is_dir():
        raise UsageError(f"no data folder at {args.data}")
    data = load_dataset(args.data, split=args.split, limit=args.limit)
    scorer = scorer_from_args(args)
    try:
        counter = load_token_counter(args.tokenizer)
    except InvalidInputError as exc:
        raise UsageError(str(exc)) from exc
    bar = ProgressBar(enabled=not args.no_progress, min_total=20, unit="criteria")
    try:
        items = score_dataset(data, scorer, progress=bar, token_counter=counter)
    finally:
        bar.close()
    return items, scorer, data.name, data


def _calibrated(
    args: argparse.Namespace, items: list[ScoredCriterion], scorer: BaseScorer
) -> tuple[list[ScoredCriterion], str]:
    if not getattr(args, "calibrator", None):
        return items, scorer.name
    try:
        calibrator = load_calibrator(args.calibrator)
        CalibratedScorer(scorer, calibrator)  # refuses a calibrator fitted for another scorer
    except InvalidInputError as exc:
        raise UsageError(str(exc)) from exc
    return apply_calibrator(items, calibrator), f"{scorer.name}+{calibrator.method}"


def _fmt(value: Any, pct: bool = False) -> str:
    if value is None:
        return "n/a"
    return f"{value:.1%}" if pct else f"{value:.3f}" if isinstance(value, float) else str(value)


def markdown_report(name: str, dataset: str, report: dict[str, Any]) -> str:
    ks = list(report["recall_at_k"])
    lines = [
        f"## {name} on {dataset} ({report['n_criteria']} criteria, "
        f"{report['n_criteria_with_evidence']} with evidence)",
        "",
        "| K | " + " | ".join(ks) + " |",
        "| --- |" + " --- |" * len(ks),
        "| Recall@K | " + " | ".join(_fmt(report["recall_at_k"][k]) for k in ks) + " |",
        "| characters kept | "
        + " | ".join(_fmt(report["chars_kept_at_k"][k], True) for k in ks)
        + " |",
        "| tokens kept | "
        + " | ".join(_fmt(report["tokens_kept_at_k"][k], True) for k in ks)
        + " |",
        "",
        f"MRR {_fmt(report['mrr'])} · NDCG@10 {_fmt(report['ndcg_at_10'])} · ECE {_fmt(report['ece'])} · "
        f"smallest K for 90% recall: {_fmt(report['k_for_recall_90'])} "
        f"({_fmt(report['chars_kept_at_k_for_recall_90'], True)} of characters)",
        "",
        "| threshold | precision | recall | characters kept | no-evidence criteria keeping any page |",
        "| --- | --- | --- | --- | --- |",
    ]
    for row in report["thresholds"]:
        lines.append(
            f"| {row['threshold']} | {_fmt(row['precision'])} | {_fmt(row['recall'])} | "
            f"{_fmt(row['chars_kept'], True)} | {_fmt(row['no_evidence_keep_rate'], True)} |"
        )
    return "\n".join(lines)


def run_eval(args: argparse.Namespace) -> int:
    if args.task in ("classify", "duplicates"):
        return run_eval_classify(args)
    items, scorer, dataset, data = _scored(args)
    items, name = _calibrated(args, items, scorer)
    report = evaluate(items)
    report.update({"scorer": name, "dataset": dataset, "calibrator": args.calibrator})
    print(markdown_report(name, dataset, report))
    pruner = PassagePruner() if args.prune == "passages" else None
    evidence = evidence_report(data, items, scorer, pruner)
    if evidence is not None:
        report["evidence"] = evidence
        print()
        print(evidence_markdown(evidence))
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    if args.plot:
        plot_report({name: items}, args.plot, title=f"{name} on {dataset}")
    return 0


def run_calibrate(args: argparse.Namespace) -> int:
    if args.folds < 2:
        raise UsageError(f"--folds must be >= 2, got {args.folds}")
    if args.task in ("classify", "duplicates"):
        return run_calibrate_classify(args)
    items, scorer, dataset, _ = _scored(args)
    held_out, calibrator = calibrate_cross_validated(
        items,
        args.method,
        scorer.name,
        folds=args.folds,
        fitted_on={"dataset": dataset, "folds": args.folds},
    )
    before, after = evaluate(items)["ece"], evaluate(held_out)["ece"]
    calibrator.save(args.out)
    print(
        f"{args.method} calibrator for {scorer.name} fitted on {dataset} "
        f"({len(items)} criteria) -> {args.out}"
    )
    print(
        f"ECE uncalibrated {_fmt(before)}; calibrated, {args.folds}-fold cross-validated by "
        f"document {_fmt(after)}"
    )
    return 0


def run_threshold(args: argparse.Namespace) -> int:
    if not 0 < args.target_recall <= 1:
        raise UsageError(f"--target-recall must be in (0, 1], got {args.target_recall}")
    if args.folds < 2:
        raise UsageError(f"--folds must be >= 2, got {args.folds}")
    items, scorer, dataset, _ = _scored(args)
    items, name = _calibrated(args, items, scorer)
    result = cross_validated_threshold(
        items,
        args.target_recall,
        folds=args.folds,
        confidence=args.confidence,
        conservative=args.conservative,
    )
    result.update({"scorer": name, "dataset": dataset})
    print(f"scorer {name} on {dataset}: target recall {args.target_recall:.0%}")
    print(result["statement"])
    print(
        f"held-out recall ({args.folds}-fold, by document): {_fmt(result['held_out_recall'])}; "
        f"characters kept at the threshold: {_fmt(result['chars_kept'], True)} "
        f"(held out {_fmt(result['held_out_chars_kept'], True)})"
    )
    print(
        f"criteria with no relevant page keeping any page: {_fmt(result['no_evidence_keep_rate'], True)} "
        f"({_fmt(result['no_evidence_pages_kept'])} pages on average)"
    )
    if args.json:
        Path(args.json).write_text(
            json.dumps(result, indent=2, default=float) + "\n", encoding="utf-8"
        )
    return 0
