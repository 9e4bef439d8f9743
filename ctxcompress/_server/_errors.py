"""What can go wrong with a request, independent of the wire format that reports it.

Handlers raise :class:`ApiError`; each wire format renders it in its provider's documented
error shape. Bad input is always a 4xx here, never a 500.
"""

from __future__ import annotations

from typing import Any, Literal

__all__ = ["ApiError", "ErrorKind"]

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
