"""ctxcompress: decide what belongs in an LLM's context.

Pages are scored against criteria by a scorer that returns calibrated probabilities; a
policy (threshold, top-K, token budget, or a hybrid) keeps what matters::

    from ctxcompress import Compressor, Hybrid

    result = Compressor(policy=Hybrid(threshold=0.4, max_tokens=4000)).compress(pages, criteria)
"""

import contextlib
from collections.abc import Mapping
from types import MappingProxyType

from . import _exceptions
from ._cache import Cache, CacheStats, MemoryCache, SQLiteCache
from ._calibration import Calibrator, fit_calibrator, load_calibrator
from ._chunking import chunk_text, load_document, split_pages
from ._classification import (
    Classification,
    DuplicatePair,
    LabelDecision,
    Routing,
    Screening,
    classify,
    classify_many,
    duplicate_probability,
    find_duplicates,
    route,
    screen,
)
from ._compressor import Compressor, OnError, select_relevant_pages
from ._exceptions import *  # noqa: F403 (every exception and warning is public: see below)
from ._passages import Passage, split_passages
from ._policies import (
    DEFAULT_POLICY,
    Hybrid,
    Policy,
    Threshold,
    TokenBudget,
    TopK,
    build_policy,
)
from ._pruning import PassagePruner
from ._scorers._base import (
    AsyncScorer,
    BaseScorer,
    CriterionLike,
    PageLike,
    PageNote,
    Scorer,
    Scores,
)
from ._scorers._bm25 import BM25Scorer
from ._scorers._cached import CachedScorer
from ._scorers._calibrated import CalibratedScorer
from ._scorers._cascade import Cascade
from ._scorers._default import DefaultScorer
from ._scorers._onnx import (
    BiEncoder,
    BiEncoderScorer,
    CrossEncoderScorer,
    DecoderRerankerScorer,
    Model,
)
from ._scorers._registry import check_scorer_spec, known_schemes, load_scorer, register_scheme
from ._scorers._remote import PROVIDERS as _PROVIDERS
from ._scorers._remote import AsyncRemoteScorer, Provider, RemoteScorer
from ._tokens import (
    HFTokenCounter,
    TiktokenCounter,
    TokenCounter,
    WhitespaceTokenCounter,
    load_token_counter,
)
from ._types import (
    ELISION,
    CompressionResult,
    Criterion,
    Order,
    Page,
    PageDecision,
    PageFlag,
    ScoredPage,
    Selection,
    UnionSelection,
)
from ._version import __version__

#: The rerank API providers ``remote:<provider>`` knows, by name (a read-only view).
REMOTE_PROVIDERS: Mapping[str, Provider] = MappingProxyType(_PROVIDERS)

__all__ = [
    "DEFAULT_POLICY",
    "ELISION",
    "REMOTE_PROVIDERS",
    "AsyncRemoteScorer",
    "AsyncScorer",
    "BM25Scorer",
    "BaseScorer",
    "BiEncoder",
    "BiEncoderScorer",
    "Cache",
    "CacheStats",
    "CachedScorer",
    "CalibratedScorer",
    "Calibrator",
    "Cascade",
    "Classification",
    "CompressionResult",
    "Compressor",
    "Criterion",
    "CriterionLike",
    "CrossEncoderScorer",
    "DecoderRerankerScorer",
    "DefaultScorer",
    "DuplicatePair",
    "HFTokenCounter",
    "Hybrid",
    "LabelDecision",
    "MemoryCache",
    "Model",
    "OnError",
    "Order",
    "Page",
    "PageDecision",
    "PageFlag",
    "PageLike",
    "PageNote",
    "Passage",
    "PassagePruner",
    "Policy",
    "Provider",
    "RemoteScorer",
    "Routing",
    "SQLiteCache",
    "ScoredPage",
    "Scorer",
    "Scores",
    "Screening",
    "Selection",
    "Threshold",
    "TiktokenCounter",
    "TokenBudget",
    "TokenCounter",
    "TopK",
    "UnionSelection",
    "WhitespaceTokenCounter",
    "__version__",
    "build_policy",
    "check_scorer_spec",
    "chunk_text",
    "classify",
    "classify_many",
    "duplicate_probability",
    "find_duplicates",
    "fit_calibrator",
    "known_schemes",
    "load_calibrator",
    "load_document",
    "load_scorer",
    "load_token_counter",
    "register_scheme",
    "route",
    "screen",
    "select_relevant_pages",
    "split_pages",
    "split_passages",
]
# Every exception and warning class is public; _exceptions.__all__ is their one list.
__all__ += _exceptions.__all__

# Public objects report the package, not the private module, as their home.
for _name in __all__:
    _obj = globals()[_name]
    if hasattr(_obj, "__module__") and getattr(_obj, "__module__", "").startswith("ctxcompress._"):
        with contextlib.suppress(AttributeError, TypeError):
            _obj.__module__ = "ctxcompress"
del _name, _obj
