"""Write ``ctxcompress/_scorers/_default/background_vocab.json``: how common each token of
all-MiniLM-L6-v2's vocabulary is in general English, for the single-text classifier's term
weights (a text alone has no document frequencies to weigh its terms by).

The frequencies come from the ``wordfreq`` package's English "large" list (Robyn Speer et
al.; data CC BY-SA 4.0, see the file's ``source``): each word is cut into the model's
WordPiece tokens and its frequency is added to every token it contains; a token's Zipf
value is ``log10(frequency per billion words)``. Only derived numbers are written (no
word list), under the same licence as the data they come from.

Run: ``python scripts/build_background_vocab.py`` (needs ``pip install wordfreq``; reads
the tokenizer of the embedded model, which ``ctxcompress`` finds or builds).
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from importlib import metadata
from pathlib import Path

import wordfreq  # type: ignore[import-untyped]
from tokenizers import Tokenizer

from ctxcompress._scorers._default._embedded import minilm_model_dir

OUT = (
    Path(__file__).resolve().parents[1]
    / "ctxcompress"
    / "_scorers"
    / "_default"
    / "background_vocab.json"
)


def main() -> None:
    tokenizer = Tokenizer.from_file(str(minilm_model_dir() / "tokenizer.json"))
    words = wordfreq.get_frequency_dict("en", "large")
    ordered = sorted(words)  # a fixed order: the sums below do not depend on dict order
    freq: dict[int, float] = defaultdict(float)
    for start in range(0, len(ordered), 10_000):
        chunk = ordered[start : start + 10_000]
        for word, encoding in zip(
            chunk, tokenizer.encode_batch(chunk, add_special_tokens=False), strict=True
        ):
            for token in set(encoding.ids):
                freq[token] += words[word]
    size = tokenizer.get_vocab_size()
    zipf = [0.0] * size
    for token, f in freq.items():
        zipf[token] = round(max(0.0, math.log10(min(f, 1.0) * 1e9)), 2)
    OUT.write_text(
        json.dumps(
            {
                "format": "ctxcompress-background-vocab",
                "version": 1,
                "tokenizer": "sentence-transformers/all-MiniLM-L6-v2 (bert-base-uncased WordPiece)",
                "source": (
                    f"wordfreq {metadata.version('wordfreq')}"
                    " English 'large' list (https://github.com/rspeer/wordfreq), data CC BY-SA"
                    " 4.0; each word's frequency added to every WordPiece token it holds"
                ),
                "licence": "CC BY-SA 4.0 (derived from wordfreq's data)",
                "zipf": zipf,
            },
            separators=(",", ":"),
        )
        + "\n",
        "utf-8",
    )
    print(f"wrote {OUT} ({size} tokens, {len(freq)} seen)")


if __name__ == "__main__":
    main()
