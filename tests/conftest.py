"""Shared test setup: offline tiktoken files and small documents."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"


def _ensure_tiktoken_cache() -> None:
    # `make test` exports TIKTOKEN_CACHE_DIR; a bare `pytest` gets a private copy of
    # ../shared/tiktoken so tiktoken never tries the network.
    if os.environ.get("TIKTOKEN_CACHE_DIR") or not (SHARED / "tiktoken").is_dir():
        return
    target = ROOT / ".cache" / "tiktoken"
    target.mkdir(parents=True, exist_ok=True)
    for f in (SHARED / "tiktoken").iterdir():
        if not (target / f.name).exists():
            shutil.copy(f, target / f.name)
    os.environ["TIKTOKEN_CACHE_DIR"] = str(target)


_ensure_tiktoken_cache()

# The embedded MiniLM is exported to ONNX once, into the checkout's .cache (not the user's
# cache directory), and reused by later runs.
os.environ.setdefault("CTXCOMPRESS_CACHE_DIR", str(ROOT / ".cache" / "ctxcompress"))


@pytest.fixture
def record_path() -> Path:
    return ROOT / "examples" / "prior_auth" / "record.txt"


@pytest.fixture
def small_pages() -> list[str]:
    return [
        "Cover sheet. Fax from the clinic to the health plan, 12 pages.",
        "The patient had a failed trial of metformin for six months; HbA1c stayed at 9.1.",
        "Billing statement: office visit, copay due, payment options.",
        "Metformin was stopped for gastrointestinal intolerance after a failed trial.",
        "Appointment reminder: bring your insurance card.",
    ]
