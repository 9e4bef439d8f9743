"""Turning raw documents into pages: page markers, fixed-size chunks, PDF pages.

Every page keeps ``start``/``end`` character offsets into the text it was cut from (for
PDFs, into the concatenation of the page texts joined by form feeds), so a result maps
back to the source.
"""

from __future__ import annotations

import os
import re
import warnings
from pathlib import Path
from typing import Literal

from ._exceptions import InvalidInputError, MissingDependencyError, SinglePageWarning
from ._tokens import TokenCounter
from ._types import Page

__all__ = [
    "LONG_SINGLE_PAGE_CHARS",
    "PAGE_MARKER",
    "chunk_text",
    "decode_text",
    "load_document",
    "read_file_bytes",
    "split_pages",
]

# A line on its own such as "--- Page 12 ---", "=== page 3 ===", "[Page 7]" or
# "<!-- page 4 -->" starts a new page; the number, when present, becomes page_number.
# Lines may end in "\n", "\r\n" (a file saved on Windows) or a lone "\r" (old Macs): a
# marker is matched whatever the line ending, or such a file would silently be one page.
PAGE_MARKER = re.compile(
    r"(?:^|(?<=\r))[ \t]*(?:-{3,}|={3,}|\[|<!--)[ \t]*page(?:[ \t]+(\d+))?[ \t]*"
    r"(?:-{3,}|={3,}|\]|-->)[ \t]*(?=\r|\n|\Z)",
    re.IGNORECASE | re.MULTILINE,
)

#: A document longer than this that has no page breaks gets a SinglePageWarning: about
#: ten pages of prose, which nobody means to score as one page.
LONG_SINGLE_PAGE_CHARS = 20_000


def split_pages(text: str, *, source: str | None = None) -> list[Page]:
    """Split on form feeds, else on page-marker lines, else return the text as one page.

    Empty pages (only whitespace) are dropped from the output but keep their place in the
    numbering, so page numbers stay those of the source.

    Guide with examples: [Documents and token counters][guide-documents].
    """
    _check_text(text)
    if "\f" in text:
        return _pages_from_spans(_form_feed_spans(text), text, source)
    markers = list(PAGE_MARKER.finditer(text))
    if markers:
        pages = _pages_from_spans(_marker_spans(text, markers), text, source)
        if not pages:
            raise InvalidInputError(
                f"{source or 'the document'} holds page markers and no text between them"
            )
        return pages
    if len(text.strip()) > LONG_SINGLE_PAGE_CHARS:
        warnings.warn(
            f"{source or 'the document'} has no form feeds and no page-marker lines, so its "
            f"{len(text.strip()):,} characters are one page and nothing can be left out; "
            "cut it into chunks with chunk_size= (CLI: --chunk-size 4000)",
            SinglePageWarning,
            stacklevel=2,
        )
    return _pages_from_spans([(0, len(text), 1)], text, source)


def _form_feed_spans(text: str) -> list[tuple[int, int, int | None]]:
    spans: list[tuple[int, int, int | None]] = []
    start = 0
    for number, part in enumerate(text.split("\f"), start=1):
        spans.append((start, start + len(part), number))
        start += len(part) + 1
    return spans


def _marker_spans(text: str, markers: list[re.Match[str]]) -> list[tuple[int, int, int | None]]:
    spans: list[tuple[int, int, int | None]] = []
    if text[: markers[0].start()].strip():
        spans.append((0, markers[0].start(), None))  # preamble before the first marker
    for i, m in enumerate(markers):
        end = markers[i + 1].start() if i + 1 < len(markers) else len(text)
        number = int(m.group(1)) if m.group(1) else None
        spans.append((m.end(), end, number))
    return spans


def _pages_from_spans(
    spans: list[tuple[int, int, int | None]], text: str, source: str | None
) -> list[Page]:
    pages: list[Page] = []
    for start, end, number in spans:
        raw = text[start:end]
        stripped = raw.strip()
        if not stripped:
            continue
        lead = len(raw) - len(raw.lstrip())
        s = start + lead
        pages.append(
            Page(
                text=stripped,
                index=len(pages),
                source=source,
                page_number=number,
                start=s,
                end=s + len(stripped),
            )
        )
    return pages


def chunk_text(
    text: str,
    *,
    size: int,
    overlap: int = 0,
    unit: Literal["chars", "tokens"] = "chars",
    token_counter: TokenCounter | None = None,
    source: str | None = None,
) -> list[Page]:
    """Cut ``text`` into chunks of at most ``size`` characters (or tokens) with ``overlap``.

    Chunks end at a whitespace boundary when one is near, so words are not split. With
    ``unit="tokens"`` a ``token_counter`` is required and chunk sizes are measured with it.

    Guide with examples: [Documents and token counters][guide-documents].
    """
    _check_text(text)
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise InvalidInputError(f"chunk size must be an int >= 1, got {size!r}")
    if isinstance(overlap, bool) or not isinstance(overlap, int) or not 0 <= overlap < size:
        raise InvalidInputError(f"overlap must be an int with 0 <= overlap < size, got {overlap!r}")
    if unit not in ("chars", "tokens"):
        raise InvalidInputError(f"unit must be 'chars' or 'tokens', got {unit!r}")
    if unit == "tokens":
        if token_counter is None:
            raise InvalidInputError("unit='tokens' needs a token_counter")
        return _chunk_by_tokens(text, size, overlap, token_counter, source)
    return _chunk_spans(text, _char_spans(text, size, overlap), source)


def _char_spans(text: str, size: int, overlap: int) -> list[tuple[int, int]]:
    spans: list[tuple[int, int]] = []
    start = 0
    n = len(text)
    while start < n:
        end = min(start + size, n)
        if end < n:
            # Back off to the last whitespace in the final fifth of the window.
            cut = text.rfind(" ", start + size * 4 // 5, end)
            cut = max(cut, text.rfind("\n", start + size * 4 // 5, end))
            if cut > start:
                end = cut
        spans.append((start, end))
        if end >= n:
            break
        start = max(end - overlap, start + 1)
    return spans


def _chunk_by_tokens(
    text: str, size: int, overlap: int, counter: TokenCounter, source: str | None
) -> list[Page]:
    # Each word is counted once, with the whitespace before it, and chunk sizes are sums of
    # those counts: linear in the text, and with BPE tokenizers (which split at word
    # boundaries) equal or very close to counting the chunk as a whole.
    words = [(m.start(), m.end()) for m in re.finditer(r"\S+", text)]
    costs = [
        max(1, counter.count(text[(words[k - 1][1] if k else 0) : end]))
        for k, (_, end) in enumerate(words)
    ]
    spans: list[tuple[int, int]] = []
    i = 0
    while i < len(words):
        j, used = i, 0
        while j < len(words) and (j == i or used + costs[j] <= size):
            used += costs[j]
            j += 1
        spans.append((words[i][0], words[j - 1][1]))
        if j >= len(words):
            break
        back, carried = j, 0
        while back - 1 > i and carried + costs[back - 1] <= overlap:
            back -= 1
            carried += costs[back]
        i = back
    return _chunk_spans(text, spans, source)


def _chunk_spans(text: str, spans: list[tuple[int, int]], source: str | None) -> list[Page]:
    pages: list[Page] = []
    for start, end in spans:
        chunk = text[start:end]
        if chunk.strip():
            pages.append(Page(text=chunk, index=len(pages), source=source, start=start, end=end))
    return pages


def _check_text(text: object) -> None:
    if not isinstance(text, str):
        raise InvalidInputError(f"document text must be str, got {type(text).__name__}")
    if not text.strip():
        raise InvalidInputError("document is empty")


def load_document(
    path: str | os.PathLike[str],
    *,
    chunk_size: int | None = None,
    overlap: int = 0,
) -> list[Page]:
    """Read a .txt/.md/.pdf file into pages.

    PDFs give one page per PDF page (extra ``ctxcompress[pdf]``). Text files are split on
    form feeds or page markers; with ``chunk_size`` they are cut into character chunks
    instead. Binary files that are not PDFs are refused with a clear error.

    Guide with examples: [Documents and token counters][guide-documents].
    """
    file = Path(path)
    data = read_file_bytes(file)
    source = str(file)
    if data[:5] == b"%PDF-":
        return _load_pdf(file)
    text = decode_text(data, str(file))
    if not text.strip():
        raise InvalidInputError(f"{file} is empty")
    if chunk_size is not None:
        return chunk_text(text, size=chunk_size, overlap=overlap, source=source)
    return split_pages(text, source=source)


def read_file_bytes(file: Path) -> bytes:
    """A file's bytes, or an error that says what the path is instead (a directory, ...)."""
    if file.is_dir():
        raise InvalidInputError(f"{file} is a directory; give a file")
    if not file.exists():
        raise InvalidInputError(f"no such file: {file}")
    if not file.is_file():
        raise InvalidInputError(f"{file} is not a regular file; give a text, Markdown or PDF file")
    try:
        return file.read_bytes()
    except OSError as exc:
        raise InvalidInputError(f"cannot read {file}: {exc.strerror or exc}") from exc


# Byte-order marks: UTF-16 is what Windows tools call "Unicode"; it is text, not binary.
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")


def decode_text(data: bytes, name: str) -> str:
    """Bytes as text: UTF-8 (a BOM is dropped), or UTF-16 when a BOM says so; anything else
    (a binary file, another encoding) is an :class:`InvalidInputError` naming ``name``."""
    if data[:2] in _UTF16_BOMS:
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError as exc:
            raise InvalidInputError(f"{name} is not valid UTF-16 text (byte {exc.start})") from exc
    if b"\x00" in data[:8192]:
        raise InvalidInputError(
            f"{name} looks like a binary file; give a text, Markdown or PDF file"
        )
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvalidInputError(
            f"{name} is not UTF-8 text (byte {exc.start}); convert it to UTF-8 "
            "(e.g. iconv -f latin1 -t utf-8)"
        ) from exc


def _load_pdf(file: Path) -> list[Page]:
    try:
        from pypdf import PdfReader
    except ImportError as exc:
        raise MissingDependencyError("pypdf", "pdf", "reading PDF files") from exc
    try:
        reader = PdfReader(str(file))
        texts = [(page.extract_text() or "") for page in reader.pages]
    except Exception as exc:
        raise InvalidInputError(f"cannot read PDF {file}: {exc}") from exc
    pages: list[Page] = []
    offset = 0
    for number, raw in enumerate(texts, start=1):
        stripped = raw.strip()
        if stripped:
            pages.append(
                Page(
                    text=stripped,
                    index=len(pages),
                    source=str(file),
                    page_number=number,
                    start=offset,
                    end=offset + len(raw),
                )
            )
        offset += len(raw) + 1  # the form feed that joins PDF pages in the offset space
    if not pages:
        raise InvalidInputError(f"{file} has no extractable text (scanned PDF?)")
    return pages
