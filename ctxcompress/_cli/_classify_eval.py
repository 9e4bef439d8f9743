"""``ctxcompress eval --task classify|duplicates`` and ``calibrate --task
classify|duplicates``: the classifier (or, for near-duplicate data, the pair probability)
measured and calibrated on labelled texts (JSONL, see ``_classification/_evaluate``)."""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import Any

from .._calibration import load_calibrator
from .._classification._evaluate import (
    calibrate_classifier,
    classification_report,
    load_items,
    score_items,
)
from .._exceptions import InvalidInputError
from .._scorers._base import BaseScorer, Scorer
from .._scorers._calibrated import CalibratedScorer
from ._common import UsageError, scorer_from_args

__all__ = ["markdown_classification", "run_calibrate_classify", "run_eval_classify"]


def _num(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return f"{value:.3f}"


def markdown_classification(name: str, dataset: str, report: dict[str, Any]) -> str:
    lines = [
        f"## {name} on {dataset} ({report['items']} texts, {report['pairs']} (text, label) "
        f"pairs, {report['positives']} positive)",
        "",
        "| threshold | macro-F1 | micro-F1 |",
        "| --- | --- | --- |",
    ]
    for row in report["thresholds"]:
        lines.append(f"| {row['threshold']} | {_num(row['macro_f1'])} | {_num(row['micro_f1'])} |")
    best = report["best"]
    lines += [
        "",
        f"best threshold {best['threshold']} (macro-F1 {_num(best['macro_f1'])}) · "
        f"AUROC {_num(report['auroc'])} · ECE {_num(report['ece'])} · "
        f"top-1 {_num(report['top1'])}",
        "",
        "| probability | pairs | mean predicted | observed |",
        "| --- | --- | --- | --- |",
    ]
    for row in report["reliability"]:
        if row["n"]:
            lines.append(
                f"| {row['bin_low']:.1f}-{row['bin_high']:.1f} | {row['n']} | "
                f"{_num(row['mean_predicted'])} | {_num(row['observed_rate'])} |"
            )
    return "\n".join(lines)


def _thresholds(text: str) -> list[float]:
    try:
        values = [float(v) for v in text.split(",") if v.strip()]
    except ValueError as exc:
        raise UsageError(f"--thresholds takes numbers separated by commas, got {text!r}") from exc
    if not values or not all(0 <= v <= 1 for v in values):
        raise UsageError(f"--thresholds must be between 0 and 1, got {text!r}")
    return values


def _items(args: argparse.Namespace) -> list[Any]:
    if not Path(args.data).is_file():
        raise UsageError(
            f"--task {args.task} reads a JSONL file of labelled texts; no file at {args.data}"
        )
    items = load_items(args.data)
    if args.limit is not None:
        if args.limit < 1:
            raise UsageError(f"--limit must be >= 1, got {args.limit}")
        items = items[: args.limit]
    return items


def _plot(report: dict[str, Any], name: str, path: str) -> None:
    from .._evaluation._plots import _pyplot, reliability_frame, reliability_line

    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5, 4.5))
    rows = [r for r in report["reliability"] if r["n"]]
    reliability_line(ax, rows, f"{name} (ECE {_num(report['ece'])})")
    reliability_frame(ax, "labels that apply")
    ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def run_eval_classify(args: argparse.Namespace) -> int:
    thresholds = _thresholds(args.thresholds)
    items = _items(args)
    scorer: Scorer = scorer_from_args(args)
    if args.calibrator:
        try:
            scorer = CalibratedScorer(scorer, load_calibrator(args.calibrator))
        except InvalidInputError as exc:
            raise UsageError(str(exc)) from exc
    probabilities = score_items(scorer, items, duplicates=args.task == "duplicates")
    report = classification_report(probabilities, [i.gold for i in items], thresholds=thresholds)
    dataset = Path(args.data).stem
    report.update({"scorer": scorer.name, "dataset": dataset, "calibrator": args.calibrator})
    print(markdown_classification(scorer.name, dataset, report))
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    if args.plot:
        _plot(report, scorer.name, args.plot)
    return 0


def run_calibrate_classify(args: argparse.Namespace) -> int:
    items = _items(args)
    scorer: BaseScorer = scorer_from_args(args)
    dataset = Path(args.data).stem
    calibrator, raw, held_out = calibrate_classifier(
        scorer,
        items,
        args.method,
        folds=args.folds,
        fitted_on={"dataset": dataset},
        duplicates=args.task == "duplicates",
    )
    gold = [i.gold for i in items]
    before = classification_report(raw, gold, thresholds=(0.5,))
    after = classification_report(held_out, gold, thresholds=(0.5,))
    calibrator.save(args.out)
    print(
        f"{args.method} calibrator for {scorer.name} fitted on {dataset} "
        f"({len(items)} texts, task {args.task}) -> {args.out}"
    )
    print(
        f"uncalibrated: ECE {_num(before['ece'])}, macro-F1 at 0.5 "
        f"{_num(before['thresholds'][0]['macro_f1'])}; calibrated, {args.folds}-fold "
        f"cross-validated by text: ECE {_num(after['ece'])}, macro-F1 at 0.5 "
        f"{_num(after['thresholds'][0]['macro_f1'])}"
    )
    print(f"use it: ctxcompress classify ... --scorer {args.scorer} --calibrator {args.out}")
    return 0
