"""``ctxcompress score`` and ``ctxcompress classify``: raw probabilities as JSON."""

from __future__ import annotations

import argparse
import json

from .._calibration import load_calibrator
from .._classification import classify
from .._exceptions import InvalidInputError, UsageError
from .._scorers._calibrated import CalibratedScorer
from .._types import Criterion
from ._common import add_scorer_option, read_pages_file, read_text_arg, scorer_from_args

__all__ = ["add_parsers"]


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("score", help="score pages against one criterion; prints JSON")
    add_scorer_option(p)
    p.add_argument("--criterion", required=True, metavar="TEXT")
    p.add_argument("--instruction", help="per-call instruction for scorers that accept one")
    p.add_argument(
        "--pages",
        required=True,
        metavar="FILE",
        help='JSONL of {"text": ...} or a JSON list; "-" reads stdin',
    )
    p.set_defaults(run=run_score)

    c = sub.add_parser("classify", help="decide labels for a text; prints JSON")
    add_scorer_option(c)
    c.add_argument("text", nargs="?", help="the text; or --file, or stdin")
    c.add_argument("--file", help="read the text from this file")
    c.add_argument(
        "--label", action="append", default=[], metavar="NAME=DESCRIPTION", help="repeatable"
    )
    c.add_argument("--labels", metavar="FILE", help='a JSON object {"name": "description"}')
    c.add_argument("--threshold", type=float, default=0.5)
    c.add_argument(
        "--exclusive",
        action="store_true",
        help="at most one label applies: probabilities sum to at most 1, the top one decides",
    )
    c.add_argument(
        "--calibrator",
        metavar="FILE",
        help="a calibrator fitted by `ctxcompress calibrate --task classify`",
    )
    c.set_defaults(run=run_classify)


def run_score(args: argparse.Namespace) -> int:
    scorer = scorer_from_args(args)
    try:
        criterion = Criterion(id="c0", text=args.criterion, instruction=args.instruction)
    except InvalidInputError as exc:
        raise UsageError(str(exc)) from exc
    pages = read_pages_file(args.pages)
    if not pages:
        raise InvalidInputError(f"pages file {args.pages} holds no pages")
    scores = scorer.score(criterion, pages)
    print(
        json.dumps(
            {
                "scorer": scorer.name,
                "criterion": criterion.text,
                "scores": [round(s, 6) for s in scores],
            }
        )
    )
    return 0


def _labels(args: argparse.Namespace) -> dict[str, str]:
    labels: dict[str, str] = {}
    if args.labels:
        text, _ = read_text_arg(args.labels)
        try:
            loaded = json.loads(text)
        except json.JSONDecodeError as exc:
            raise UsageError(f"labels file {args.labels}: invalid JSON ({exc.msg})") from exc
        if not isinstance(loaded, dict) or not all(isinstance(v, str) for v in loaded.values()):
            raise UsageError(
                f"labels file {args.labels}: expected an object of name -> description"
            )
        labels.update(loaded)
    for item in args.label:
        name, sep, description = item.partition("=")
        if not sep or not name.strip() or not description.strip():
            raise UsageError(f"--label takes NAME=DESCRIPTION, got {item!r}")
        labels[name.strip()] = description.strip()
    if not labels:
        raise UsageError("give at least one --label NAME=DESCRIPTION or --labels FILE")
    return labels


def run_classify(args: argparse.Namespace) -> int:
    labels = _labels(args)
    if args.text is not None and args.file:
        raise UsageError("give the text as an argument or --file, not both")
    text = args.text if args.text is not None else read_text_arg(args.file)[0]
    scorer = scorer_from_args(args)
    if args.calibrator:
        try:
            scorer = CalibratedScorer(scorer, load_calibrator(args.calibrator))
        except InvalidInputError as exc:
            raise UsageError(str(exc)) from exc
    try:
        result = classify(text, labels, args.threshold, scorer=scorer, exclusive=args.exclusive)
    except InvalidInputError as exc:
        if "threshold" in str(exc):
            raise UsageError(str(exc)) from exc
        raise
    print(json.dumps(result.to_dict()))
    return 0
