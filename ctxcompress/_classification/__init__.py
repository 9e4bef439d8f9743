"""Calibrated scores as a classifier: tagging, routing, screening, near-duplicates.

``_scores`` (one probability per text and label description, for any scorer),
``_classify`` (multi-label and exclusive decisions), ``_route`` (routing and screening),
``_duplicates`` (near-duplicates), ``_evaluate`` (metrics and calibration on labelled
texts, for the CLI).
"""

from ._classify import Classification, LabelDecision, classify, classify_many
from ._duplicates import DuplicatePair, duplicate_probability, find_duplicates
from ._route import Routing, Screening, route, screen

__all__ = [
    "Classification",
    "DuplicatePair",
    "LabelDecision",
    "Routing",
    "Screening",
    "classify",
    "classify_many",
    "duplicate_probability",
    "find_duplicates",
    "route",
    "screen",
]
