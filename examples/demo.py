"""The `make demo` job: compress the synthetic prior-authorization record.

Scores each of the record's 40 pages against 8 coverage criteria with the default scorer
(no network, no configuration), applies the default policy, and prints per criterion the
kept pages with their scores, characters and tokens kept vs total, and how many of the
criterion's evidence pages were kept.

    python examples/demo.py
"""

from __future__ import annotations

import json
from pathlib import Path

from ctxcompress import Compressor, Criterion, load_document

HERE = Path(__file__).resolve().parent / "prior_auth"


def main() -> None:
    pages = load_document(HERE / "record.txt")
    rows = [json.loads(line) for line in (HERE / "criteria.jsonl").read_text().splitlines()]
    criteria = [Criterion(id=r["id"], text=r["criterion"]) for r in rows]
    evidence = {r["id"]: set(r["relevant_pages"]) for r in rows}

    compressor = Compressor()  # the default scorer, policy and token counter
    result = compressor.compress(pages, criteria)

    print(
        f"{len(pages)} pages x {len(criteria)} criteria, scorer {result.scorer}, "
        f"policy {result.policy}, tokens by {result.token_counter}\n"
    )
    found = total = 0
    for sel in result.selections:
        hits = evidence[sel.criterion.id] & set(sel.kept_indices)
        found += len(hits)
        total += len(evidence[sel.criterion.id])
        print(f"[{sel.criterion.id}] {sel.criterion.text}")
        for sp in sel.kept:
            mark = "*" if sp.page.index in evidence[sel.criterion.id] else " "
            first_line = sp.page.text.splitlines()[0][:60]
            print(f"   {mark} page {sp.page.label:>2}  score {sp.score:.2f}  {first_line}")
        print(
            f"   chars {sel.chars_kept:,}/{sel.chars_total:,} ({sel.chars_kept_fraction:.1%})  "
            f"tokens {sel.tokens_kept:,}/{sel.tokens_total:,}  "
            f"evidence pages kept {len(hits)}/{len(evidence[sel.criterion.id])}\n"
        )
    u = result.union
    print(
        f"whole record: {len(u.pages)} of {len(pages)} pages, chars {u.chars_kept:,}/"
        f"{u.chars_total:,} ({u.chars_kept_fraction:.1%}), tokens {u.tokens_kept:,}/"
        f"{u.tokens_total:,}; evidence pages kept {found}/{total} (* marks evidence)"
    )


if __name__ == "__main__":
    main()
