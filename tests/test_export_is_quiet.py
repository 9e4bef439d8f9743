"""An export (the default's first run does one) prints nothing of transformers' or
onnxruntime's own: no progress bars, no WARNING lines through the root logger (issue 19)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

ROOT = Path(__file__).resolve().parents[1]


def test_export_prints_no_third_party_progress_or_root_warnings(tmp_path: Path) -> None:
    script = textwrap.dedent(
        f"""
        import logging, sys, warnings
        sys.path.insert(0, {str(ROOT / "tests")!r})
        # An application that shows WARNING and above, as many do.
        logging.basicConfig(level=logging.WARNING)
        warnings.simplefilter("ignore")
        from random_models import save_random_bert
        from ctxcompress._scorers._onnx._export import export_bi_encoder
        from pathlib import Path
        from transformers.utils import logging as hf_logging
        hf_logging.disable_progress_bar()  # the test's own setup, not the export
        src = save_random_bert(Path({str(tmp_path / "src")!r}), head=False, seed=3)
        hf_logging.enable_progress_bar()
        export_bi_encoder(src, {str(tmp_path / "out")!r}, int8=True)
        print("done")
        """
    )
    run = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=300, cwd=ROOT
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip().endswith("done")
    assert "Loading weights" not in run.stderr
    assert "WARNING:root" not in run.stderr
    assert "WARNING:onnxruntime" not in run.stderr
    # Whatever remains on stderr is not another library's chatter.
    assert "it/s" not in run.stderr and "%|" not in run.stderr, run.stderr
