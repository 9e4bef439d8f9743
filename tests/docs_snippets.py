"""The Python snippets of the documentation site, as the tests run them.

A page's ```python blocks run in order in one namespace (a later block may use what an
earlier one defined), in a scratch directory holding what the snippets name: ``examples/``
(the repository's), ``my-reranker/`` and ``ms-marco-MiniLM-L6-v2/`` (a tiny cross-encoder), and ``~`` pointing there too.

A block that needs a network or a key says so in an HTML comment on the line above it,
invisible on the site; the test then stands a loopback server in for the real one:

- ``<!-- snippet: rerank-server PROVIDER -->``: tests/rerank_server.py speaking PROVIDER's
  API, its URL and key in the provider's environment variables;
- ``<!-- snippet: hub -->``: tests/hub_server.py serving a tiny model under every
  ``hub:owner/name`` the block names, as ``HF_ENDPOINT``;
- ``<!-- snippet: serve -->``: a real ``ctxcompress serve --scorer bm25`` process; the
  block's ``127.0.0.1:8080`` is replaced by its address.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"

_BLOCK = re.compile(
    r"(?:<!--\s*snippet:\s*(?P<marker>[^>]*?)\s*-->\s*\n)?^```python[^\n]*\n(?P<code>.*?)^```",
    re.S | re.M,
)


@dataclass(frozen=True)
class Snippet:
    page: str
    line: int
    code: str
    marker: str | None


def snippets(page: Path) -> list[Snippet]:
    text = page.read_text()
    return [
        Snippet(
            page.relative_to(ROOT).as_posix(),
            text.count("\n", 0, m.start("code")) + 1,
            m.group("code"),
            m.group("marker"),
        )
        for m in _BLOCK.finditer(text)
    ]


def pages_with_snippets() -> list[Path]:
    return [p for p in sorted(DOCS.rglob("*.md")) if snippets(p)]
