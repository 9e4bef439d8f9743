"""Every exception ctxcompress raises, in one place.

The tree::

    CtxCompressError                 base of everything below
    ├── InvalidInputError            bad arguments or input (also a ValueError)
    │   ├── InvalidPolicyError       a policy built with impossible parameters
    │   └── UnknownScorerError       a scorer spec with no registered scheme
    ├── MissingDependencyError       an optional extra is not installed (also an ImportError)
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
    DefaultScorerFallbackWarning     the default scorer's extra is missing; running BM25 alone
    RemoteTruncationWarning          a rerank server truncates long pages: the rest is not scored

Three more are internal, raised and caught inside the package (not in ``__all__``)::

    UsageError                       the CLI's: a command line that cannot be acted on (exit 2)
    WireError                        a rerank API's body without the documented shape
    └── NotJSONError                 a body that is not JSON at all

Messages name the offending value and never contain secrets.
"""

from __future__ import annotations

__all__ = [
    "CtxCompressError",
    "DefaultScorerFallbackWarning",
    "ExecutionProviderError",
    "InvalidInputError",
    "InvalidPolicyError",
    "MissingDependencyError",
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
    "TokenizerUnavailableError",
    "UnknownScorerError",
]


class CtxCompressError(Exception):
    """Base class of every error raised by ctxcompress."""


class InvalidInputError(CtxCompressError, ValueError):
    """An argument or an input document is not acceptable."""


class InvalidPolicyError(InvalidInputError):
    """A selection policy was built with impossible parameters."""


class UnknownScorerError(InvalidInputError):
    """A scorer spec names a scheme that is not registered."""


class MissingDependencyError(CtxCompressError, ImportError):
    """An optional dependency is missing; the message names the extra to install."""

    def __init__(self, package: str, extra: str, purpose: str) -> None:
        self.package = package
        self.extra = extra
        super().__init__(
            f"{purpose} needs the '{package}' package: pip install 'ctxcompress[{extra}]'"
        )


class TokenizerUnavailableError(CtxCompressError):
    """A tokenizer's vocabulary files are missing and cannot be fetched."""


class ScoringError(CtxCompressError):
    """A scorer failed to produce scores."""


class ScorerOutputError(ScoringError):
    """A scorer returned output that breaks the scorer contract."""


class RemoteError(ScoringError):
    """A remote rerank API call failed.

    ``provider`` names the API, ``status_code`` is the last HTTP status seen (None when no
    response arrived).
    """

    def __init__(self, message: str, *, provider: str, status_code: int | None = None) -> None:
        self.provider = provider
        self.status_code = status_code
        super().__init__(message)


class RemoteAuthError(RemoteError):
    """The API refused the credentials (401/403) or none were given."""


class RemoteRequestError(RemoteError):
    """A 4xx other than 401/403/408/409/429: the request itself was rejected; not retried."""


class RemoteRateLimitError(RemoteError):
    """The API kept answering 429 until the retries or the deadline ran out."""


class RemoteTimeoutError(RemoteError):
    """A request, or the whole job, ran past its deadline."""


class RemoteServerError(RemoteError):
    """The API answered 5xx, or the connection broke, until the retries ran out."""


class RemoteResponseError(RemoteError):
    """A successful status with a body that is not a complete, valid answer."""


class ExecutionProviderError(CtxCompressError):
    """A requested execution provider did not load (raised with ``strict=True``)."""


class ProviderFallbackWarning(UserWarning):
    """A requested GPU execution provider did not load; the session runs on the CPU."""


class DefaultScorerFallbackWarning(UserWarning):
    """The embedded default scorer could not be built (its extra is missing), so
    ``default`` runs BM25 alone."""


class RemoteTruncationWarning(UserWarning):
    """A rerank server cannot say how long a page may be (no ``/info`` or ``/tokenize``), so
    long pages are sent whole with truncation on: text past the model's input is not scored."""


class UsageError(Exception):
    """A command line that cannot be acted on: reported in one line, exit code 2."""


class WireError(ValueError):
    """A response body that does not have the provider's documented shape."""


class NotJSONError(WireError):
    """A response body that is not JSON at all."""
