"""Splitting a page into passages that respect its structure, with exact offsets.

A passage is a character range ``[start, end)`` of ``page.text`` that holds no leading or
trailing whitespace. Prose is cut into sentences (a line break after a short heading line,
or before a list marker, also ends one); tables are cut into rows, and a row is never cut:
a row label wrapped over several lines travels with the line that holds its figures. The
short lines just above a table's first row are its header, and every row of the table
points to them (:attr:`Passage.header`), so a kept row can take its header along.

Everything runs in one pass over the lines with precompiled patterns: a 200,000-character
page splits in milliseconds.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from typing import Literal

from ._exceptions import InvalidInputError

__all__ = ["DEFAULT_MAX_CHARS", "Passage", "PassageKind", "split_passages"]

#: The longest a prose passage may be before it is cut at a space (table rows are never cut).
DEFAULT_MAX_CHARS = 600

PassageKind = Literal["prose", "row", "header"]

# A table row: cells separated by a tab, a pipe or a run of two or more spaces, at least
# two such gaps (so "Net income  805  805" is a row, an indented sentence is not).
_CELL_GAP = re.compile(r"\t| *\| *|[ \xa0]{2,}")
_FIGURE = re.compile(r"[$(]?-?\d[\d,.]*%?\)?|—|–")
_LIST_MARKER = re.compile(
    r"\s*(?:[•·▪◦●\-*–]\s|\(?[0-9]{1,3}[.)]\s|\(?[a-zA-Z][.)]\s|\([ivxlcIVXLC]{1,5}\)\s)"
)
# A sentence ends at . ! ? (optionally closed by a quote or bracket) followed by space and
# something that can start a sentence. Abbreviations are checked separately.
_SENTENCE_END = re.compile(r"[.!?][\"'”’)\]]*(?=\s+[\"'“‘(\[]?[A-Z0-9•])")
_ABBREVIATION = re.compile(
    r"(?:\b(?:[A-Z]|Inc|Ltd|Co|Corp|No|Nos|Mr|Mrs|Ms|Dr|St|vs|etc|e\.g|i\.e|U\.S|Art|Sec|"
    r"para|approx|Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec)\.)$"
)
_HEADING_LINE = 60  # a shorter line ending without a comma, before a capital, is a heading
_SHORT_LINE = 80  # a line this short without final punctuation reads as a heading or label
_HEADER_MAX_LINES = 12
_WRAPPED_LABEL = 200  # a row label wrapped over lines: at most this long a line
_MAX_HELD = 4  # lines without figures inside a table before it counts as ended
_HEADER_MAX_CHARS = 400


@dataclass(frozen=True, slots=True)
class Passage:
    """One passage of a page: ``text[start:end]``, what kind it is, and for a table row
    the ``(start, end)`` of its table's header lines (None when the table has none).

    Guide with examples: [Passage pruning][guide-pruning].
    """

    start: int
    end: int
    kind: PassageKind = "prose"
    header: tuple[int, int] | None = None

    def __len__(self) -> int:
        return self.end - self.start


@dataclass(frozen=True, slots=True)
class _Line:
    start: int  # offset of the first non-space character
    end: int  # offset just past the last non-space character
    text: str  # the stripped line

    @property
    def tabular(self) -> bool:
        if "\t" in self.text or self.text.count("|") >= 2:
            return True
        # Most lines are prose with single spaces: no cell gap to split at (the regex's
        # " *\| *" branch makes splitting a long line slow).
        gap = "  " in self.text or "\xa0" in self.text or "|" in self.text
        cells = _CELL_GAP.split(self.text) if gap else [self.text]
        if len(cells) < 2:
            # Single-spaced statements: "Accounts payable 12,133 10,574" ends in two figures.
            tail = self.text.replace("$ ", "$").rsplit(" ", 2)
            return len(tail) == 3 and all(_FIGURE.fullmatch(t) for t in tail[1:])
        figures = sum(1 for c in cells if _FIGURE.fullmatch(c.strip()))
        # "Tax expense  300  193" and "Other  4": a label then figures. Two cells of words
        # ("shares.  Fiscal year 2022 ...") is prose typed with two spaces after a period.
        return figures >= 1 and (
            len(cells) >= 3 or _FIGURE.fullmatch(cells[-1].strip()) is not None
        )


def _lines(text: str) -> list[_Line | None]:
    """Every line of ``text`` stripped, with its offsets; None for a blank line."""
    out: list[_Line | None] = []
    pos = 0
    for raw in text.splitlines(keepends=True):
        body = raw.rstrip("\r\n\u2028\u2029\x0b\x0c\x1c\x1d\x1e\x85")
        stripped = body.strip()
        if stripped:
            start = pos + (len(body) - len(body.lstrip()))
            out.append(_Line(start, start + len(stripped), stripped))
        else:
            out.append(None)
        pos += len(raw)
    return out


def split_passages(text: str, max_chars: int = DEFAULT_MAX_CHARS) -> tuple[Passage, ...]:
    """The passages of ``text`` in order, non-overlapping, each ``text[start:end]`` exactly.

    A page of whitespace has none; a page of one sentence has one. Prose passages longer
    than ``max_chars`` are cut at a space (or hard, for a run without spaces); table rows
    and header lines are kept whole whatever their length.

    Guide with examples: [Passage pruning][guide-pruning].
    """
    if isinstance(max_chars, bool) or not isinstance(max_chars, int) or max_chars < 20:
        raise InvalidInputError(f"max_chars must be an int >= 20, got {max_chars!r}")
    lines = _lines(text)
    out: list[Passage] = []
    prose: list[_Line] = []  # the current run of prose lines, split into sentences at its end
    i = 0
    while i < len(lines):
        line = lines[i]
        if line is None:
            out.extend(_prose(text, prose, max_chars))
            prose = []
            i += 1
            continue
        if not line.tabular:
            prose.append(line)
            i += 1
            continue
        # A table starts here. A long line just above it without a full stop is its first
        # row's label, wrapped; the run of short lines above that is the table's header.
        lead: list[_Line] = []
        last = prose[-1].text if prose else ""
        if _SHORT_LINE < len(last) <= _WRAPPED_LABEL and not last.endswith((".", ":")):
            lead.append(prose.pop())
        header_lines = _take_header(prose)
        out.extend(_prose(text, prose, max_chars))
        prose = []
        header = (header_lines[0].start, header_lines[-1].end) if header_lines else None
        if header is not None:
            out.append(Passage(header[0], header[1], "header"))
        i = _table(lines, i, header, lead, out)
    out.extend(_prose(text, prose, max_chars))
    return tuple(out)


def _take_header(prose: list[_Line]) -> list[_Line]:
    """Pop the short lines at the end of ``prose`` that head the table below them."""
    taken: list[_Line] = []
    chars = 0
    while prose and len(taken) < _HEADER_MAX_LINES:
        line = prose[-1]
        if len(line.text) > _SHORT_LINE or line.text.endswith((".", ";")):
            break
        if chars + len(line.text) > _HEADER_MAX_CHARS:
            break
        taken.insert(0, prose.pop())
        chars += len(line.text)
        if line.text.endswith(":"):  # "The table below shows:" closes the header
            break
    return taken


def _table(
    lines: list[_Line | None],
    i: int,
    header: tuple[int, int] | None,
    held: list[_Line],
    out: list[Passage],
) -> int:
    """Emit the rows of the table starting at line ``i``; return the first line after it.

    Short non-tabular lines inside the table (a row label wrapped over lines, a sub-heading)
    are held and emitted with the next tabular line, so no row is ever split; the table ends
    at a blank line, a long prose line or a run of lines without figures.
    """
    while i < len(lines):
        line = lines[i]
        if line is None:
            break
        if not line.tabular:
            if len(line.text) > _WRAPPED_LABEL or len(held) >= _MAX_HELD:
                break
            held.append(line)
            i += 1
            continue
        first = held[0] if held else line
        out.append(Passage(first.start, line.end, "row", header))
        held = []
        i += 1
    # Lines held at the end of the table belong to what follows; step back over them.
    return i - len(held)


def _prose(text: str, run: list[_Line], max_chars: int) -> list[Passage]:
    """Sentences of a run of prose lines (which may wrap mid-sentence)."""
    if not run:
        return []
    # Hard breaks: before a list marker, and after a short line without final punctuation
    # (a heading), since those are never the middle of a sentence.
    blocks: list[tuple[int, int]] = []
    start = run[0].start
    for prev, line in itertools.pairwise(run):
        heading = (
            len(prev.text) <= _HEADING_LINE
            and not prev.text.endswith((",", "-", "(", "and", "or", "of", "the"))
            and (line.text[0].isupper() or line.text[0].isdigit())
        )
        if heading or _LIST_MARKER.match(line.text):
            blocks.append((start, prev.end))
            start = line.start
    blocks.append((start, run[-1].end))
    out: list[Passage] = []
    for a, b in blocks:
        for s, e in _sentences(text, a, b):
            out.extend(_cut(text, s, e, max_chars))
    return out


def _sentences(text: str, a: int, b: int) -> list[tuple[int, int]]:
    spans: list[tuple[int, int]] = []
    start = a
    for match in _SENTENCE_END.finditer(text, a, b):
        end = match.end()
        if match.group()[0] == "." and _ABBREVIATION.search(text, max(a, end - 8), end):
            continue
        if end - start < 15:  # "1." or "(a)": not a sentence of its own
            continue
        spans.append((start, end))
        start = end
        while start < b and text[start].isspace():
            start += 1
    if start < b:
        spans.append((start, b))
    return [(s, _rstrip(text, s, e)) for s, e in spans if _rstrip(text, s, e) > s]


def _rstrip(text: str, s: int, e: int) -> int:
    while e > s and text[e - 1].isspace():
        e -= 1
    return e


def _cut(text: str, s: int, e: int, max_chars: int) -> list[Passage]:
    """A sentence longer than ``max_chars`` cut at spaces into near-equal pieces."""
    out: list[Passage] = []
    while e - s > max_chars:
        cut = text.rfind(" ", s + max_chars // 2, s + max_chars)
        cut = cut if cut > s else s + max_chars
        end = _rstrip(text, s, cut)
        out.append(Passage(s, end))
        s = cut
        while s < e and text[s].isspace():
            s += 1
    if e > s:
        out.append(Passage(s, e))
    return out
