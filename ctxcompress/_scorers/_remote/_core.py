"""The remote scorer's logic, with no I/O: plans, validation, retry decisions.

The sync and async clients are thin shells around this module. They ask :func:`plan` which
requests to send, hand every response (or transport exception) to :func:`outcome_of_response`
/ :func:`outcome_of_exception`, and let a :class:`Retrier` decide how long to wait and when
to give up. Keeping the decisions here means both shells behave identically and the
decisions are tested without a network.
"""

from __future__ import annotations

import email.utils
import json
import math
import random
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, Literal, TypeVar

import httpx

from ... import _exceptions as errors
from ._providers import Provider

__all__ = [
    "Fetched",
    "Outcome",
    "PlannedRequest",
    "Retrier",
    "RetryPolicy",
    "chunk",
    "outcome_of_exception",
    "outcome_of_fetch",
    "outcome_of_response",
    "plan",
]

T = TypeVar("T")

ScoreTransform = Literal["identity", "sigmoid"]

# Statuses worth another try: the request may succeed unchanged.
RETRYABLE_STATUSES = frozenset({408, 409, 429, 500, 502, 503, 504})


@dataclass(frozen=True)
class PlannedRequest:
    """One HTTP request: criterion ``row``, documents ``start:start+len(documents)``.

    ``parts`` joined are the JSON body. The documents' part is shared by every criterion's
    request for that chunk, and the body is only joined when it is sent: a job of 80
    criteria × 150 pages would otherwise build 80 bodies of ~300 KB before the first request
    could leave.
    """

    row: int
    start: int
    documents: tuple[str, ...]
    parts: tuple[bytes, ...] = field(compare=False, repr=False)

    @property
    def content(self) -> bytes:
        """The JSON body, ready to send."""
        return b"".join(self.parts)


# Stands in for the documents array while the rest of a body is encoded; see _encode.
_DOCS_PLACEHOLDER = "\x00ctxcompress-documents\x00"


def plan(
    provider: Provider,
    queries: Sequence[tuple[str, str | None]],
    documents: Sequence[str],
    *,
    model: str | None,
    max_documents: int,
    max_bytes: int,
    extra: Mapping[str, Any],
) -> list[PlannedRequest]:
    """Split every (query, instruction) × documents job into requests under the limits."""
    chunks = chunk(documents, max_documents, max_bytes)
    # Every criterion sends the same document chunks: encode each chunk once, not once per
    # criterion (for 80 criteria × 150 pages that is most of the client's CPU time).
    encoded = {span: json.dumps(documents[span[0] : span[1]]).encode() for span in chunks}
    out: list[PlannedRequest] = []
    for row, (query, instruction) in enumerate(queries):
        for start, stop in chunks:
            docs = tuple(documents[start:stop])
            body = provider.body(query, instruction, model, docs, dict(extra))
            out.append(
                PlannedRequest(row, start, docs, _encode(body, docs, encoded[(start, stop)]))
            )
    return out


def _encode(body: dict[str, Any], docs: Sequence[str], docs_json: bytes) -> tuple[bytes, ...]:
    """JSON-encode ``body`` as parts around the pre-encoded documents array."""
    key = next((k for k, v in body.items() if isinstance(v, list) and v == list(docs)), None)
    if key is None:
        return (json.dumps(body).encode(),)
    skeleton = json.dumps({**body, key: _DOCS_PLACEHOLDER})
    marker = json.dumps(_DOCS_PLACEHOLDER)
    if skeleton.count(marker) != 1:  # the placeholder text also in a query: encode plainly
        return (json.dumps(body).encode(),)
    head, tail = skeleton.split(marker)
    return head.encode(), docs_json, tail.encode()


def chunk(documents: Sequence[str], max_documents: int, max_bytes: int) -> list[tuple[int, int]]:
    """Spans ``(start, stop)`` of ``documents`` that fit a request's count and byte limits."""
    # Greedy packing by count and by UTF-8 size (plus JSON quoting overhead per document).
    # A single document larger than max_bytes goes alone: the API decides whether to take it.
    spans: list[tuple[int, int]] = []
    start, size = 0, 0
    for i, doc in enumerate(documents):
        doc_bytes = len(doc.encode("utf-8")) + 8
        if i > start and (i - start >= max_documents or size + doc_bytes > max_bytes):
            spans.append((start, i))
            start, size = i, 0
        size += doc_bytes
    if start < len(documents):
        spans.append((start, len(documents)))
    return spans


@dataclass(frozen=True)
class Outcome(Generic[T]):
    """What one attempt produced: a value (scores, a body), or an error that may be retried."""

    value: T | None = None
    error: errors.RemoteError | None = None
    retryable: bool = False
    retry_after: float | None = None
    cause: BaseException | None = None


@dataclass(frozen=True)
class Fetched:
    """A body fetched from a side endpoint (TEI's /info, /tokenize); None where the server
    has no such endpoint (404, 405, 501)."""

    content: bytes | None


def outcome_of_response(
    provider: Provider,
    request: PlannedRequest,
    status: int,
    headers: Mapping[str, str],
    content: bytes,
    transform: ScoreTransform = "identity",
    path: str = "",
) -> Outcome[list[float]]:
    """Judge one HTTP response: complete valid scores, or a typed error.

    ``path`` is the URL's path, named in a 404's message.
    """
    if 200 <= status < 300:
        try:
            return Outcome(value=_scores(provider, request, content, transform))
        except errors.RemoteResponseError as exc:
            return Outcome(error=_with_status(exc, status))
    return _failure(provider.name, status, headers, content, path)


def outcome_of_fetch(
    provider: Provider, status: int, headers: Mapping[str, str], content: bytes
) -> Outcome[Fetched]:
    """Judge a side endpoint's response: its body, "not there", or a typed error."""
    if 200 <= status < 300:
        return Outcome(value=Fetched(content))
    if status in (404, 405, 501):
        return Outcome(value=Fetched(None))
    return _failure(provider.name, status, headers, content)


# What a person can do about a client error, by status.
_HINTS = {
    404: "no rerank endpoint at {path}; check the base URL, or give path=",
    413: "the request is too large; lower max_bytes_per_request or max_documents_per_request",
}


def _failure(
    name: str, status: int, headers: Mapping[str, str], content: bytes, path: str = ""
) -> Outcome[T]:
    """The typed error for a status that is not a success, and whether to retry it."""
    detail = _detail(content)
    hint = _HINTS.get(status)
    if hint is not None and (path or "{path}" not in hint):
        detail = f" ({hint.format(path=path)}){detail}"
    retry_after = parse_retry_after(headers)
    if status in (401, 403):
        return Outcome(
            error=errors.RemoteAuthError(
                f"{name}: HTTP {status}, the API key was refused{detail}",
                provider=name,
                status_code=status,
            )
        )
    if status == 429:
        return Outcome(
            error=errors.RemoteRateLimitError(
                f"{name}: HTTP 429 rate limited{detail}", provider=name, status_code=status
            ),
            retryable=True,
            retry_after=retry_after,
        )
    if status in RETRYABLE_STATUSES:
        cls = errors.RemoteTimeoutError if status == 408 else errors.RemoteServerError
        return Outcome(
            error=cls(f"{name}: HTTP {status}{detail}", provider=name, status_code=status),
            retryable=True,
            retry_after=retry_after,
        )
    if 400 <= status < 500:
        return Outcome(
            error=errors.RemoteRequestError(
                f"{name}: HTTP {status}, the API rejected the request{detail}",
                provider=name,
                status_code=status,
            )
        )
    return Outcome(
        error=errors.RemoteServerError(
            f"{name}: HTTP {status}{detail}", provider=name, status_code=status
        ),
        retryable=status >= 500,
    )


# Transport failures worth another try: what each is called in a message, and its error.
_TRANSPORT_FAILURES: tuple[tuple[type[httpx.HTTPError], str, type[errors.RemoteError]], ...] = (
    (httpx.TimeoutException, "request timed out", errors.RemoteTimeoutError),
    (httpx.TransportError, "connection failed", errors.RemoteServerError),
)


def outcome_of_exception(provider: Provider, exc: BaseException) -> Outcome[Any]:
    """Judge a transport failure: timeouts and broken connections are worth another try.

    A request refused before it left (a header that is not valid HTTP) is not retried and
    not chained: its message quotes the header's value, which may be the key.
    """
    name = provider.name
    if isinstance(exc, httpx.LocalProtocolError):
        return Outcome(
            error=errors.RemoteRequestError(
                f"{name}: the request could not be sent: a header name or value is not valid "
                "HTTP (check the API key and headers=)",
                provider=name,
            )
        )
    for kind, what, error in _TRANSPORT_FAILURES:
        if isinstance(exc, kind):
            return Outcome(
                error=error(f"{name}: {what} ({type(exc).__name__})", provider=name),
                retryable=True,
                cause=exc,
            )
    raise exc


def _with_status(exc: errors.RemoteResponseError, status: int) -> errors.RemoteResponseError:
    exc.status_code = status
    return exc


def _scores(
    provider: Provider, request: PlannedRequest, content: bytes, transform: ScoreTransform
) -> list[float]:
    name = provider.name
    n = len(request.documents)

    def bad(what: str) -> errors.RemoteResponseError:
        return errors.RemoteResponseError(
            f"{name}: bad response for {n} documents: {what}", provider=name
        )

    try:
        pairs = provider.parse(content)
    except errors.NotJSONError as exc:
        raise bad(f"body is not JSON ({_excerpt(content)})") from exc
    except errors.WireError as exc:
        raise bad(str(exc)) from exc
    scores: list[float | None] = [None] * n
    for index, score in pairs:
        if not 0 <= index < n:
            raise bad(f"index {index} out of range 0..{n - 1}")
        if scores[index] is not None:
            raise bad(f"index {index} appears twice")
        if not math.isfinite(score):
            raise bad(f"score {score!r} for index {index} is not finite")
        scores[index] = score
    missing = [i for i, s in enumerate(scores) if s is None]
    if missing:
        raise bad(f"{len(missing)} documents have no score (first: index {missing[0]})")
    values = [s for s in scores if s is not None]
    if transform == "sigmoid":
        return [_sigmoid(v) for v in values]
    out_of_range = next((v for v in values if not 0.0 <= v <= 1.0), None)
    if out_of_range is not None:
        raise bad(
            f"score {out_of_range!r} is not a probability in [0, 1]; if this model "
            "returns logits, pass score_transform='sigmoid'"
        )
    return values


def _sigmoid(x: float) -> float:
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    z = math.exp(x)
    return z / (1.0 + z)


def _excerpt(content: bytes, limit: int = 80) -> str:
    text = content[:limit].decode("utf-8", "replace").replace("\n", " ")
    return f"starts {text!r}" if text else "empty body"


def _detail(content: bytes) -> str:
    # The API's own message, shortened; it helps and never holds our key (we never send the
    # key in a body), but shells still redact the key from every message as a second guard.
    if not content:
        return ""
    try:
        payload = json.loads(content)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return f": {_excerpt(content)}"
    if isinstance(payload, dict):
        for key in ("message", "detail", "error"):
            if key in payload:
                return f": {str(payload[key])[:200]}"
    return ""


def parse_retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds to wait from ``retry-after-ms`` or ``Retry-After`` (seconds or HTTP date)."""
    lowered = {k.lower(): v for k, v in headers.items()}
    ms = lowered.get("retry-after-ms")
    if ms is not None:
        try:
            value = float(ms) / 1000.0
            if math.isfinite(value) and value >= 0:
                return value
        except ValueError:
            pass
    raw = lowered.get("retry-after")
    if raw is None:
        return None
    try:
        value = float(raw)
        return value if math.isfinite(value) and value >= 0 else None
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


# The longest server-requested wait (Retry-After) honoured before a retry, in seconds.
MAX_RETRY_AFTER = 60.0


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with full jitter, capped; server hints win when they are longer."""

    max_retries: int = 6
    backoff_base: float = 0.25
    backoff_max: float = 20.0

    def delay(self, attempt: int, retry_after: float | None, rng: random.Random) -> float:
        backoff = rng.uniform(0, min(self.backoff_max, self.backoff_base * 2**attempt))
        if retry_after is not None:
            # Honour the server's hint, plus a little jitter so clients told the same moment
            # do not all return at once; but never past MAX_RETRY_AFTER (a server that says
            # "in an hour" must not hang a job that has no deadline).
            hint = min(retry_after, max(self.backoff_max, MAX_RETRY_AFTER))
            return hint + rng.uniform(0, min(0.1, self.backoff_base))
        return backoff


class Retrier:
    """Decides, attempt by attempt, the timeout to use and whether to try again.

    ``deadline`` is an absolute ``time.monotonic()`` value for the whole job, or None.
    """

    def __init__(
        self,
        policy: RetryPolicy,
        timeout: float,
        deadline: float | None,
        provider: str,
        rng: random.Random | None = None,
        clock: Any = time.monotonic,
    ) -> None:
        self.policy = policy
        self.timeout = timeout
        self.deadline = deadline
        self.provider = provider
        self.attempt = 0
        self.rng = rng or random.Random()
        self.clock = clock
        self.last: Outcome[Any] | None = None

    def start_attempt(self) -> float:
        """The timeout for the next attempt; raises when the job deadline has passed."""
        remaining = self._remaining()
        if remaining is not None and remaining <= 0:
            raise self._deadline_error()
        return self.timeout if remaining is None else min(self.timeout, remaining)

    def after_failure(self, outcome: Outcome[Any]) -> float:
        """Seconds to sleep before the next attempt, or raise the final typed error."""
        assert outcome.error is not None
        self.last = outcome
        if not outcome.retryable or self.attempt >= self.policy.max_retries:
            raise outcome.error from outcome.cause
        delay = self.policy.delay(self.attempt, outcome.retry_after, self.rng)
        remaining = self._remaining()
        if remaining is not None and delay >= remaining:
            raise self._deadline_error() from outcome.cause
        self.attempt += 1
        return delay

    def _remaining(self) -> float | None:
        return None if self.deadline is None else self.deadline - self.clock()

    def _deadline_error(self) -> errors.RemoteError:
        last = f"; last error: {self.last.error}" if self.last and self.last.error else ""
        if self.last and isinstance(self.last.error, errors.RemoteRateLimitError):
            return errors.RemoteRateLimitError(
                f"{self.provider}: still rate limited when the deadline ran out{last}",
                provider=self.provider,
                status_code=429,
            )
        return errors.RemoteTimeoutError(
            f"{self.provider}: the job deadline ran out{last}", provider=self.provider
        )
