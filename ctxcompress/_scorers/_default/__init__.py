"""The default scorer: BM25 and the embedded all-MiniLM-L6-v2, fused by a shipped model.

``_scorer`` (features and fusion), ``_embedded`` (where the model files come from),
``_late_interaction`` (token-level MaxSim) and ``default_scorer.json`` (the fitted weights).
"""

from ._scorer import DefaultScorer

__all__ = ["DefaultScorer"]
