"""Measuring scorers on labelled data: ``from ctxcompress.evaluation import ...``.

Loads the page-selection format and BEIR folders, scores them, and reports Recall@K,
characters kept, MRR, NDCG@10, ECE and reliability; chooses thresholds and fits
calibrators with cross-validation by document; draws the recall curve (extra ``plot``).
"""

from ._evaluation import *  # noqa: F403  (the public names are _evaluation's __all__)
from ._evaluation import __all__ as __all__
