"""Regenerate the batch example's sample data from the synthetic prior-authorization record.

The 40-page record is cut into four documents (two given as pages, two as text with page
markers); two criteria apply to every document and two to one document each.

    python examples/batch/make_sample.py
"""

from __future__ import annotations

import json
import re
from pathlib import Path

HERE = Path(__file__).resolve().parent
RECORD = HERE.parent / "prior_auth" / "record.txt"


def main() -> None:
    text = RECORD.read_text(encoding="utf-8")
    pages = [p.strip() for p in re.split(r"^--- Page \d+ ---$", text, flags=re.M) if p.strip()]
    documents = [
        {"doc_id": "pa-0001", "pages": pages[0:10]},
        {"doc_id": "pa-0002", "pages": pages[10:20]},
        {"doc_id": "pa-0003", "text": _with_markers(pages[20:30])},
        {"doc_id": "pa-0004", "text": _with_markers(pages[30:40])},
    ]
    criteria = [
        {
            "id": "diagnosis",
            "criterion": "Is there a documented diagnosis of moderate to severe rheumatoid arthritis?",
        },
        {"id": "mtx_failure", "criterion": "Is a failed trial of methotrexate documented?"},
        {
            "id": "tb_screen",
            "doc_id": "pa-0002",
            "criterion": "Was TB screening negative within 12 months?",
        },
        {
            "id": "prescriber",
            "doc_id": "pa-0001",
            "criterion": "Is the prescriber a rheumatologist?",
        },
    ]
    _write(HERE / "documents.jsonl", documents)
    _write(HERE / "criteria.jsonl", criteria)


def _with_markers(pages: list[str]) -> str:
    return "\n\n".join(f"--- Page {i} ---\n{p}" for i, p in enumerate(pages, start=1))


def _write(path: Path, rows: list[dict[str, object]]) -> None:
    with path.open("w", encoding="utf-8") as stream:
        for row in rows:
            stream.write(json.dumps(row, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
