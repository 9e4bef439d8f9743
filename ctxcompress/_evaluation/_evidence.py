"""Evidence recall: how much of the annotated evidence survives in what was sent.

Evidence recall of a criterion: for each evidence item, the share of its words (lower-cased
alphanumeric runs, in order) found in what was kept of its page, divided by the share found
in the whole page; averaged over the criterion's items, then over criteria. The words are
matched once, in order, against the page's words (FinanceBench's evidence text comes from
another PDF extraction, so characters differ where words do not); an item is then a set of
character ranges of its page, and a pruning keeps a word when the word lies inside one of
the kept spans. Items none of whose words are found on their page say nothing about
pruning and are left out (their criterion too, when it has no other item).
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from difflib import SequenceMatcher
from typing import Any

from .._types import kept_text
from ._data import EvalCriterion, EvalDataset
from ._metrics import ScoredCriterion

__all__ = [
    "EvidenceMatch",
    "SpansOf",
    "criterion_evidence_recall",
    "evidence_curve",
    "match_evidence",
    "words",
]

_WORD = re.compile(r"[^\W_]+")
Span = tuple[int, int]


def words(text: str) -> list[tuple[str, int, int]]:
    """The lower-cased alphanumeric runs of ``text`` with their character offsets."""
    return [(m.group().lower(), m.start(), m.end()) for m in _WORD.finditer(text)]


@dataclass(frozen=True)
class EvidenceMatch:
    """One evidence item located on its page: the character ranges of its words found
    there (in order), out of ``n_words`` words."""

    page: int
    found: tuple[Span, ...]
    n_words: int

    def kept_share(self, spans: Sequence[Span] | None) -> float:
        """Of the item's words found on the page, the share inside ``spans`` (None: the
        whole page was kept; empty: the page was not kept)."""
        if not self.found:
            return 0.0
        if spans is None:
            return 1.0
        starts = [a for a, _ in spans]
        kept = 0
        for ws, we in self.found:
            j = bisect.bisect_right(starts, ws) - 1
            if j >= 0 and spans[j][0] <= ws and we <= spans[j][1]:
                kept += 1
        return kept / len(self.found)


def match_evidence(criterion: EvalCriterion, pages: Sequence[str]) -> list[EvidenceMatch]:
    """Each evidence item of ``criterion`` matched in order against its page's words."""
    out = []
    cache: dict[int, list[tuple[str, int, int]]] = {}
    for item in criterion.evidence:
        page_words = cache.setdefault(item.page, words(pages[item.page]))
        item_words = [w for w, _, _ in words(item.text)]
        matcher = SequenceMatcher(None, item_words, [w for w, _, _ in page_words], autojunk=False)
        found: list[Span] = []
        for block in matcher.get_matching_blocks():
            found.extend((s, e) for _, s, e in page_words[block.b : block.b + block.size])
        out.append(EvidenceMatch(item.page, tuple(found), len(item_words)))
    return out


def criterion_evidence_recall(
    matches: Sequence[EvidenceMatch], kept: Mapping[int, Sequence[Span] | None]
) -> float | None:
    """A criterion's evidence recall given what was kept: ``kept`` maps a kept page index
    to its kept spans (None for the whole page); a page not in it was not kept. None when
    no item of the criterion was found on its page."""
    shares = []
    for match in matches:
        if not match.found:
            continue
        shares.append(match.kept_share(kept[match.page]) if match.page in kept else 0.0)
    return sum(shares) / len(shares) if shares else None


#: What a pruning sends of a page: ``spans(criterion_id, page_index)`` (None: the page whole).
SpansOf = Callable[[str, int], "Sequence[Span] | None"]


def evidence_curve(
    data: EvalDataset,
    items: Sequence[ScoredCriterion],
    ks: Sequence[int],
    spans: SpansOf | None = None,
) -> dict[str, Any]:
    """Evidence recall against the share of characters sent, keeping each criterion's top
    K pages (whole, or what ``spans`` says of each), for each K in ``ks``; and the
    characters needed for 90% (those of the smallest K that reaches it, None if none does).
    Averages run over criteria with evidence found on its pages."""
    criteria = {c.id: c for c in data.criteria}
    matched = {
        c.id: match_evidence(criteria[c.id], data.documents[c.doc_id].pages)
        for c in items
        if criteria[c.id].evidence
    }
    rows = []
    for k in ks:
        recalls, shares = [], []
        for c in items:
            if c.id not in matched:
                continue
            pages = data.documents[c.doc_id].pages
            kept = {i: None if spans is None else spans(c.id, i) for i in c.ranking()[:k]}
            recall = criterion_evidence_recall(matched[c.id], kept)
            if recall is None:
                continue
            sent = sum(
                len(pages[i]) if s is None else len(kept_text(pages[i], tuple(s)))
                for i, s in kept.items()
            )
            recalls.append(recall)
            shares.append(sent / (sum(len(p) for p in pages) or 1))
        rows.append(
            {
                "k": k,
                "evidence_recall": sum(recalls) / len(recalls) if recalls else None,
                "chars_sent": sum(shares) / len(shares) if shares else None,
            }
        )
    reaching = [r for r in rows if r["evidence_recall"] is not None and r["evidence_recall"] >= 0.9]
    return {
        "n_criteria": len({c.id for c in items if c.id in matched}),
        "curve": rows,
        "k_for_evidence_recall_90": reaching[0]["k"] if reaching else None,
        "chars_for_evidence_recall_90": reaching[0]["chars_sent"] if reaching else None,
    }
