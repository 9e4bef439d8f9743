"""Splitting documents into pages and chunks that map back to their source."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from ctxcompress import (
    InvalidInputError,
    WhitespaceTokenCounter,
    chunk_text,
    load_document,
    split_pages,
)


def test_form_feeds_split_pages_and_offsets_map_back() -> None:
    text = "first page\f  second page \f\fthird"
    pages = split_pages(text)
    assert [p.text for p in pages] == ["first page", "second page", "third"]
    assert [p.page_number for p in pages] == [1, 2, 4]  # the blank page 3 keeps its number
    for p in pages:
        assert text[p.start : p.end] == p.text


def test_page_markers_split_and_give_page_numbers(record_path: Path) -> None:
    pages = load_document(record_path)
    assert len(pages) == 40
    assert pages[0].page_number == 1 and pages[39].page_number == 40
    source = record_path.read_text()
    assert all(source[p.start : p.end] == p.text for p in pages)
    assert all("--- Page" not in p.text for p in pages)


@pytest.mark.parametrize(
    "marker", ["=== Page 3 ===", "[Page 3]", "<!-- page 3 -->", "--- PAGE 3 ---"]
)
def test_marker_styles(marker: str) -> None:
    pages = split_pages(f"intro\n{marker}\nbody")
    assert [p.text for p in pages] == ["intro", "body"]
    assert pages[1].page_number == 3


def test_text_without_markers_is_one_page() -> None:
    assert [p.text for p in split_pages("just text")] == ["just text"]


def test_char_chunks_respect_size_overlap_and_offsets() -> None:
    text = " ".join(f"word{i}" for i in range(300))
    chunks = chunk_text(text, size=100, overlap=20)
    assert len(chunks) > 1
    for c in chunks:
        assert len(c.text) <= 100
        assert text[c.start : c.end] == c.text
    for a, b in itertools.pairwise(chunks):
        assert b.start < a.end  # overlapping
    assert chunks[-1].end == len(text)


def test_token_chunks_respect_size() -> None:
    counter = WhitespaceTokenCounter()
    text = " ".join(f"w{i}" for i in range(95))
    chunks = chunk_text(text, size=10, overlap=3, unit="tokens", token_counter=counter)
    assert all(counter.count(c.text) <= 10 for c in chunks)
    assert chunks[0].text.split()[-3:] == chunks[1].text.split()[:3]
    assert chunks[-1].text.endswith("w94")


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"size": 0}, "size"),
        ({"size": 10, "overlap": 10}, "overlap"),
        ({"size": 10, "unit": "tokens"}, "token_counter"),
        ({"size": 10, "unit": "lines"}, "unit"),
    ],
)
def test_bad_chunk_arguments(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(InvalidInputError, match=match):
        chunk_text("some text", **kwargs)  # type: ignore[arg-type]


def test_empty_and_binary_files_are_refused(tmp_path: Path) -> None:
    (tmp_path / "empty.txt").write_text("  \n")
    (tmp_path / "blob.bin").write_bytes(b"\x7fELF\x00\x01\x02")
    (tmp_path / "latin.txt").write_bytes("caf\xe9".encode("latin-1"))
    with pytest.raises(InvalidInputError, match="empty"):
        load_document(tmp_path / "empty.txt")
    with pytest.raises(InvalidInputError, match="binary"):
        load_document(tmp_path / "blob.bin")
    with pytest.raises(InvalidInputError, match="UTF-8"):
        load_document(tmp_path / "latin.txt")
    with pytest.raises(InvalidInputError, match="no such file"):
        load_document(tmp_path / "missing.txt")


def _write_pdf(path: Path, page_texts: list[str]) -> None:
    """A minimal valid PDF with one text line per page (Helvetica), offsets computed."""
    objects = ["<< /Type /Catalog /Pages 2 0 R >>"]
    kids = " ".join(f"{4 + 2 * i} 0 R" for i in range(len(page_texts)))
    objects.append(f"<< /Type /Pages /Kids [{kids}] /Count {len(page_texts)} >>")
    objects.append("<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
    for i, text in enumerate(page_texts):
        stream = f"BT /F1 12 Tf 72 720 Td ({text}) Tj ET"
        objects.append(
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
            f"/Resources << /Font << /F1 3 0 R >> >> /Contents {5 + 2 * i} 0 R >>"
        )
        objects.append(f"<< /Length {len(stream)} >>\nstream\n{stream}\nendstream")
    out = b"%PDF-1.4\n"
    offsets = []
    for n, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{n} 0 obj\n{body}\nendobj\n".encode()
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += "".join(f"{o:010d} 00000 n \n" for o in offsets).encode()
    out += (
        f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    )
    path.write_bytes(out)


def test_pdf_pages(tmp_path: Path) -> None:
    pdf = tmp_path / "doc.pdf"
    _write_pdf(pdf, ["Methotrexate trial failed", "", "QuantiFERON negative"])
    pages = load_document(pdf)
    assert [p.text for p in pages] == ["Methotrexate trial failed", "QuantiFERON negative"]
    assert [p.page_number for p in pages] == [1, 3]
    assert pages[0].source == str(pdf)
