"""Test-only scorers for `ctxcompress serve`, registered before the real CLI runs.

``gated:<spec>`` wraps a real scorer: a query containing ``FAIL`` raises a ScoringError,
and a query containing ``WAIT`` blocks until the file named by $CTXCOMPRESS_TEST_GATE
exists, so tests can hold requests in flight without sleeping. ``slowload:<path>`` is BM25 that loads only once
``<path>`` exists (the server answers 503 while loading).
Run as ``python -m tests.serve_plugin serve ...``.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ctxcompress import Criterion, ScoringError, load_scorer, register_scheme
from ctxcompress._cli import main


def _wait_for(path: Path, limit: float = 120.0) -> None:
    deadline = time.monotonic() + limit
    while not path.exists():
        if time.monotonic() > deadline:
            raise ScoringError(f"gate {path} never opened")
        time.sleep(0.01)


class GatedScorer:
    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.name = f"gated({inner.name})"
        self.pointwise = inner.pointwise
        self.fingerprint = inner.fingerprint

    def score(self, criterion: Any, pages: Sequence[Any]) -> list[float]:
        return self.score_batch([criterion], pages)[0]

    def score_batch(self, criteria: Sequence[Any], pages: Sequence[Any]) -> list[list[float]]:
        for c in criteria:
            text = c.text if isinstance(c, Criterion) else c
            if "FAIL" in text:
                raise ScoringError("the test scorer failed on purpose")
            if "WAIT" in text:
                _wait_for(Path(os.environ["CTXCOMPRESS_TEST_GATE"]))
        rows: list[list[float]] = self.inner.score_batch(criteria, pages)
        return rows


def _gated(argument: str, **options: Any) -> Any:
    return GatedScorer(load_scorer(argument or "bm25", **options))


def _slowload(argument: str, **options: Any) -> Any:
    _wait_for(Path(argument))
    return load_scorer("bm25", **options)


register_scheme("gated", _gated, usage="gated:<spec>")
register_scheme("slowload", _slowload, usage="slowload:<path>")

if __name__ == "__main__":
    sys.exit(main())
