"""The public names are a contract: adding one is a decision, removing one a break."""

import ctxcompress

EXPECTED = {
    "DecoderRerankerScorer",
    "Model",
    "BiEncoder",
    "BiEncoderScorer",
    "CrossEncoderScorer",
    "ExecutionProviderError",
    "ProviderFallbackWarning",
    "Cache",
    "CacheStats",
    "MemoryCache",
    "SQLiteCache",
    "CachedScorer",
    "Cascade",
    "DefaultScorer",
    "DefaultScorerFallbackWarning",
    "build_policy",
    "CalibratedScorer",
    "Calibrator",
    "fit_calibrator",
    "load_calibrator",
    "REMOTE_PROVIDERS",
    "AsyncRemoteScorer",
    "RemoteRequestError",
    "RemoteScorer",
    "DEFAULT_POLICY",
    "AsyncScorer",
    "BM25Scorer",
    "BaseScorer",
    "Candidate",
    "Classification",
    "CompressionResult",
    "Compressor",
    "Criterion",
    "CtxCompressError",
    "HFTokenCounter",
    "Hybrid",
    "InvalidInputError",
    "InvalidPolicyError",
    "LabelDecision",
    "MissingDependencyError",
    "Page",
    "PageDecision",
    "Policy",
    "PolicyOutcome",
    "RemoteAuthError",
    "RemoteError",
    "RemoteRateLimitError",
    "RemoteResponseError",
    "RemoteServerError",
    "RemoteTimeoutError",
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
    "chunk_text",
    "classify",
    "known_schemes",
    "load_document",
    "load_scorer",
    "load_token_counter",
    "register_scheme",
    "select_relevant_pages",
    "split_pages",
}


def test_all_is_pinned() -> None:
    assert set(ctxcompress.__all__) == EXPECTED
    assert len(ctxcompress.__all__) == len(EXPECTED)


def test_every_public_name_resolves() -> None:
    for name in ctxcompress.__all__:
        assert getattr(ctxcompress, name) is not None


def test_public_classes_report_the_package_as_home() -> None:
    assert ctxcompress.Compressor.__module__ == "ctxcompress"
    assert ctxcompress.Hybrid.__module__ == "ctxcompress"


def test_exception_tree_matches_the_docstring() -> None:
    from ctxcompress import _exceptions as ex

    assert issubclass(ex.InvalidInputError, ValueError)
    assert issubclass(ex.MissingDependencyError, ImportError)
    for name in ex.__all__:
        cls = getattr(ex, name)
        assert issubclass(cls, ex.CtxCompressError)
        assert name in (ex.__doc__ or "")
    for remote in (
        "RemoteAuthError",
        "RemoteRateLimitError",
        "RemoteTimeoutError",
        "RemoteServerError",
        "RemoteResponseError",
    ):
        assert issubclass(getattr(ex, remote), ex.RemoteError)
    assert issubclass(ex.RemoteError, ex.ScoringError)


def test_py_typed_marker_ships() -> None:
    from pathlib import Path

    assert (Path(ctxcompress.__file__).parent / "py.typed").is_file()
