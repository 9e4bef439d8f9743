"""ctxcompress: decide what belongs in an LLM's context.

Pages are scored against criteria by a scorer that returns calibrated probabilities; a
policy (threshold, top-K, token budget, or a hybrid) keeps what matters::

    from ctxcompress import Compressor, Hybrid

    result = Compressor(policy=Hybrid(threshold=0.4, max_tokens=4000)).compress(pages, criteria)
"""

import contextlib

from ._cache import Cache, CacheStats, MemoryCache, SQLiteCache
from ._cached import CachedScorer
from ._calibration import CalibratedScorer, Calibrator, fit_calibrator, load_calibrator
from ._cascade import Cascade
from ._chunking import chunk_text, load_document, split_pages
from ._classify import Classification, LabelDecision, classify
from ._compressor import DEFAULT_POLICY, Compressor, build_policy, select_relevant_pages
from ._default import DefaultScorer
from ._exceptions import (
    CtxCompressError,
    InvalidInputError,
    InvalidPolicyError,
    MissingDependencyError,
    RemoteAuthError,
    RemoteError,
    RemoteRateLimitError,
    RemoteRequestError,
    RemoteResponseError,
    RemoteServerError,
    RemoteTimeoutError,
    ScorerOutputError,
    ScoringError,
    TokenizerUnavailableError,
    UnknownScorerError,
)
from ._lexical import BM25Scorer
from ._onnx import (
    BiEncoder,
    BiEncoderScorer,
    CrossEncoderScorer,
    DecoderRerankerScorer,
    ExecutionProviderError,
    Model,
    ProviderFallbackWarning,
)
from ._policies import Candidate, Hybrid, Policy, PolicyOutcome, Threshold, TokenBudget, TopK
from ._registry import DefaultScorerFallbackWarning, known_schemes, load_scorer, register_scheme
from ._remote import PROVIDERS as REMOTE_PROVIDERS
from ._remote import AsyncRemoteScorer, RemoteScorer
from ._scorer import AsyncScorer, BaseScorer, Scorer
from ._tokens import (
    HFTokenCounter,
    TiktokenCounter,
    TokenCounter,
    WhitespaceTokenCounter,
    load_token_counter,
)
from ._types import (
    CompressionResult,
    Criterion,
    Page,
    PageDecision,
    ScoredPage,
    Selection,
    UnionSelection,
)
from ._version import __version__

__all__ = [
    "DEFAULT_POLICY",
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
    "Candidate",
    "Cascade",
    "Classification",
    "CompressionResult",
    "Compressor",
    "Criterion",
    "CrossEncoderScorer",
    "CtxCompressError",
    "DecoderRerankerScorer",
    "DefaultScorer",
    "DefaultScorerFallbackWarning",
    "ExecutionProviderError",
    "HFTokenCounter",
    "Hybrid",
    "InvalidInputError",
    "InvalidPolicyError",
    "LabelDecision",
    "MemoryCache",
    "MissingDependencyError",
    "Model",
    "Page",
    "PageDecision",
    "Policy",
    "PolicyOutcome",
    "ProviderFallbackWarning",
    "RemoteAuthError",
    "RemoteError",
    "RemoteRateLimitError",
    "RemoteRequestError",
    "RemoteResponseError",
    "RemoteScorer",
    "RemoteServerError",
    "RemoteTimeoutError",
    "SQLiteCache",
    "ScoredPage",
    "Scorer",
    "ScorerOutputError",
    "ScoringError",
    "Selection",
    "Threshold",
    "TiktokenCounter",
    "TokenBudget",
    "TokenCounter",
    "TokenizerUnavailableError",
    "TopK",
    "UnionSelection",
    "UnknownScorerError",
    "WhitespaceTokenCounter",
    "__version__",
    "build_policy",
    "chunk_text",
    "classify",
    "fit_calibrator",
    "known_schemes",
    "load_calibrator",
    "load_document",
    "load_scorer",
    "load_token_counter",
    "register_scheme",
    "select_relevant_pages",
    "split_pages",
]

# Public objects report the package, not the private module, as their home.
for _name in __all__:
    _obj = globals()[_name]
    if hasattr(_obj, "__module__") and getattr(_obj, "__module__", "").startswith("ctxcompress._"):
        with contextlib.suppress(AttributeError, TypeError):
            _obj.__module__ = "ctxcompress"
del _name, _obj
