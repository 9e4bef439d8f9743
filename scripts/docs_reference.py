"""Reference pages of the documentation site, generated at build time (an mkdocs hook).

Nothing here is a hand-kept list: the API reference is ``ctxcompress.__all__`` and each
integration package's ``__all__``, the CLI reference walks ``ctxcompress._cli.build_parser()``.
A public name added anywhere appears on the next build; one without a docstring, or whose
docstring mkdocstrings cannot render, fails ``mkdocs build --strict``.

mkdocs loads this file through ``hooks:`` in mkdocs.yml; tests import it to check coverage.
"""

from __future__ import annotations

import argparse
import ast
import importlib
import inspect
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
INTEGRATIONS = ROOT / "integrations"

API_PAGE = "reference/api.md"
INTEGRATIONS_PAGE = "reference/integrations.md"
CLI_PAGE = "reference/cli.md"
# argparse wraps help to the terminal's width; the page must not depend on who builds it.
_HELP_WIDTH = "96"


def core_names() -> list[str]:
    import ctxcompress

    return list(ctxcompress.__all__)


def _group(name: str) -> str:
    import ctxcompress

    obj = getattr(ctxcompress, name)
    if inspect.isclass(obj) and issubclass(obj, BaseException):
        return "Errors and warnings"
    if inspect.isclass(obj):
        return "Classes"
    if inspect.isfunction(obj):
        return "Functions"
    return "Constants and type aliases"


_GROUP_ORDER = ("Functions", "Classes", "Errors and warnings", "Constants and type aliases")


def api_markdown() -> str:
    groups: dict[str, list[str]] = {g: [] for g in _GROUP_ORDER}
    for name in sorted(core_names(), key=str.lower):
        groups[_group(name)].append(name)
    lines = [
        "# API reference",
        "",
        "Every name in `ctxcompress.__all__`, generated from its docstring; import them from",
        "`ctxcompress` itself (the private modules they live in may move). The integration",
        "packages are on [their own page](integrations.md).",
        "",
    ]
    for group in _GROUP_ORDER:
        lines += [f"## {group}", ""]
        for name in groups[group]:
            lines += [f"::: ctxcompress.{name}", ""]
    for module, names in public_submodules():
        lines += [f"## `{module}` {{ #{module} }}", ""]
        lines += [f"::: {module}.{name}\n" for name in sorted(names, key=str.lower)]
    return "\n".join(lines)


def public_submodules() -> list[tuple[str, list[str]]]:
    """``ctxcompress.<module>`` for each public module of the package that has ``__all__``
    (``evaluation``, ``ray``): read from the source when it is a literal, so that ``ray``
    is not imported, else from the imported module (``evaluation`` re-exports one)."""
    package = ROOT / "ctxcompress"
    found = []
    for path in sorted(package.glob("[!_]*.py")):
        module = f"ctxcompress.{path.stem}"
        names = _static_all(path)
        if names is None:
            names = list(getattr(importlib.import_module(module), "__all__", []))
        if names:
            found.append((module, names))
    return found


def integration_packages() -> list[tuple[str, str, list[str]]]:
    """(distribution folder, import name, ``__all__``) of every package under integrations/.

    The import name is the shallowest ``__init__.py`` that defines ``__all__`` (LlamaIndex
    packages live under namespace packages), read without importing the framework.
    """
    found = []
    for folder in sorted(p for p in INTEGRATIONS.iterdir() if p.is_dir()):
        inits = sorted(
            (p for p in folder.rglob("__init__.py") if "tests" not in p.relative_to(folder).parts),
            key=lambda p: len(p.parts),
        )
        for init in inits:
            names = _static_all(init)
            if names is not None:
                # A src layout (Haystack's integrations) imports from inside src/.
                base = folder / "src" if (folder / "src").is_dir() else folder
                module = ".".join(init.parent.relative_to(base).parts)
                found.append((folder.name, module, names))
                break
    return found


def _static_all(init: Path) -> list[str] | None:
    for node in ast.parse(init.read_text()).body:
        if (
            isinstance(node, ast.Assign)
            and isinstance(node.value, ast.List)
            and any(isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets)
        ):
            return [str(name) for name in ast.literal_eval(node.value)]
    return None


def integrations_markdown() -> str:
    lines = [
        "# Integration packages",
        "",
        "Each integration is a package of its own (`pip install <distribution>`), generated",
        "here from its `__all__`. Guides: [LangChain](../guides/langchain.md),",
        "[LlamaIndex](../guides/llamaindex.md).",
        "",
    ]
    for folder, module, names in integration_packages():
        lines += [f"## `{module}`", "", f"Distribution: `{folder}`.", ""]
        lines += [f"::: {module}.{name}" + "\n" for name in sorted(names, key=str.lower)]
    return "\n".join(lines)


def _subcommands(
    parser: argparse.ArgumentParser,
) -> Iterator[tuple[argparse.ArgumentParser, str | None]]:
    """Each subcommand's parser once (aliases share one), with its one-line help."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {a.dest: a.help for a in action._choices_actions}
            seen: set[int] = set()
            for name, sub in action.choices.items():
                if id(sub) not in seen:
                    seen.add(id(sub))
                    yield sub, helps.get(name)


def _walk(parser: argparse.ArgumentParser, depth: int, summary: str | None) -> Iterator[str]:
    yield f"{'#' * depth} `{parser.prog}`"
    yield ""
    for text in (summary, parser.description):
        if text:
            yield text.strip()
            yield ""
    yield "```text"
    yield parser.format_help().rstrip()
    yield "```"
    yield ""
    for sub, help_text in _subcommands(parser):
        yield from _walk(sub, min(depth + 1, 4), help_text)


def cli_markdown() -> str:
    from ctxcompress._cli import build_parser

    before = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = _HELP_WIDTH
    try:
        body = list(_walk(build_parser(), 2, None))
    finally:
        if before is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = before
    header = [
        "# CLI reference",
        "",
        "Generated from `ctxcompress --help` and each command's `--help`. Errors are one line",
        "on stderr: exit code 2 for a command line that cannot be acted on, 1 for a failure",
        "(an empty or binary document, a scorer error); `CTXCOMPRESS_DEBUG=1` shows",
        "tracebacks. `FILE` may be `-` or left out to read stdin.",
        "",
    ]
    return "\n".join(header + body)


def pages() -> dict[str, str]:
    return {
        API_PAGE: api_markdown(),
        INTEGRATIONS_PAGE: integrations_markdown(),
        CLI_PAGE: cli_markdown(),
    }


# mkdocs hook: the generated pages join the documentation files.
def on_files(files: Any, config: Any) -> Any:
    from mkdocs.structure.files import File

    for uri, content in pages().items():
        files.append(File.generated(config, uri, content=content))
    return files
