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
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from difflib import SequenceMatcher

from ._data import EvalCriterion

__all__ = ["EvidenceMatch", "criterion_evidence_recall", "match_evidence", "words"]

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
