"""The examples run offline, as a user would run them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


@pytest.mark.parametrize(
    ("script", "needle"),
    [
        ("demo.py", "evidence pages kept"),
        ("standalone_filter.py", "page 14"),
        ("langchain_rag.py", "relevance"),
        ("llamaindex_rag.py", "page 16"),
        ("haystack_rag.py", "page 16"),
    ],
)
def test_example_runs(script: str, needle: str) -> None:
    # Offline: Haystack would otherwise try to send usage statistics.
    env = {**os.environ, "HAYSTACK_TELEMETRY_ENABLED": "False"}
    proc = subprocess.run(
        [sys.executable, str(EXAMPLES / script)],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr
    assert needle in proc.stdout
