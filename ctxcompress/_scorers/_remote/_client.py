"""``RemoteScorer`` and ``AsyncRemoteScorer``: thin httpx shells over ``_core``.

Both send the planned requests with bounded concurrency, retry what ``_core`` says is worth
retrying, and assemble the scores. The sync shell runs requests on a thread pool kept by the
scorer; the async shell runs ``concurrency`` workers in an anyio task group, each pulling
the next request. Either way a request in flight borrows a transport of one kept-alive
connection (``_connections``): ``_http11``'s connection, or httpx's own transport where
the environment names a proxy (and, for async, off asyncio).
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import os
import random
import socket
import ssl
import threading
import time
import urllib.request
from collections.abc import Mapping, Sequence
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import anyio
import httpx
from pydantic import SecretStr

from ..._exceptions import InvalidInputError, RemoteAuthError, RemoteError
from ..._types import Criterion, Page
from ..._version import __version__
from .._base import BaseScorer, Scores
from . import _core
from ._connections import Connections
from ._http11 import AsyncHTTP11Connection, HTTP11Connection
from ._providers import PROVIDERS, Provider

__all__ = ["AsyncRemoteScorer", "RemoteScorer"]

logger = logging.getLogger("ctxcompress.remote")

_LOOPBACK_NAMES = {"localhost", "localhost.localdomain"}

# Request head and body go out in separate writes; with Nagle's algorithm on, the body
# waits for the server's delayed ACK of the head (~40 ms a request on Linux).
_SOCKET_OPTIONS = [(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)]

# httpx's transports (with a proxy, or async off asyncio) hold one connection each too.
_ONE_CONNECTION = httpx.Limits(max_connections=1, max_keepalive_connections=1)


def _positive(name: str, value: float | int, *, integer: bool = False) -> None:
    bad = isinstance(value, bool) or not isinstance(value, int if integer else (int, float))
    if bad or not value > 0:
        kind = "an int" if integer else "a number"
        raise InvalidInputError(f"{name} must be {kind} > 0, got {value!r}")


class RemoteScorer(BaseScorer):
    """Scores pages with a hosted rerank API (ZeroEntropy zerank-2, Cohere, Jina, Voyage,
    Hugging Face TEI, or an OpenAI-compatible /v1/rerank such as vLLM or infinity).

    The key is read from ``api_key`` or the provider's usual environment variable and kept
    as a ``SecretStr``: it appears in no repr, log line or error message. ``base_url``
    defaults to the provider's environment variable, then its public endpoint; plain HTTP is
    refused unless the host is loopback or ``allow_insecure=True``.

    ``timeout`` bounds each request, ``deadline`` the whole job (seconds, None for none);
    ``concurrency`` bounds requests in flight. Connection errors, timeouts, 408/409/429 and
    5xx are retried up to ``max_retries`` times with exponential backoff and full jitter,
    honouring ``Retry-After`` / ``retry-after-ms``; other 4xx are not retried.
    """

    # Each document is scored against the query on its own: scores do not depend on which
    # other pages share the request (that is what lets a cascade send only survivors).
    pointwise = True

    @property
    def fingerprint(self) -> str:
        # A hosted model may change under its name; the base URL at least separates servers.
        # Every option that changes a score is part of it, so a score cache never returns
        # another configuration's scores.
        options = {"score_transform": self.score_transform, **self.extra}
        described = ",".join(f"{k}={v}" for k, v in sorted(options.items()))
        return f"{self.name}@{self.base_url}[{described}]"

    def __init__(
        self,
        provider: str,
        model: str | None = None,
        *,
        api_key: str | SecretStr | None = None,
        base_url: str | None = None,
        timeout: float = 30.0,
        deadline: float | None = None,
        concurrency: int = 8,
        max_retries: int = 6,
        backoff_base: float = 0.25,
        backoff_max: float = 20.0,
        max_documents_per_request: int | None = None,
        max_bytes_per_request: int | None = None,
        latency: str | None = None,
        score_transform: _core.ScoreTransform = "identity",
        allow_insecure: bool = False,
        headers: Mapping[str, str] | None = None,
        seed: int | None = None,
    ) -> None:
        spec = PROVIDERS.get(provider)
        if spec is None:
            raise InvalidInputError(
                f"unknown rerank provider {provider!r}; known: {', '.join(sorted(PROVIDERS))}"
            )
        self.provider: Provider = spec
        self.model = model or spec.default_model
        if spec.name == "openai-compatible" and not self.model:
            raise InvalidInputError(
                "remote:openai-compatible needs a model: remote:openai-compatible/<model>"
            )
        _positive("timeout", timeout)
        if deadline is not None:
            _positive("deadline", deadline)
        _positive("concurrency", concurrency, integer=True)
        if isinstance(max_retries, bool) or not isinstance(max_retries, int) or max_retries < 0:
            raise InvalidInputError(f"max_retries must be an int >= 0, got {max_retries!r}")
        if score_transform not in ("identity", "sigmoid"):
            raise InvalidInputError(
                f"score_transform must be 'identity' or 'sigmoid', got {score_transform!r}"
            )
        if latency is not None and (spec.name != "zeroentropy" or latency not in ("fast", "slow")):
            raise InvalidInputError(
                f"latency={latency!r}: only the zeroentropy provider takes latency 'fast' or 'slow'"
            )
        self.max_documents = max_documents_per_request or spec.max_documents
        self.max_bytes = max_bytes_per_request or spec.max_request_bytes
        _positive("max_documents_per_request", self.max_documents, integer=True)
        _positive("max_bytes_per_request", self.max_bytes, integer=True)
        self.timeout = float(timeout)
        self.deadline = deadline
        self.concurrency = concurrency
        self.policy = _core.RetryPolicy(max_retries, backoff_base, backoff_max)
        self.score_transform: _core.ScoreTransform = score_transform
        self.extra: dict[str, Any] = {"latency": latency} if latency else {}
        self.base_url = self._base_url(base_url, allow_insecure)
        self._api_key = self._key(api_key)
        self._extra_headers = dict(headers or {})
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self._ssl: ssl.SSLContext | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._sync_connections = Connections(self._new_sync_transport)
        self.name = f"remote:{spec.name}" + (f"/{self.model}" if self.model else "")

    # -- configuration ---------------------------------------------------------------------

    def _base_url(self, base_url: str | None, allow_insecure: bool) -> str:
        spec = self.provider
        url = base_url or os.environ.get(spec.base_url_env) or spec.default_base_url
        if not url:
            raise InvalidInputError(f"{spec.name}: give base_url= or set {spec.base_url_env}")
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise InvalidInputError(
                f"{spec.name}: base URL must be http(s)://host[:port], got {_safe_url(url)!r}"
            )
        if parts.scheme == "http" and not allow_insecure and not _is_loopback(parts.hostname):
            raise InvalidInputError(
                f"{spec.name}: refusing plain HTTP to {parts.hostname}; use https, a loopback "
                "address, or allow_insecure=True"
            )
        return url.rstrip("/")

    def _key(self, api_key: str | SecretStr | None) -> SecretStr | None:
        if isinstance(api_key, SecretStr):
            key: str | None = api_key.get_secret_value()
        else:
            key = api_key
        if not key:
            key = next(
                (os.environ[e] for e in self.provider.api_key_envs if os.environ.get(e)), None
            )
        if not key and self.provider.key_required:
            raise RemoteAuthError(
                f"{self.provider.name}: no API key; pass api_key= or set "
                f"{' or '.join(self.provider.api_key_envs)}",
                provider=self.provider.name,
            )
        return SecretStr(key) if key else None

    @property
    def url(self) -> str:
        path = self.provider.path
        base = self.base_url
        # Users often configure ".../v1" as the base URL; do not ask for "/v1/v1/rerank".
        first = "/" + path.strip("/").split("/")[0]
        if first != path and base.endswith(first):
            base = base[: -len(first)]
        return base + path

    def _headers(self) -> dict[str, str]:
        headers = {
            "Accept": "application/json",
            "Content-Type": "application/json",
            "User-Agent": f"ctxcompress/{__version__}",
        }
        headers.update(self._extra_headers)
        if self._api_key is not None:
            headers["Authorization"] = f"Bearer {self._api_key.get_secret_value()}"
        return headers

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(provider={self.provider.name!r}, model={self.model!r}, "
            f"base_url={_safe_url(self.base_url)!r}, concurrency={self.concurrency}, "
            f"api_key={'**********' if self._api_key else None})"
        )

    # -- shared planning -------------------------------------------------------------------

    def _plan(
        self, criteria: Sequence[Criterion], texts: Sequence[str]
    ) -> list[_core.PlannedRequest]:
        return _core.plan(
            self.provider,
            [(c.text, c.instruction) for c in criteria],
            texts,
            model=self.model,
            max_documents=self.max_documents,
            max_bytes=self.max_bytes,
            extra=self.extra,
        )

    def _retrier(self, deadline: float | None) -> _core.Retrier:
        return _core.Retrier(
            self.policy,
            self.timeout,
            deadline,
            self.provider.name,
            rng=random.Random(self._rng.random()),
        )

    def _job_deadline(self) -> float | None:
        return None if self.deadline is None else time.monotonic() + self.deadline

    def _judge(self, request: _core.PlannedRequest, response: httpx.Response) -> _core.Outcome:
        return _core.outcome_of_response(
            self.provider,
            request,
            response.status_code,
            response.headers,
            response.content,
            self.score_transform,
        )

    def _wait_before_retry(self, retrier: _core.Retrier, outcome: _core.Outcome) -> float:
        """Seconds until the next attempt, logged; raises the typed error when none is left."""
        delay = retrier.after_failure(outcome)
        logger.info(
            "%s: retry %d/%d in %.2fs after %s",
            self.provider.name,
            retrier.attempt,
            self.policy.max_retries,
            delay,
            self._redact(str(outcome.error)),
        )
        return delay

    def _redact(self, text: str) -> str:
        if self._api_key is None:
            return text
        return text.replace(self._api_key.get_secret_value(), "**********")

    def _redacted(self, exc: RemoteError) -> RemoteError:
        # A second guard: the key is never put in a message, but a server may echo it.
        if exc.args:
            exc.args = (self._redact(str(exc.args[0])), *exc.args[1:])
        return exc

    @staticmethod
    def _assemble(
        criteria: Sequence[Criterion],
        n: int,
        plan: Sequence[_core.PlannedRequest],
        results: Sequence[list[float]],
    ) -> Scores:
        rows = [[0.0] * n for _ in criteria]
        for request, scores in zip(plan, results, strict=True):
            rows[request.row][request.start : request.start + len(scores)] = scores
        return Scores.of(rows)

    # -- connections -----------------------------------------------------------------------

    def _ssl_context(self) -> ssl.SSLContext:
        # One per scorer, shared by its connections: building one costs ~50 ms here.
        with self._lock:
            if self._ssl is None:
                self._ssl = httpx.create_ssl_context()
            return self._ssl

    def _new_sync_transport(self) -> httpx.BaseTransport:
        proxy = _proxy_for(self.url)
        if proxy is not None:  # httpx's transport speaks to proxies; ours does not
            return httpx.HTTPTransport(**self._httpx_transport_options(proxy))
        return HTTP11Connection(self._ssl_context(), _SOCKET_OPTIONS)

    def _new_async_transport(self) -> httpx.AsyncBaseTransport:
        proxy = _proxy_for(self.url)
        if proxy is not None or not _on_asyncio():  # ours needs asyncio and no proxy
            return httpx.AsyncHTTPTransport(**self._httpx_transport_options(proxy))
        return AsyncHTTP11Connection(self._ssl_context(), _SOCKET_OPTIONS)

    def _httpx_transport_options(self, proxy: str | None) -> dict[str, Any]:
        return {
            "verify": self._ssl_context(),
            "limits": _ONE_CONNECTION,
            "proxy": proxy,
            "socket_options": _SOCKET_OPTIONS,
        }

    def _request_target(self) -> tuple[httpx.URL, httpx.Headers]:
        # Built once per job rather than parsed and validated again for every request.
        return httpx.URL(self.url), httpx.Headers(self._headers())

    @staticmethod
    def _http_request(
        target: tuple[httpx.URL, httpx.Headers], request: _core.PlannedRequest, timeout: float
    ) -> httpx.Request:
        url, headers = target
        limits = {"connect": timeout, "write": timeout, "read": timeout, "pool": timeout}
        return httpx.Request(
            "POST", url, headers=headers, content=request.content, extensions={"timeout": limits}
        )

    # -- sync shell ------------------------------------------------------------------------

    def _threads(self) -> ThreadPoolExecutor:
        # Kept across calls: starting 16 threads per call put ~1.5 ms between the first
        # requests of every job, each new thread waiting for the one before it to start.
        with self._lock:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(
                    max_workers=self.concurrency, thread_name_prefix="ctxcompress-remote"
                )
            return self._executor

    def _send_sync(
        self,
        target: tuple[httpx.URL, httpx.Headers],
        request: _core.PlannedRequest,
        deadline: float | None,
        stop: threading.Event,
    ) -> list[float] | None:
        retrier = self._retrier(deadline)
        transport = self._sync_connections.take()
        try:
            while not stop.is_set():
                http_request = self._http_request(target, request, retrier.start_attempt())
                try:
                    response = transport.handle_request(http_request)
                    try:
                        response.read()
                    finally:
                        response.close()  # httpx's transport: back to its pool
                except httpx.HTTPError as exc:
                    outcome = _core.outcome_of_exception(self.provider, exc)
                else:
                    outcome = self._judge(request, response)
                if outcome.scores is not None:
                    return outcome.scores
                # An early wake-up when another request already failed the job.
                stop.wait(self._wait_before_retry(retrier, outcome))
            return None
        finally:
            self._sync_connections.give_back(transport)

    def _score(self, criteria: Sequence[Criterion], pages: Sequence[Page]) -> Scores:
        texts = [p.text for p in pages]
        plan = self._plan(criteria, texts)
        deadline = self._job_deadline()
        target = self._request_target()
        threads = self._threads()
        stop = threading.Event()
        futures = [threads.submit(self._send_sync, target, r, deadline, stop) for r in plan]
        done, pending = wait(futures, return_when=FIRST_EXCEPTION)
        failed = next((f for f in futures if f in done and f.exception() is not None), None)
        if failed is not None:
            # First failure fails the job: no new requests, running retry loops stop, and
            # nothing of this job is still in flight when the error is raised.
            stop.set()
            for future in pending:
                future.cancel()
            wait(pending)
            exc = failed.exception()
            assert exc is not None
            raise self._redacted(exc) if isinstance(exc, RemoteError) else exc
        results = [f.result() for f in futures]
        return self._assemble(criteria, len(texts), plan, [r for r in results if r is not None])

    def close(self) -> None:
        """Close the pooled connections and threads (also done by ``with RemoteScorer(...)``)."""
        with self._lock:
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=True, cancel_futures=True)
        for transport in self._sync_connections.drain():
            transport.close()

    def __enter__(self) -> RemoteScorer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- async shell -----------------------------------------------------------------------

    async def _send_async(
        self,
        transport: httpx.AsyncBaseTransport,
        target: tuple[httpx.URL, httpx.Headers],
        request: _core.PlannedRequest,
        deadline: float | None,
    ) -> list[float]:
        retrier = self._retrier(deadline)
        while True:
            http_request = self._http_request(target, request, retrier.start_attempt())
            try:
                response = await transport.handle_async_request(http_request)
                try:
                    await response.aread()
                finally:
                    await response.aclose()  # httpx's transport: back to its pool
            except httpx.HTTPError as exc:
                outcome = _core.outcome_of_exception(self.provider, exc)
            else:
                outcome = self._judge(request, response)
            if outcome.scores is not None:
                return outcome.scores
            await anyio.sleep(self._wait_before_retry(retrier, outcome))

    async def _ascore_with(
        self,
        connections: Connections[httpx.AsyncBaseTransport],
        criteria: Sequence[Criterion],
        pages: Sequence[Page],
    ) -> Scores:
        texts = [p.text for p in pages]
        plan = self._plan(criteria, texts)
        deadline = self._job_deadline()
        target = self._request_target()
        results: list[list[float] | None] = [None] * len(plan)
        errors: list[BaseException] = []
        todo = iter(enumerate(plan))  # shared by the workers: each request is taken once

        async def worker(scope: anyio.CancelScope) -> None:
            transport = connections.take()
            try:
                for i, request in todo:
                    results[i] = await self._send_async(transport, target, request, deadline)
            except Exception as exc:
                # The first failure cancels the rest; raised after the group, unwrapped.
                errors.append(exc)
                scope.cancel()
            finally:
                connections.give_back(transport)

        async with anyio.create_task_group() as group:
            for _ in range(min(self.concurrency, len(plan))):
                group.start_soon(worker, group.cancel_scope)
        if errors:
            first = errors[0]
            raise self._redacted(first) if isinstance(first, RemoteError) else first
        return self._assemble(criteria, len(texts), plan, [r for r in results if r is not None])

    async def _ascore(self, criteria: Sequence[Criterion], pages: Sequence[Page]) -> Scores:
        # Connections for this call only: an async connection belongs to the event loop that
        # made it, and a RemoteScorer may be used from several loops. AsyncRemoteScorer keeps
        # them.
        connections = Connections(self._new_async_transport)
        try:
            return await self._ascore_with(connections, criteria, pages)
        finally:
            for transport in connections.drain():
                await transport.aclose()


class AsyncRemoteScorer(RemoteScorer):
    """The async twin: its connections are kept across calls.

    Use it from one event loop, as ``async with AsyncRemoteScorer(...) as scorer`` or call
    :meth:`aclose` when done. Its sync methods still work (outside a running event loop)
    through the thread-pool shell it inherits.
    """

    def __init__(self, provider: str, model: str | None = None, **options: Any) -> None:
        super().__init__(provider, model, **options)
        self._async_connections = Connections(self._new_async_transport)

    async def _ascore(self, criteria: Sequence[Criterion], pages: Sequence[Page]) -> Scores:
        return await self._ascore_with(self._async_connections, criteria, pages)

    async def aclose(self) -> None:
        for transport in self._async_connections.drain():
            await transport.aclose()
        self.close()

    async def __aenter__(self) -> AsyncRemoteScorer:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()


def _is_loopback(host: str) -> bool:
    if host.lower() in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _safe_url(url: str) -> str:
    """The URL without user:password, for reprs and messages."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def _proxy_for(url: str) -> str | None:
    """The proxy the environment names for ``url`` (HTTPS_PROXY, ALL_PROXY, NO_PROXY...)."""
    parts = urlsplit(url)
    proxies = urllib.request.getproxies_environment()
    proxy = proxies.get(parts.scheme) or proxies.get("all")
    # With proxies in the environment, proxy_bypass reads NO_PROXY on every platform.
    if not proxy or urllib.request.proxy_bypass(parts.netloc):
        return None
    return proxy


def _on_asyncio() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:  # trio, through anyio
        return False
    return True
