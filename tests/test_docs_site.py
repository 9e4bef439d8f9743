"""The documentation site: it builds strictly, its API reference has an entry for every
public name, and every public class and function points to an example."""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import os
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

import ctxcompress

from .docs_snippets import DOCS, ROOT


def _reference_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "docs_reference", ROOT / "scripts" / "docs_reference.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


REFERENCE = _reference_module()


def _public_objects() -> list[tuple[str, object]]:
    found: list[tuple[str, object]] = [
        (f"ctxcompress.{n}", getattr(ctxcompress, n)) for n in ctxcompress.__all__
    ]
    for _folder, module, names in REFERENCE.integration_packages():
        imported = pytest.importorskip(module)
        found += [(f"{module}.{n}", getattr(imported, n)) for n in names]
    return found


def _guide_anchors() -> dict[str, Path]:
    """Heading anchors (``{ #anchor }``) of the pages that have a runnable example."""
    anchors = {}
    for page in DOCS.rglob("*.md"):
        text = page.read_text()
        if "```python" in text:
            for anchor in re.findall(r"\{ #([\w.-]+) \}", text):
                anchors[anchor] = page
    return anchors


def test_every_public_class_and_function_has_an_example_or_a_guide_with_one() -> None:
    anchors = _guide_anchors()
    missing = []
    for name, obj in _public_objects():
        if not (inspect.isclass(obj) or inspect.isfunction(obj)):
            continue  # constants and type aliases
        # The object's own docstring: a class must not pass on its base's.
        doc = obj.__dict__.get("__doc__") if inspect.isclass(obj) else obj.__doc__
        doc = doc or ""
        has_example = ">>>" in doc or "```" in doc or "::\n" in doc
        links = re.findall(r"\]\[([\w.-]+)\]", doc)
        if not has_example and not any(link in anchors for link in links):
            missing.append(name)
    assert missing == []


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("site")
    proc = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    return out


def test_the_api_reference_has_an_entry_for_every_public_name(site: Path) -> None:
    ids = set(re.findall(r'id="([\w.]+)"', (site / "reference/api/index.html").read_text()))
    ids |= set(
        re.findall(r'id="([\w.]+)"', (site / "reference/integrations/index.html").read_text())
    )
    wanted = {f"ctxcompress.{n}" for n in ctxcompress.__all__}
    for _folder, module, names in REFERENCE.integration_packages():
        wanted |= {f"{module}.{n}" for n in names}
    for module, names in REFERENCE.public_submodules():
        wanted |= {f"{module}.{n}" for n in names}
    assert sorted(wanted - ids) == []


def test_the_cli_reference_has_every_command(site: Path) -> None:
    from ctxcompress._cli import build_parser

    html = (site / "reference/cli/index.html").read_text()
    commands = REFERENCE._subcommands(build_parser())
    names = [sub.prog for sub, _help in commands]
    assert len(names) >= 10
    for prog in names:
        assert f"<code>{prog}</code>" in html, prog
    assert "--max-batch-pairs" in html  # each command's options, from its own --help
