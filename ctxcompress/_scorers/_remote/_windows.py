"""Long pages for a server that tells its input limit (TEI), with no I/O.

TEI answers an error for a page longer than its model's max input length unless it was
started with auto-truncation. So, as local models do, a long page is scored over
overlapping windows that each fit, and its score is its best window's. The steps are a
generator: it yields the side requests it needs (``GET /info`` once per scorer, ``POST
/tokenize`` for the pages that may be too long) and the client's sync or async shell
sends them; a server without those endpoints gets the pages whole with ``truncate=true``
and a warning that text past the cut is not scored.
"""

from __future__ import annotations

import json
from collections.abc import Generator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal, TypeVar

from pydantic import BaseModel, ConfigDict, TypeAdapter, ValidationError

from ..._exceptions import InvalidInputError, WireError
from ..._types import FrozenMap
from .._base import PageNote, Scores
from ._core import Fetched, chunk
from ._providers import wire_error

__all__ = ["Fetch", "Layout", "ServerLimits", "read_limits", "windowed_layout"]

# Special tokens a (query, page) pair adds: [CLS] q [SEP] p [SEP] for BERT, one more for
# XLM-R's </s></s>. Windows keep this much room.
_PAIR_SPECIALS = 4
# TEI refuses to tokenize more than 250 characters per token of its limit; pages are
# tokenized in pieces well under that.
_PIECE_CHARS_PER_TOKEN = 100
_WINDOW_STRIDE = 0.5  # as the local cross-encoders: consecutive windows overlap by half


@dataclass(frozen=True)
class Fetch:
    """A side request for the shell to send: method, path under the base URL, JSON body."""

    method: Literal["GET", "POST"]
    path: str
    content: bytes = b""


@dataclass(frozen=True)
class ServerLimits:
    """What TEI's ``/info`` says about the texts it takes."""

    max_input_length: int
    max_client_batch_size: int


class _Info(BaseModel):
    model_config = ConfigDict(extra="ignore")
    max_input_length: int
    max_client_batch_size: int = 32


class _Token(BaseModel):
    model_config = ConfigDict(extra="ignore")
    start: int | None = None
    stop: int | None = None


_TOKENS = TypeAdapter(list[list[_Token]])
T = TypeVar("T")


@dataclass(frozen=True)
class Layout:
    """The texts sent for some pages: each page whole, or as windows; ``owners[i]`` is the
    page of ``texts[i]``, ``windows`` the pages sent as more than one text."""

    texts: tuple[str, ...]
    owners: tuple[int, ...]
    pages: int
    windows: Mapping[int, int] = field(default_factory=FrozenMap)
    limit: int = 0

    @classmethod
    def whole(cls, pages: Sequence[str]) -> Layout:
        return cls(tuple(pages), tuple(range(len(pages))), len(pages))

    def reduce(self, rows: Sequence[Sequence[float]]) -> Scores:
        """Scores per page from scores per text: a windowed page scores its best window."""
        if not self.windows:
            return Scores.of(rows)
        out = []
        for row in rows:
            best = [-1.0] * self.pages
            for owner, value in zip(self.owners, row, strict=True):
                best[owner] = max(best[owner], value)
            out.append(best)
        note = {
            page: PageNote(
                f"longer than the model's {self.limit} tokens: scored over {n} overlapping "
                "windows (max)",
                ("windowed",),
            )
            for page, n in self.windows.items()
        }
        notes = {(c, page): n for c in range(len(rows)) for page, n in note.items()}
        return Scores.of(out, notes)


def read_limits() -> Generator[Fetch, Fetched, ServerLimits | None]:
    """``GET /info``: the model's max input length; None where the server does not say."""
    got = yield Fetch("GET", "/info")
    if got.content is None:
        return None
    info = _validated(TypeAdapter(_Info), got.content)
    return ServerLimits(info.max_input_length, max(1, info.max_client_batch_size))


def windowed_layout(
    limits: ServerLimits, queries: Sequence[str], pages: Sequence[str], max_bytes: int
) -> Generator[Fetch, Fetched, Layout | None]:
    """Windows for the pages that do not fit beside the longest query; None where the
    server cannot tokenize (no ``/tokenize``)."""
    limit = limits.max_input_length
    longest_query = max((len(q.encode()) for q in queries), default=0)
    # No tokenizer makes more tokens than UTF-8 bytes: a page under this bound fits as it is.
    sure = [len(p.encode()) + longest_query + _PAIR_SPECIALS <= limit for p in pages]
    if all(sure):
        return Layout.whole(pages)
    piece_chars = limit * _PIECE_CHARS_PER_TOKEN
    pieces: list[tuple[int, str]] = []  # (page, text) of the pages that may not fit
    for i, page in enumerate(pages):
        if not sure[i]:
            pieces += [(i, page[s : s + piece_chars]) for s in range(0, len(page), piece_chars)]
    spans = yield from _tokenize(
        [*queries, *(text for _, text in pieces)], limits.max_client_batch_size, max_bytes
    )
    if spans is None:
        return None
    query_tokens = max((len(s) for s in spans[: len(queries)]), default=0)
    budget = limit - query_tokens - _PAIR_SPECIALS
    if budget < 8:
        raise InvalidInputError(
            f"tei: a criterion is {query_tokens} tokens, too long for the model's "
            f"{limit}-token input"
        )
    windows_of: dict[int, list[str]] = {}
    for (owner, text), token_spans in zip(pieces, spans[len(queries) :], strict=True):
        windows_of.setdefault(owner, []).extend(_windows(text, token_spans, budget))
    texts: list[str] = []
    owners: list[int] = []
    for i, page in enumerate(pages):
        parts = windows_of.get(i, [page])
        texts += parts
        owners += [i] * len(parts)
    windowed = {page: len(w) for page, w in windows_of.items() if len(w) > 1}
    return Layout(tuple(texts), tuple(owners), len(pages), FrozenMap(windowed), limit)


def _tokenize(
    texts: Sequence[str], batch: int, max_bytes: int
) -> Generator[Fetch, Fetched, list[list[tuple[int, int]]] | None]:
    """Byte spans of each text's tokens (TEI's offsets are byte offsets), batch by batch."""
    spans: list[list[tuple[int, int]]] = []
    for start, stop in chunk(texts, batch, max_bytes):
        body = {"inputs": list(texts[start:stop]), "add_special_tokens": False}
        got = yield Fetch("POST", "/tokenize", json.dumps(body).encode())
        if got.content is None:
            return None
        tokens = _validated(_TOKENS, got.content)
        if len(tokens) != stop - start:
            raise WireError(f"/tokenize answered {len(tokens)} lists for {stop - start} inputs")
        spans += [
            [(t.start, t.stop) for t in text if t.start is not None and t.stop is not None]
            for text in tokens
        ]
    return spans


def _validated(adapter: TypeAdapter[T], content: bytes) -> T:
    try:
        return adapter.validate_json(content)
    except ValidationError as exc:
        raise wire_error(exc) from exc


def _windows(text: str, spans: Sequence[tuple[int, int]], budget: int) -> list[str]:
    """The text whole if its tokens fit ``budget``, else overlapping windows of them."""
    if len(spans) <= budget:
        return [text]
    data = text.encode()
    step = max(1, int(budget * _WINDOW_STRIDE))
    out = []
    for start in range(0, len(spans), step):
        end = min(start + budget, len(spans))
        # A byte-level token may end inside a character: drop the partial bytes at the edges.
        out.append(data[spans[start][0] : spans[end - 1][1]].decode("utf-8", "ignore"))
        if end == len(spans):
            break
    return out
