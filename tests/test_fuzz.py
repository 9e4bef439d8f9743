"""Property-based fuzzing of the input path (issue 25): whatever bytes, encoding, line
endings, page markers and policy values come in, the answer is a valid result or one of
ctxcompress's typed errors, never another exception; kept pages are pages of the document
and every token budget holds."""

from __future__ import annotations

import math
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ctxcompress import (
    BM25Scorer,
    Compressor,
    CtxCompressError,
    Page,
    build_policy,
    load_document,
)

FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

WORDS = ["tb", "screening", "methotrexate", "négatif", "日本", "page", "--", "$40", "\t", " "]
MARKERS = [
    "--- Page {n} ---",
    "=== page ===",
    "[Page {n}]",
    "<!-- page {n} -->",
    "  --- PAGE {n} ---  ",
    "\f",
    "----- page {n}",  # not a marker: no closing dashes
]
ENDINGS = ["\n", "\r\n", "\r"]
ENCODINGS = ["utf-8", "utf-8-sig", "utf-16", "latin-1", "cp1252", "utf-16-le"]


@st.composite
def documents(draw: st.DrawFn) -> bytes:
    if draw(st.booleans()) and draw(st.booleans()):
        return draw(st.binary(max_size=400))
    ending = draw(st.sampled_from(ENDINGS))
    lines = []
    for _ in range(draw(st.integers(0, 25))):
        if draw(st.integers(0, 3)) == 0:
            lines.append(draw(st.sampled_from(MARKERS)).format(n=draw(st.integers(0, 999))))
        else:
            lines.append(" ".join(draw(st.lists(st.sampled_from(WORDS), max_size=12))))
    if draw(st.booleans()):
        lines.append(draw(st.text(max_size=40)))
    text = ending.join(lines)
    encoding = draw(st.sampled_from(ENCODINGS))
    return text.encode(encoding, errors="replace")


numbers = st.one_of(
    st.none(),
    st.integers(-3, 60),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.just("5"),
)


def check_pages(pages: list[Page]) -> None:
    assert pages, "a document gives at least one page or an error"
    for i, page in enumerate(pages):
        assert page.index == i
        assert page.text.strip()
        assert page.start is not None and page.end is not None and page.start <= page.end


@FUZZ
@given(
    documents(),
    st.one_of(st.none(), st.integers(-2, 300)),
    st.integers(-2, 50),
    st.fixed_dictionaries(
        {"threshold": numbers, "top_k": numbers, "max_tokens": numbers, "min_keep": numbers}
    ),
    st.one_of(st.none(), st.integers(-1, 400)),
    st.lists(st.sampled_from(["tb screening", "methotrexate", "", "日本", "  "]), max_size=3),
)
def test_documents_and_policies_give_results_or_typed_errors(
    data: bytes,
    chunk_size: int | None,
    overlap: int,
    knobs: dict[str, Any],
    union_budget: int | None,
    criteria: list[str],
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        file = Path(tmp) / "doc.txt"
        file.write_bytes(data)
        try:
            pages = load_document(file, chunk_size=chunk_size, overlap=overlap)
        except CtxCompressError:
            return
    check_pages(pages)
    try:
        policy = build_policy(**knobs)
        compressor = Compressor(BM25Scorer(), policy, "whitespace", union_max_tokens=union_budget)
        result = compressor.compress(pages, criteria)
    except CtxCompressError:
        return
    texts = {p.text for p in pages}
    max_tokens = knobs["max_tokens"]
    for selection in result.selections:
        assert {sp.page.text for sp in selection.kept} <= texts
        assert len(selection.decisions) == len(pages)
        if isinstance(max_tokens, int) and not isinstance(max_tokens, bool):
            assert selection.tokens_kept <= max_tokens
        top_k = knobs["top_k"]
        if isinstance(top_k, int) and not isinstance(top_k, bool):
            assert len(selection.kept) <= top_k
        for sp in selection.kept:
            assert sp.score is None or (math.isfinite(sp.score) and 0.0 <= sp.score <= 1.0)
    assert {p.text for p in result.union.pages} <= texts
    if union_budget is not None:
        assert result.union.tokens_kept <= union_budget
