"""The public names are a contract: adding one is a decision, removing one a break."""

import ctxcompress

EXPECTED = {
    "ELISION",
    "Passage",
    "PassagePruner",
    "split_passages",
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
    "DefaultModelUnavailableError",
    "DefaultScorerFallbackWarning",
    "DuplicatePair",
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
    "ModelFileError",
    "OnnxRuntimeConflictWarning",
    "Page",
    "PageDecision",
    "Policy",
    "RemoteAuthError",
    "RemoteError",
    "RemoteRateLimitError",
    "RemoteResponseError",
    "RemoteServerError",
    "RemoteTimeoutError",
    "RemoteTruncationWarning",
    "Routing",
    "ScoredPage",
    "Screening",
    "Scorer",
    "ScorerOutputError",
    "ScoringError",
    "Selection",
    "SinglePageWarning",
    "Threshold",
    "TiktokenCounter",
    "TokenBudget",
    "TokenCounter",
    "TokenizerUnavailableError",
    "TopK",
    "UnionSelection",
    "UnknownScorerError",
    "UnsupportedModelError",
    "WhitespaceTokenCounter",
    "__version__",
    "check_scorer_spec",
    "chunk_text",
    "classify",
    "classify_many",
    "duplicate_probability",
    "find_duplicates",
    "known_schemes",
    "load_document",
    "load_scorer",
    "load_token_counter",
    "register_scheme",
    "route",
    "screen",
    "select_relevant_pages",
    "split_pages",
    # What the signatures use, so users can annotate with them (issue 19).
    "CriterionLike",
    "PageLike",
    "Order",
    "OnError",
    "PageFlag",
    "PageNote",
    "Scores",
    "Provider",
}

# Internals that once leaked into __all__ and must stay out of it.
NOT_PUBLIC = {"Candidate", "PolicyOutcome", "ScoreNotes", "validate_scores"}


def test_all_is_pinned() -> None:
    assert set(ctxcompress.__all__) == EXPECTED
    assert len(ctxcompress.__all__) == len(EXPECTED)


def test_internals_stay_private() -> None:
    assert not NOT_PUBLIC & set(ctxcompress.__all__)


def test_remote_providers_is_a_read_only_view() -> None:
    import pytest

    assert "zeroentropy" in ctxcompress.REMOTE_PROVIDERS
    with pytest.raises(TypeError):
        ctxcompress.REMOTE_PROVIDERS["mine"] = ctxcompress.REMOTE_PROVIDERS["cohere"]  # type: ignore[index]


def test_one_version_string() -> None:
    import re
    import subprocess
    import sys
    from importlib import metadata
    from pathlib import Path

    root = Path(ctxcompress.__file__).parents[1]
    pyproject = (root / "pyproject.toml").read_text()
    # pyproject.toml reads the version from the package instead of repeating it.
    assert 'dynamic = ["version"]' in pyproject
    assert not re.search(r"(?m)^version\s*=", pyproject)
    assert metadata.version("ctxcompress") == ctxcompress.__version__
    cli = subprocess.run(
        [sys.executable, "-m", "ctxcompress", "version"], capture_output=True, text=True, check=True
    )
    assert cli.stdout.strip() == f"ctxcompress {ctxcompress.__version__}"


def test_mypy_targets_the_oldest_supported_python() -> None:
    import re
    from pathlib import Path

    pyproject = (Path(ctxcompress.__file__).parents[1] / "pyproject.toml").read_text()
    oldest = re.search(r'requires-python = ">=(\d+\.\d+)"', pyproject)
    mypy = re.search(r'python_version = "(\d+\.\d+)"', pyproject)
    assert oldest and mypy and oldest.group(1) == mypy.group(1)


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
        assert issubclass(cls, ex.CtxCompressError) or issubclass(cls, UserWarning)
    for internal in ("UsageError", "WireError", "NotJSONError"):
        assert internal in (ex.__doc__ or "") and internal not in ex.__all__
        assert name in (ex.__doc__ or "")
    # Every exception and warning class of the package lives in _exceptions.
    import inspect
    import pkgutil
    from importlib import import_module

    for info in pkgutil.walk_packages(ctxcompress.__path__, "ctxcompress."):
        if info.name.endswith("__main__"):
            continue
        module = import_module(info.name)
        for name, obj in vars(module).items():
            if inspect.isclass(obj) and issubclass(obj, Warning | Exception):
                assert obj.__module__ in ("ctxcompress._exceptions", "ctxcompress") or not (
                    obj.__module__.startswith("ctxcompress")
                ), f"{info.name}.{name} is defined outside _exceptions"
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
