"""The server's settings: where it listens, its key, its limits and its batching."""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import SecretStr

from .. import InvalidInputError

__all__ = ["ServeConfig"]


@dataclass(frozen=True)
class ServeConfig:
    """Settings of one server process. Limits are checked here, once, at startup."""

    host: str = "127.0.0.1"
    port: int = 8080
    #: Every request but ``/health`` must carry ``Authorization: Bearer <key>`` when set.
    api_key: SecretStr | None = None
    max_request_bytes: int = 5_000_000
    max_documents: int = 1000
    #: Pairs per scorer call: the batcher fills a batch up to this many pairs.
    max_batch_pairs: int = 256
    #: How long the first queued pair may wait for others to join its batch.
    max_batch_wait_ms: float = 5.0
    #: Pairs admitted but not yet scored; beyond this, requests get 429.
    max_queue_pairs: int = 20_000
    #: Criteria per /v1/compress request.
    max_criteria: int = 256
    #: Log each request (uvicorn's access log); off by default: it costs CPU under load.
    access_log: bool = False
    #: How long a request body may take to arrive; a stalled upload is answered 408, so it
    #: can neither hold a connection nor keep a draining server from exiting.
    body_timeout_s: float = 30.0

    def __post_init__(self) -> None:
        for name in ("max_request_bytes", "max_documents", "max_batch_pairs", "max_queue_pairs"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InvalidInputError(f"{_flag(name)} must be an integer >= 1, got {value!r}")
        if not 0 < self.body_timeout_s <= 3600:
            raise InvalidInputError(
                f"--body-timeout-s must be in (0, 3600], got {self.body_timeout_s!r}"
            )
        if not 0 <= self.max_batch_wait_ms <= 60_000:
            raise InvalidInputError(
                f"--max-batch-wait-ms must be between 0 and 60000, got {self.max_batch_wait_ms!r}"
            )
        if self.max_queue_pairs < self.max_documents:
            # Otherwise a request within --max-documents could never be admitted.
            raise InvalidInputError(
                f"--max-queue-pairs ({self.max_queue_pairs}) must be at least --max-documents "
                f"({self.max_documents})"
            )
        if not 0 <= self.port <= 65535:
            raise InvalidInputError(f"--port must be between 0 and 65535, got {self.port}")
        if self.api_key is not None and not self.api_key.get_secret_value():
            raise InvalidInputError("the API key is empty")


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")
