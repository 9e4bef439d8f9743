"""The HTTP handlers: every endpoint's flow, with auth, limits, metrics and errors.

Each endpoint is wrapped once (:meth:`Routes.endpoint`): the key is checked, the handler
runs, any :class:`ApiError` is rendered in the endpoint's own wire format, and the answer
is counted. A bug answers 500 in the same shape; bad input never does.
"""

from __future__ import annotations

import hmac
import json
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

import anyio.to_thread
from starlette.requests import Request
from starlette.responses import Response

from .. import (
    Criterion,
    InvalidInputError,
    RemoteRateLimitError,
    RemoteTimeoutError,
    TokenCounter,
    __version__,
)
from .._exceptions import JobTooLargeError, QueueFullError
from ._compress import ReplayScorer, build_job, make_compressor, token_counter_for
from ._errors import ApiError
from ._metrics import CONTENT_TYPE
from ._state import ServerState
from ._wire import Wire, json_response
from ._wire_compress import CompressRequest, CompressWire

__all__ = ["Renderer", "RerankWire", "Routes", "StatusRoute"]

logger = logging.getLogger("ctxcompress.serve")

Handler = Callable[[Request], Awaitable[Response]]

# Past this many bytes a too-large body is no longer read to its end before the 413 (which
# lets the client read the answer instead of meeting a reset); the connection is closed.
_DRAIN_CAP = 64 * 1024 * 1024


# What /info reports as the longest input: the server windows long pages itself.
_UNLIMITED_INPUT = 2**31 - 1


class Renderer(Protocol):
    """Anything that names a route and renders its errors (every wire format does)."""

    @property
    def route(self) -> str: ...

    def error_response(self, error: ApiError) -> Response: ...


class StatusRoute:
    """/health, /info, /metrics: errors (a wrong key) in ctxcompress's own shape."""

    def __init__(self, route: str, shape: CompressWire) -> None:
        self.route = route
        self._shape = shape

    def error_response(self, error: ApiError) -> Response:
        return self._shape.error_response(error)


class RerankWire(Renderer, Protocol):
    def parse(self, body: bytes) -> Any: ...
    def query_and_documents(self, req: Any) -> tuple[str, list[str]]: ...
    def answer(self, req: Any, scores: list[float], elapsed: float = 0.0) -> bytes: ...
    def bad_request(self, message: str) -> ApiError: ...


class Routes:
    def __init__(self, state: ServerState) -> None:
        self.state = state
        self.config = state.config
        self.own = CompressWire()
        self._counters: dict[str, TokenCounter] = {}

    # The wrapper --------------------------------------------------------------------------

    def endpoint(
        self, wire: Renderer, handler: Handler, *, scoring: bool, auth: bool = True
    ) -> Handler:
        metrics = self.state.metrics
        route = wire.route

        async def run(request: Request) -> Response:
            started = time.perf_counter()
            if scoring:
                self.state.in_flight += 1
                metrics.in_flight.inc()
            try:
                if auth:
                    self._authorize(request)
                response = await handler(request)
            except ApiError as error:
                response = wire.error_response(error)
                metrics.errors.labels(route, error.kind).inc()
            except Exception:
                logger.exception("internal error answering %s", route)
                bug = ApiError(500, "internal", "internal server error")
                response = wire.error_response(bug)
                metrics.errors.labels(route, bug.kind).inc()
            finally:
                if scoring:
                    self.state.in_flight -= 1
                    metrics.in_flight.dec()
            metrics.requests.labels(route, str(response.status_code)).inc()
            metrics.latency.labels(route).observe(time.perf_counter() - started)
            return response

        return run

    def _authorize(self, request: Request) -> None:
        key = self.config.api_key
        if key is None:
            return
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        # compare_digest: the time taken does not depend on how much of the key matched.
        if scheme.lower() != "bearer" or not hmac.compare_digest(
            token.strip().encode(), key.get_secret_value().encode()
        ):
            raise ApiError(
                401, "unauthorized", "missing or invalid API key: send Authorization: Bearer <key>"
            )

    def _check_ready(self) -> None:
        phase = self.state.phase
        if phase == "ready":
            return
        if phase == "loading":
            raise ApiError(503, "unavailable", "the model is still loading", retry_after=1)
        if phase == "draining":
            raise ApiError(503, "unavailable", "the server is shutting down", retry_after=1)
        raise ApiError(503, "unavailable", "the scorer could not be loaded")

    async def _body(self, request: Request) -> bytes:
        limit = self.config.max_request_bytes
        too_large = ApiError(
            413,
            "too_large",
            f"the request body is larger than this server accepts ({limit} bytes, "
            "--max-request-bytes)",
        )
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > _DRAIN_CAP:
            raise too_large
        chunks: list[bytes] = []
        size = 0
        try:
            with anyio.fail_after(self.config.body_timeout_s):
                async for chunk in request.stream():
                    size += len(chunk)
                    if size <= limit:
                        chunks.append(chunk)
                    elif size > _DRAIN_CAP:
                        break
        except TimeoutError:
            raise ApiError(
                408,
                "invalid_request",
                f"the request body did not arrive within {self.config.body_timeout_s:g} s "
                "(--body-timeout-s)",
            ) from None
        if size > limit:
            raise too_large
        return b"".join(chunks)

    # Scoring ------------------------------------------------------------------------------

    async def _score_each(
        self, criteria: list[Criterion], pages: list[str], wire: Wire[Any] | RerankWire
    ) -> list[list[float] | BaseException]:
        batcher = self.state.batcher
        if batcher is None:  # pragma: no cover - _check_ready ran first
            raise ApiError(503, "unavailable", "the model is still loading", retry_after=1)
        try:
            return await batcher.score_each(criteria, pages)
        except QueueFullError as exc:
            raise ApiError(429, "overloaded", str(exc), retry_after=exc.retry_after) from None
        except JobTooLargeError as exc:
            raise ApiError(413, "too_large", str(exc)) from None

    def _scoring_error(self, exc: BaseException, wire: Wire[Any] | RerankWire) -> ApiError:
        if isinstance(exc, InvalidInputError):
            # e.g. a query too long for the model: the request's fault, not the server's.
            return wire.bad_request(str(exc))
        name = getattr(self.state.scorer, "name", "scorer")
        reason = (str(exc) or type(exc).__name__).strip()[:1000]
        if isinstance(exc, RemoteRateLimitError | RemoteTimeoutError):
            return ApiError(503, "scorer_failed", f"scorer {name} failed: {reason}", retry_after=1)
        return ApiError(502, "scorer_failed", f"scorer {name} failed: {reason}")

    async def rerank(self, request: Request, wire: RerankWire) -> Response:
        started = time.monotonic()
        self._check_ready()
        req = wire.parse(await self._body(request))
        query, documents = wire.query_and_documents(req)
        if not documents:
            raise ApiError(400, "empty", "the list of documents must not be empty")
        limit = self.config.max_documents
        if len(documents) > limit:
            raise ApiError(
                413,
                "too_large",
                f"{len(documents)} documents, more than this server accepts "
                f"({limit}, --max-documents)",
            )
        try:
            criterion = Criterion(id="query", text=query)
        except InvalidInputError as exc:
            raise wire.bad_request(str(exc)) from None
        (outcome,) = await self._score_each([criterion], documents, wire)
        if isinstance(outcome, BaseException):
            raise self._scoring_error(outcome, wire)
        return json_response(wire.answer(req, outcome, time.monotonic() - started))

    async def compress(self, request: Request) -> Response:
        self._check_ready()
        req: CompressRequest = self.own.parse(await self._body(request))
        pages, criteria = build_job(req, self.config.max_documents, self.config.max_criteria)
        scorer = self.state.scorer
        replay = ReplayScorer(getattr(scorer, "name", "scorer"), getattr(scorer, "fingerprint", ""))
        counter = await anyio.to_thread.run_sync(token_counter_for, req.tokenizer, self._counters)
        compressor = await anyio.to_thread.run_sync(make_compressor, req, replay, counter)
        outcomes = await self._score_each(criteria, [p.text for p in pages], self.own)
        for outcome in outcomes:
            if isinstance(outcome, BaseException) and (
                req.on_error == "raise" or isinstance(outcome, InvalidInputError)
            ):
                raise self._scoring_error(outcome, self.own)
        replay.outcomes = {c.id: o for c, o in zip(criteria, outcomes, strict=True)}
        try:
            result = await anyio.to_thread.run_sync(compressor.compress, pages, criteria)
        except InvalidInputError as exc:
            raise self.own.bad_request(str(exc)) from None
        return json_response(json.dumps(result.to_dict(), ensure_ascii=False).encode())

    # Status -------------------------------------------------------------------------------

    async def health(self, request: Request) -> Response:
        phase = self.state.phase
        if phase == "ready":
            body = {"status": "ok", "model": getattr(self.state.scorer, "name", None)}
            return json_response(json.dumps(body).encode())
        message = {
            "loading": "the model is still loading",
            "draining": "the server is shutting down",
            "failed": "the scorer could not be loaded",
        }[phase]
        # TEI's unhealthy answer, with the phase for people and probes.
        body = {"status": phase, "error": message, "error_type": "Unhealthy"}
        return json_response(json.dumps(body).encode(), 503)

    async def info(self, request: Request) -> Response:
        scorer = self.state.scorer
        c = self.config
        body = {
            "version": __version__,
            "status": self.state.phase,
            "model": getattr(scorer, "name", None),
            "fingerprint": getattr(scorer, "fingerprint", None),
            "pointwise": getattr(scorer, "pointwise", None),
            # Longer pages are scored over overlapping windows here, never cut: a TEI client
            # (remote:tei included) reads this field and need not window or truncate.
            "max_input_length": _UNLIMITED_INPUT,
            "model_max_length": getattr(scorer, "max_length", None),
            "max_client_batch_size": c.max_documents,
            "limits": {
                "max_request_bytes": c.max_request_bytes,
                "max_documents": c.max_documents,
                "max_criteria": c.max_criteria,
                "max_batch_pairs": c.max_batch_pairs,
                "max_batch_wait_ms": c.max_batch_wait_ms,
                "max_queue_pairs": c.max_queue_pairs,
            },
            "auth": c.api_key is not None,
        }
        return json_response(json.dumps(body).encode())

    async def metrics(self, request: Request) -> Response:
        return Response(self.state.metrics.render(), media_type=CONTENT_TYPE)
