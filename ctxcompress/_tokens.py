"""Token counters: how big a context is, in the units an LLM bills and limits by.

Three counters share one protocol: tiktoken (OpenAI encodings, by name or by model), a
Hugging Face ``tokenizers`` file, and a whitespace fallback that needs nothing.
"""

from __future__ import annotations

import hashlib
import os
import re
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from ._exceptions import InvalidInputError, MissingDependencyError, TokenizerUnavailableError

__all__ = [
    "HFTokenCounter",
    "TiktokenCounter",
    "TokenCounter",
    "WhitespaceTokenCounter",
    "default_token_counter",
    "load_token_counter",
]

DEFAULT_ENCODING = "o200k_base"

# tiktoken names its cache files by the SHA-1 of the URL it would download; knowing the
# URLs lets the error say exactly which file is missing.
_TIKTOKEN_URLS = {
    "o200k_base": "https://openaipublic.blob.core.windows.net/encodings/o200k_base.tiktoken",
    "cl100k_base": "https://openaipublic.blob.core.windows.net/encodings/cl100k_base.tiktoken",
}


@runtime_checkable
class TokenCounter(Protocol):
    """Counts tokens in a text. ``name`` says which tokenizer, for reports.

    Guide with examples: [Documents and token counters][guide-documents].
    """

    @property
    def name(self) -> str: ...

    def count(self, text: str) -> int: ...


class WhitespaceTokenCounter:
    """Counts runs of non-space characters. Needs no files; a rough stand-in for BPE counts.

    Guide with examples: [Documents and token counters][guide-documents].
    """

    name = "whitespace"
    _pattern = re.compile(r"\S+")

    def count(self, text: str) -> int:
        return sum(1 for _ in self._pattern.finditer(text))

    def __repr__(self) -> str:
        return "WhitespaceTokenCounter()"


class TiktokenCounter:
    """Counts tokens with a tiktoken encoding, chosen by ``encoding`` name or by ``model``.

    Offline, tiktoken reads its BPE files from ``TIKTOKEN_CACHE_DIR``; when they are missing
    the constructor raises :class:`TokenizerUnavailableError` saying which file and where.

    Guide with examples: [Documents and token counters][guide-documents].
    """

    def __init__(self, encoding: str | None = None, *, model: str | None = None) -> None:
        if encoding is not None and model is not None:
            raise InvalidInputError("give either encoding= or model=, not both")
        try:
            import tiktoken
        except ImportError as exc:  # pragma: no cover - tiktoken is a core dependency
            raise MissingDependencyError("tiktoken", "tiktoken", "tiktoken token counting") from exc
        if model is not None:
            try:
                encoding = tiktoken.encoding_name_for_model(model)
            except KeyError as exc:
                raise InvalidInputError(f"tiktoken knows no model named {model!r}") from exc
        encoding = encoding or DEFAULT_ENCODING
        self._encoding = _load_tiktoken_encoding(encoding)
        self.name = f"tiktoken:{encoding}"

    def count(self, text: str) -> int:
        # disallowed_special=() counts special-token lookalikes in documents as plain text
        # instead of raising, since documents are data, not prompts.
        return len(self._encoding.encode(text, disallowed_special=()))

    def __repr__(self) -> str:
        return f"TiktokenCounter({self.name.split(':', 1)[1]!r})"


@lru_cache(maxsize=8)
def _load_tiktoken_encoding(encoding: str) -> Any:
    import tiktoken

    known = tiktoken.list_encoding_names()
    if encoding not in known:
        raise InvalidInputError(
            f"unknown tiktoken encoding {encoding!r}; known: {', '.join(known)}"
        )
    try:
        return tiktoken.get_encoding(encoding)
    except Exception as exc:  # tiktoken raises requests/urllib errors when offline
        raise TokenizerUnavailableError(_tiktoken_missing_message(encoding, exc)) from exc


def _tiktoken_missing_message(encoding: str, exc: BaseException) -> str:
    cache_dir = os.environ.get("TIKTOKEN_CACHE_DIR") or os.environ.get("DATA_GYM_CACHE_DIR")
    url = _TIKTOKEN_URLS.get(encoding)
    file_hint = f" (file {hashlib.sha1(url.encode()).hexdigest()})" if url else ""
    where = (
        f"TIKTOKEN_CACHE_DIR={cache_dir} does not hold it"
        if cache_dir
        else "TIKTOKEN_CACHE_DIR is not set"
    )
    return (
        f"tiktoken cannot load its BPE file for {encoding!r}{file_hint}: {where} and the "
        f"download failed ({type(exc).__name__}). Set TIKTOKEN_CACHE_DIR to a folder holding "
        "tiktoken's cached files, allow network access once, or use another token counter "
        "(e.g. WhitespaceTokenCounter / --tokenizer whitespace)."
    )


class HFTokenCounter:
    """Counts tokens with a Hugging Face ``tokenizer.json`` (the Rust ``tokenizers`` library).

    Special tokens (CLS/SEP...) are not counted: the count is of the text itself.

    Guide with examples: [Documents and token counters][guide-documents].
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        try:
            from tokenizers import Tokenizer
        except ImportError as exc:
            raise MissingDependencyError("tokenizers", "hf", "HFTokenCounter") from exc
        file = Path(path)
        if file.is_dir():
            file = file / "tokenizer.json"
        if not file.is_file():
            raise TokenizerUnavailableError(f"no tokenizer.json at {file}")
        try:
            self._tokenizer = Tokenizer.from_file(str(file))
        except Exception as exc:
            raise TokenizerUnavailableError(f"cannot read tokenizer file {file}: {exc}") from exc
        self._tokenizer.no_truncation()
        self.name = f"hf:{file}"

    def count(self, text: str) -> int:
        return len(self._tokenizer.encode(text, add_special_tokens=False).ids)

    def __repr__(self) -> str:
        return f"HFTokenCounter({self.name[3:]!r})"


def load_token_counter(spec: str) -> TokenCounter:
    """Build a token counter from a spec string.

    ``tiktoken`` (o200k_base), ``tiktoken:<encoding>``, ``tiktoken-model:<model>``,
    ``hf:<path to tokenizer.json or its folder>``, ``whitespace``.

    Guide with examples: [Documents and token counters][guide-documents].
    """
    scheme, _, arg = spec.partition(":")
    if scheme == "whitespace" and not arg:
        return WhitespaceTokenCounter()
    if scheme == "tiktoken":
        return TiktokenCounter(arg or None)
    if scheme == "tiktoken-model" and arg:
        return TiktokenCounter(model=arg)
    if scheme == "hf" and arg:
        return HFTokenCounter(arg)
    raise InvalidInputError(
        f"unknown tokenizer spec {spec!r}; use tiktoken[:<encoding>], tiktoken-model:<model>, "
        "hf:<tokenizer.json>, or whitespace"
    )


def default_token_counter() -> TokenCounter:
    """tiktoken ``o200k_base``: the encoding of current OpenAI models."""
    return TiktokenCounter(DEFAULT_ENCODING)
