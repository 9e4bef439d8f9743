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
import functools
import logging
import random
import socket
import ssl
import threading
import time
import urllib.request
import warnings
from collections.abc import Callable, Generator, Mapping, Sequence
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from typing import Any, TypeVar
from urllib.parse import urlsplit

import anyio
import httpx
from pydantic import SecretStr

from ..._exceptions import (
    InvalidInputError,
    RemoteResponseError,
    RemoteTruncationWarning,
    WireError,
)
from ..._pickling import RebuiltFromArguments
from ..._types import Criterion, Page
from ..._version import __version__
from .._base import BaseScorer, Scores
from . import _config, _core
from ._connections import Connections
from ._http11 import AsyncHTTP11Connection, HTTP11Connection
from ._providers import PROVIDERS, Provider
from ._windows import Fetch, Layout, ServerLimits, read_limits, windowed_layout

__all__ = ["AsyncRemoteScorer", "RemoteScorer"]

logger = logging.getLogger("ctxcompress.remote")

T = TypeVar("T")
LayoutSteps = Generator[Fetch, _core.Fetched, Layout]
_UNKNOWN = "unknown"  # a server's limits before its /info was read

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


class RemoteScorer(RebuiltFromArguments, BaseScorer):
    """Scores pages with a hosted rerank API (ZeroEntropy zerank-2, Cohere, Jina, Voyage,
    Hugging Face TEI, infinity, or an OpenAI-compatible /v1/rerank such as vLLM).

    The key is read from ``api_key`` or, as the provider's own client reads it, from its
    environment variables or key file (surrounding whitespace stripped) and kept as a
    ``SecretStr``: it appears in no repr, log line or error message. ``base_url`` defaults
    to the provider's environment variables, then its public endpoint; the request goes to
    the base URL plus the provider's path, or plus ``path`` where a gateway mounts the API
    elsewhere. Plain HTTP is refused unless the host is loopback or ``allow_insecure=True``.

    ``timeout`` bounds each request, ``deadline`` the whole job (seconds, None for none);
    ``concurrency`` bounds requests in flight. Connection errors, timeouts, 408/409/429 and
    5xx are retried up to ``max_retries`` times with exponential backoff and full jitter,
    honouring ``Retry-After`` / ``retry-after-ms``; other 4xx are not retried.

    ``copy.deepcopy`` and ``pickle`` rebuild it from its constructor's arguments, with new
    connections and threads: a key given as ``api_key=`` is written into a pickle, a key
    read from the environment or a key file is not (it is read again where it is loaded).

    Guide with examples: [Remote rerank APIs][guide-remote].
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
        if self.path is not None:
            options["path"] = self.path
        described = ",".join(f"{k}={v}" for k, v in sorted(options.items()))
        # Credentials in the URL are not part of it: fingerprints are shown (/info, logs).
        return f"{self.name}@{_config.safe_url(self.base_url)}[{described}]"

    def __init__(
        self,
        provider: str,
        model: str | None = None,
        *,
        api_key: str | SecretStr | None = None,
        base_url: str | None = None,
        path: str | None = None,
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
        self._documents_given = max_documents_per_request is not None
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
        self._api_key, self._key_source = _config.key_of(spec, api_key)
        key = self._api_key.get_secret_value() if self._api_key else None
        self.base_url = _config.base_url_of(spec, base_url, key, allow_insecure)
        self.path = _config.check_path(path, spec.name)
        self._extra_headers = _config.check_headers(headers or {}, spec.name)
        self._limits: ServerLimits | str | None = _UNKNOWN
        self._warned = False
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self._ssl: ssl.SSLContext | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._sync_connections = Connections(self._new_sync_transport)
        self.name = f"remote:{spec.name}" + (f"/{self.model}" if self.model else "")

    # -- configuration ---------------------------------------------------------------------

    @property
    def url(self) -> str:
        """Where rerank requests go: the base URL plus the provider's path (or ``path``)."""
        return self.provider.endpoint(self.base_url, self.path)

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
            f"base_url={_config.safe_url(self.base_url)!r}, concurrency={self.concurrency}, "
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

    def _layout_steps(self, criteria: Sequence[Criterion], texts: Sequence[str]) -> LayoutSteps:
        """What to send for the pages: whole, or (TEI) long pages as windows that fit.

        A generator of side requests (see ``_windows``), driven by either shell.
        """
        if not self.provider.windows_long_pages or not texts:
            return Layout.whole(texts)
        if self._limits == _UNKNOWN:  # read once per scorer
            self._limits = yield from read_limits()
            if isinstance(self._limits, ServerLimits) and not self._documents_given:
                self.max_documents = self._limits.max_client_batch_size
        layout = None
        if isinstance(self._limits, ServerLimits):
            queries = [self.provider.format_query(c.text, c.instruction) for c in criteria]
            layout = yield from windowed_layout(self._limits, queries, texts, self.max_bytes)
        if layout is None:
            self._warn_truncation("/info" if self._limits is None else "/tokenize")
            return Layout.whole(texts)
        return layout

    def _warn_truncation(self, endpoint: str) -> None:
        if self._warned:
            return
        self._warned = True
        warnings.warn(
            RemoteTruncationWarning(
                f"{self.provider.name}: the server at {_config.safe_url(self.base_url)} has no "
                f"{endpoint}, so long pages cannot be windowed: they are sent whole with "
                "truncate=true, and text past the model's input length is not scored"
            ),
            stacklevel=4,
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

    def _judge(
        self, request: _core.PlannedRequest, response: httpx.Response
    ) -> _core.Outcome[list[float]]:
        return _core.outcome_of_response(
            self.provider,
            request,
            response.status_code,
            response.headers,
            response.content,
            self.score_transform,
            urlsplit(self.url).path,
        )

    def _judge_fetch(self, response: httpx.Response) -> _core.Outcome[_core.Fetched]:
        return _core.outcome_of_fetch(
            self.provider, response.status_code, response.headers, response.content
        )

    def _wait_before_retry(self, retrier: _core.Retrier, outcome: _core.Outcome[Any]) -> float:
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

    def _secrets(self) -> list[str]:
        values = [v for v in self._extra_headers.values() if len(v) >= 8]
        if self._api_key is not None:
            values.append(self._api_key.get_secret_value())
        return values

    def _redact(self, text: str) -> str:
        for secret in self._secrets():
            text = text.replace(secret, "**********")
        return text

    def _redacted(self, exc: BaseException) -> BaseException:
        """``exc`` and every exception it chains, with the key (and header values) redacted.

        A second guard: no message is built with the key, but a server may echo it, and a
        library's error may quote a header.
        """
        seen: set[int] = set()
        link: BaseException | None = exc
        while link is not None and id(link) not in seen:
            seen.add(id(link))
            if link.args and isinstance(link.args[0], str):
                link.args = (self._redact(link.args[0]), *link.args[1:])
            link = link.__cause__ or link.__context__
        return exc

    def _failed(self, exc: BaseException) -> BaseException:
        """The error a job raises: redacted, and a side endpoint's bad answer typed."""
        if isinstance(exc, WireError):
            name = self.provider.name
            wrapped = RemoteResponseError(
                f"{name}: bad answer from the server: {exc}", provider=name
            )
            wrapped.__cause__ = exc
            exc = wrapped
        return self._redacted(exc)

    @staticmethod
    def _assemble(
        criteria: Sequence[Criterion],
        n: int,
        plan: Sequence[_core.PlannedRequest],
        results: Sequence[list[float]],
    ) -> list[list[float]]:
        rows = [[0.0] * n for _ in criteria]
        for request, scores in zip(plan, results, strict=True):
            rows[request.row][request.start : request.start + len(scores)] = scores
        return rows

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
        return httpx.Request(
            "POST", url, headers=headers, content=request.content, extensions=_timeouts(timeout)
        )

    def _side_request(
        self, target: tuple[httpx.URL, httpx.Headers], fetch: Fetch, timeout: float
    ) -> httpx.Request:
        return httpx.Request(
            fetch.method,
            self.base_url + fetch.path,
            headers=target[1],
            content=fetch.content,
            extensions=_timeouts(timeout),
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

    def _exchange_sync(
        self,
        transport: httpx.BaseTransport,
        build: Callable[[float], httpx.Request],
        judge: Callable[[httpx.Response], _core.Outcome[T]],
        deadline: float | None,
        stop: threading.Event,
    ) -> T | None:
        """One request until it succeeds, fails for good (raises), or ``stop`` is set.

        The twin of ``_exchange_async``: the same loop over a blocking transport, as httpx
        itself keeps its sync and async clients apart.
        """
        retrier = self._retrier(deadline)
        outcome: _core.Outcome[T]
        while not stop.is_set():
            try:
                response = transport.handle_request(build(retrier.start_attempt()))
                try:
                    response.read()
                finally:
                    response.close()  # httpx's transport: back to its pool
            except httpx.HTTPError as exc:
                outcome = _core.outcome_of_exception(self.provider, exc)
            else:
                outcome = judge(response)
            if outcome.value is not None:
                return outcome.value
            # An early wake-up when another request already failed the job.
            stop.wait(self._wait_before_retry(retrier, outcome))
        return None

    def _send_sync(
        self,
        target: tuple[httpx.URL, httpx.Headers],
        request: _core.PlannedRequest,
        deadline: float | None,
        stop: threading.Event,
    ) -> list[float] | None:
        transport = self._sync_connections.take()
        try:
            build = functools.partial(self._http_request, target, request)
            judge = functools.partial(self._judge, request)
            return self._exchange_sync(transport, build, judge, deadline, stop)
        finally:
            self._sync_connections.give_back(transport)

    def _layout_sync(
        self,
        steps: LayoutSteps,
        target: tuple[httpx.URL, httpx.Headers],
        deadline: float | None,
    ) -> Layout:
        # The twin of _layout_async: the same steps, sent with a blocking transport.
        transport = self._sync_connections.take()
        try:
            fetch = next(steps)
            while True:
                build = functools.partial(self._side_request, target, fetch)
                got = self._exchange_sync(
                    transport, build, self._judge_fetch, deadline, threading.Event()
                )
                assert got is not None  # nothing sets that event
                fetch = steps.send(got)
        except StopIteration as done:
            layout: Layout = done.value
            return layout
        finally:
            self._sync_connections.give_back(transport)

    def _score(self, criteria: Sequence[Criterion], pages: Sequence[Page]) -> Scores:
        deadline = self._job_deadline()
        target = self._request_target()
        try:
            layout = self._layout_sync(
                self._layout_steps(criteria, [p.text for p in pages]), target, deadline
            )
            plan = self._plan(criteria, layout.texts)
            results = self._send_all_sync(target, plan, deadline)
        except Exception as exc:
            failed = self._failed(exc)
            raise failed from failed.__cause__
        return layout.reduce(self._assemble(criteria, len(layout.texts), plan, results))

    def _send_all_sync(
        self,
        target: tuple[httpx.URL, httpx.Headers],
        plan: Sequence[_core.PlannedRequest],
        deadline: float | None,
    ) -> list[list[float]]:
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
            raise exc
        return [r for r in (f.result() for f in futures) if r is not None]

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

    async def _exchange_async(
        self,
        transport: httpx.AsyncBaseTransport,
        build: Callable[[float], httpx.Request],
        judge: Callable[[httpx.Response], _core.Outcome[T]],
        deadline: float | None,
    ) -> T:
        """One request until it succeeds or fails for good (raises): the async twin of
        _exchange_sync, kept apart for the reason given there."""
        retrier = self._retrier(deadline)
        outcome: _core.Outcome[T]
        while True:
            try:
                response = await transport.handle_async_request(build(retrier.start_attempt()))
                try:
                    await response.aread()
                finally:
                    await response.aclose()  # httpx's transport: back to its pool
            except httpx.HTTPError as exc:
                outcome = _core.outcome_of_exception(self.provider, exc)
            else:
                outcome = judge(response)
            if outcome.value is not None:
                return outcome.value
            await anyio.sleep(self._wait_before_retry(retrier, outcome))

    async def _layout_async(
        self,
        steps: LayoutSteps,
        connections: Connections[httpx.AsyncBaseTransport],
        target: tuple[httpx.URL, httpx.Headers],
        deadline: float | None,
    ) -> Layout:
        # The twin of _layout_sync: the same steps, awaited.
        transport = connections.take()
        try:
            fetch = next(steps)
            while True:
                build = functools.partial(self._side_request, target, fetch)
                got = await self._exchange_async(transport, build, self._judge_fetch, deadline)
                fetch = steps.send(got)
        except StopIteration as done:
            layout: Layout = done.value
            return layout
        finally:
            connections.give_back(transport)

    async def _ascore_with(
        self,
        connections: Connections[httpx.AsyncBaseTransport],
        criteria: Sequence[Criterion],
        pages: Sequence[Page],
    ) -> Scores:
        deadline = self._job_deadline()
        target = self._request_target()
        try:
            steps = self._layout_steps(criteria, [p.text for p in pages])
            layout = await self._layout_async(steps, connections, target, deadline)
            plan = self._plan(criteria, layout.texts)
            results = await self._send_all_async(connections, target, plan, deadline)
        except Exception as exc:
            failed = self._failed(exc)
            raise failed from failed.__cause__
        return layout.reduce(self._assemble(criteria, len(layout.texts), plan, results))

    async def _send_all_async(
        self,
        connections: Connections[httpx.AsyncBaseTransport],
        target: tuple[httpx.URL, httpx.Headers],
        plan: Sequence[_core.PlannedRequest],
        deadline: float | None,
    ) -> list[list[float]]:
        results: list[list[float] | None] = [None] * len(plan)
        errors: list[BaseException] = []
        todo = iter(enumerate(plan))  # shared by the workers: each request is taken once

        async def worker(scope: anyio.CancelScope) -> None:
            transport = connections.take()
            try:
                for i, request in todo:
                    build = functools.partial(self._http_request, target, request)
                    judge = functools.partial(self._judge, request)
                    scores: list[float] = await self._exchange_async(
                        transport, build, judge, deadline
                    )
                    results[i] = scores
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
            raise errors[0]
        return [r for r in results if r is not None]

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

    Guide with examples: [Remote rerank APIs][guide-remote].
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


def _timeouts(timeout: float) -> dict[str, dict[str, float]]:
    return {"timeout": {"connect": timeout, "write": timeout, "read": timeout, "pool": timeout}}


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
