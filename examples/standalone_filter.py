"""The standalone filter: the pages of a document relevant to one question, no framework.

python examples/standalone_filter.py "Is a hepatitis B screening result documented?"
"""

from __future__ import annotations

import sys

from prior_auth_paths import RECORD

from ctxcompress import load_document, select_relevant_pages


def main() -> None:
    question = " ".join(sys.argv[1:]) or "Is a hepatitis B screening result documented?"
    selection = select_relevant_pages(load_document(RECORD), question, threshold=0.1, top_k=3)
    print(f"question: {question}")
    for sp in selection.kept:
        print(f"  page {sp.page.label:>2}  score {sp.score:.2f}  {sp.page.text.splitlines()[0]}")
    print(
        f"sending {selection.chars_kept:,} of {selection.chars_total:,} characters "
        f"({selection.chars_kept_fraction:.1%}), {selection.tokens_kept:,} tokens"
    )


if __name__ == "__main__":
    main()
