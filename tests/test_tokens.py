"""Token counters against real tokenizer files: tiktoken's cache and a tokenizer.json."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from ctxcompress import (
    HFTokenCounter,
    InvalidInputError,
    TiktokenCounter,
    TokenCounter,
    TokenizerUnavailableError,
    WhitespaceTokenCounter,
    load_token_counter,
)


def test_tiktoken_counts_by_encoding_and_by_model() -> None:
    o200k = TiktokenCounter("o200k_base")
    assert o200k.count("hello world") == 2
    assert o200k.name == "tiktoken:o200k_base"
    assert TiktokenCounter(model="gpt-4o").name == "tiktoken:o200k_base"
    assert TiktokenCounter("cl100k_base").count("hello world") == 2


def test_tiktoken_treats_special_token_text_as_plain_text() -> None:
    assert TiktokenCounter().count("<|endoftext|>") > 1


def test_unknown_encoding_and_model_are_named() -> None:
    with pytest.raises(InvalidInputError, match="nope_base"):
        TiktokenCounter("nope_base")
    with pytest.raises(InvalidInputError, match="not-a-model"):
        TiktokenCounter(model="not-a-model")


def test_missing_tiktoken_files_say_what_and_how(tmp_path: Path) -> None:
    # A fresh interpreter (tiktoken caches encodings in-process), an empty cache folder and a
    # proxy on a closed loopback port: the download fails at once on any machine.
    env = dict(
        os.environ,
        TIKTOKEN_CACHE_DIR=str(tmp_path),
        HTTPS_PROXY="http://127.0.0.1:9",
        HTTP_PROXY="http://127.0.0.1:9",
        NO_PROXY="",
    )
    code = (
        "from ctxcompress import TiktokenCounter, TokenizerUnavailableError\n"
        "try:\n    TiktokenCounter('cl100k_base')\n"
        "except TokenizerUnavailableError as e:\n    print(e)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    assert "TIKTOKEN_CACHE_DIR" in out
    assert str(tmp_path) in out
    assert "9b5ad71b2ce5302211f9c61530b329a4922fc6a4" in out  # the exact file to provide


def _word_level_tokenizer(path: Path) -> Path:
    from tokenizers import Tokenizer, models, pre_tokenizers

    vocab = {"[UNK]": 0, "hello": 1, "world": 2, ",": 3}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    file = path / "tokenizer.json"
    tok.save(str(file))
    return file


def test_hf_counter_reads_a_tokenizer_file_or_its_folder(tmp_path: Path) -> None:
    file = _word_level_tokenizer(tmp_path)
    assert HFTokenCounter(file).count("hello, world") == 3
    assert HFTokenCounter(tmp_path).count("hello unknown") == 2


def test_hf_counter_missing_file_is_clear(tmp_path: Path) -> None:
    with pytest.raises(TokenizerUnavailableError, match=r"tokenizer\.json"):
        HFTokenCounter(tmp_path / "nowhere")


def test_whitespace_counter() -> None:
    assert WhitespaceTokenCounter().count("  a b\n c ") == 3


def test_specs(tmp_path: Path) -> None:
    assert load_token_counter("whitespace").name == "whitespace"
    assert load_token_counter("tiktoken").name == "tiktoken:o200k_base"
    assert load_token_counter("tiktoken:cl100k_base").name == "tiktoken:cl100k_base"
    assert load_token_counter("tiktoken-model:gpt-4").name == "tiktoken:cl100k_base"
    hf = load_token_counter(f"hf:{_word_level_tokenizer(tmp_path)}")
    assert isinstance(hf, TokenCounter)
    with pytest.raises(InvalidInputError, match="unknown tokenizer spec"):
        load_token_counter("sentencepiece:x")
