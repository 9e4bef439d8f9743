"""One kept-alive HTTP/1.1 connection as an httpx transport, sync and async, framed by h11.

Why not httpx's own transport here: with 16 requests in flight on one event loop, httpx's
client, httpcore's pool and locks and anyio's checkpoints make each request yield to the
loop many times. When a wave of 16 answers lands together, those yields interleave the
16 workers round-robin, so every worker sends its next request only once the whole wave
has been handled, instead of one after the other. In the 80 × 150 benchmark
(benchmarks/bench_remote.py, docs/benchmarks.md) the async path went from +24% to +12%
against the ideal schedule, and from 2.7 to 1.4 ms of CPU a request; the sync path from
+15% to +12%.

The framing is h11's, the sans-I/O HTTP/1.1 library httpcore itself is built on:
``_Exchange`` turns a request into bytes and bytes into a response, and the two shells
below add only the socket: connect (TLS for https), keep-alive (reconnecting after
``KEEPALIVE_EXPIRY`` idle seconds or a close by the server), the connect/write/read
timeouts of the request's ``timeout`` extension, and httpx's exception types, so the
scorer judges failures the same whichever transport it holds. There is no proxy support:
the scorer uses httpx's transport when the environment names a proxy (see _client).
"""

from __future__ import annotations

import asyncio
import select
import socket
import ssl
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import anyio
import h11
import httpx

__all__ = ["KEEPALIVE_EXPIRY", "AsyncHTTP11Connection", "HTTP11Connection"]

# As httpcore's default: an idle connection older than this may be closing on the server's
# side as we write to it, so a new one is opened instead.
KEEPALIVE_EXPIRY = 5.0

_READ_SIZE = 65536
_Origin = tuple[str, str, int]
SocketOption = tuple[int, int, int]

_TIMEOUT_ERRORS: dict[str, type[httpx.TimeoutException]] = {
    "connect": httpx.ConnectTimeout,
    "write": httpx.WriteTimeout,
    "read": httpx.ReadTimeout,
}
_NETWORK_ERRORS: dict[str, type[httpx.NetworkError]] = {
    "connect": httpx.ConnectError,
    "write": httpx.WriteError,
    "read": httpx.ReadError,
}


@contextmanager
def _mapped_errors(phase: str, request: httpx.Request) -> Iterator[None]:
    """Raise what httpx's transport raises for the same failure in the same phase."""
    try:
        yield
    except TimeoutError as exc:  # socket timeouts and anyio.fail_after alike
        raise _TIMEOUT_ERRORS[phase](f"{phase} timed out", request=request) from exc
    except h11.RemoteProtocolError as exc:
        raise httpx.RemoteProtocolError(str(exc), request=request) from exc
    except OSError as exc:  # resets, refusals, TLS failures
        detail = str(exc) or type(exc).__name__
        raise _NETWORK_ERRORS[phase](detail, request=request) from exc


@contextmanager
def _answer_or(write_failed: httpx.WriteError | None) -> Iterator[None]:
    """After a failed write, read on; if no answer comes either, the write error stands.

    A server may answer before it has read the whole body (a 401 for a bad key, a 413) and
    close the connection: that answer, not the broken write, is what the caller must see,
    or a bad key would be retried as a connection failure. httpcore's sync connection
    does the same.
    """
    try:
        yield
    except httpx.TransportError:
        if write_failed is not None:
            raise write_failed from None
        raise


def _timeouts(request: httpx.Request) -> dict[str, float | None]:
    timeout: dict[str, float | None] = request.extensions.get("timeout", {})
    return timeout


def _readable(sock: socket.socket) -> bool:
    # poll where there is one: select() fails for descriptors past FD_SETSIZE (1024).
    if hasattr(select, "poll"):
        poller = select.poll()
        poller.register(sock, select.POLLIN)
        return bool(poller.poll(0))
    readable, _, _ = select.select([sock], [], [], 0)
    return bool(readable)


def _origin(url: httpx.URL) -> _Origin:
    port = url.port or (443 if url.scheme == "https" else 80)
    return url.scheme, url.host, port


class _Exchange:
    """One request and its response on an h11 connection, with no I/O."""

    def __init__(self, connection: h11.Connection, request: httpx.Request) -> None:
        self._connection = connection
        self._request = request
        self._head: h11.Response | None = None
        self._body: list[bytes] = []

    def outgoing(self) -> list[bytes]:
        """The request's bytes: the head, then the body as it is (not copied)."""
        request = self._request
        try:
            head = h11.Request(
                method=request.method,
                target=request.url.raw_path,
                headers=list(request.headers.raw),
            )
        except h11.LocalProtocolError:
            head = None
        if head is None:
            # Raised outside the handler, with no cause and no context: h11's message quotes
            # the header's value, and that value may be the API key.
            raise httpx.LocalProtocolError(
                "the request head is not valid HTTP (a header name or value)", request=request
            )
        chunks = [self._connection.send(head) or b""]
        if request.content:
            chunks += (
                self._connection.send_with_data_passthrough(h11.Data(data=request.content)) or []
            )
        chunks.append(self._connection.send(h11.EndOfMessage()) or b"")
        return [c for c in chunks if c]

    def receive(self, data: bytes) -> httpx.Response | None:
        """Feed bytes read (``b""`` at end of stream); the response once it is complete."""
        self._connection.receive_data(data)
        while True:
            event = self._connection.next_event()
            if event is h11.NEED_DATA:
                return None
            if isinstance(event, h11.Response):
                self._head = event
            elif isinstance(event, h11.Data):
                self._body.append(bytes(event.data))
            elif isinstance(event, h11.EndOfMessage):
                return self._response()
            elif isinstance(event, h11.ConnectionClosed):
                raise h11.RemoteProtocolError("server disconnected without sending a response")
            # An InformationalResponse (1xx) is followed by the real one: read on.

    def _response(self) -> httpx.Response:
        head = self._head
        assert head is not None  # h11 gives no EndOfMessage before the Response
        return httpx.Response(
            head.status_code,
            headers=list(head.headers.raw_items()),
            content=b"".join(self._body),
            request=self._request,
            extensions={"http_version": b"HTTP/1.1", "reason_phrase": head.reason},
        )

    def keep_alive(self) -> bool:
        """After the response: whether the connection can carry another request."""
        c = self._connection
        if c.our_state is h11.DONE and c.their_state is h11.DONE:
            c.start_next_cycle()
            return True
        return False


class _KeepAlive:
    """What a connection keeps between requests, with no I/O; shared by both shells."""

    def __init__(self) -> None:
        self.h11 = h11.Connection(h11.CLIENT)
        self.origin: _Origin | None = None
        self.idle_since = 0.0

    def fresh(self, origin: _Origin) -> bool:
        """Whether the open connection may carry a request to ``origin`` (I/O aside)."""
        same = origin == self.origin
        return same and time.monotonic() - self.idle_since <= KEEPALIVE_EXPIRY

    def opened(self, origin: _Origin) -> None:
        self.origin, self.h11 = origin, h11.Connection(h11.CLIENT)

    def finished(self, exchange: _Exchange) -> bool:
        """After a response: True to keep the connection open for the next request."""
        if exchange.keep_alive():
            self.idle_since = time.monotonic()
            return True
        return False


class _Connection:
    """What both shells hold: TLS settings, socket options and the keep-alive state."""

    def __init__(
        self, ssl_context: ssl.SSLContext, socket_options: Sequence[SocketOption] = ()
    ) -> None:
        self._ssl_context = ssl_context
        self._socket_options = list(socket_options)
        self._state = _KeepAlive()


class HTTP11Connection(_Connection, httpx.BaseTransport):
    """One HTTP/1.1 connection (blocking sockets), opened on the first request."""

    _sock: socket.socket | None = None

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        # Sync/async twin of AsyncHTTP11Connection.handle_async_request (the httpx pattern):
        # blocking socket calls here, awaited stream calls there; the protocol is in _Exchange.
        timeouts = _timeouts(request)
        try:
            sock = self._ready(request, timeouts.get("connect"))
            exchange = _Exchange(self._state.h11, request)
            write_failed: httpx.WriteError | None = None
            try:
                with _mapped_errors("write", request):
                    sock.settimeout(timeouts.get("write"))
                    for chunk in exchange.outgoing():
                        sock.sendall(chunk)
            except httpx.WriteError as exc:
                write_failed = exc  # see _answer_or
            with _answer_or(write_failed), _mapped_errors("read", request):
                sock.settimeout(timeouts.get("read"))
                response = None
                while response is None:
                    response = exchange.receive(sock.recv(_READ_SIZE))
        except BaseException:
            self.close()  # a request cut short leaves the connection in an unknown state
            raise
        if not self._state.finished(exchange):
            self.close()
        return response

    def _ready(self, request: httpx.Request, timeout: float | None) -> socket.socket:
        origin = _origin(request.url)
        if self._sock is not None and not self._reusable(self._sock, origin):
            self.close()
        if self._sock is None:
            scheme, host, port = origin
            with _mapped_errors("connect", request):
                self._sock = socket.create_connection((host, port), timeout=timeout)
                for option in self._socket_options:
                    self._sock.setsockopt(*option)
                if scheme == "https":
                    self._sock = self._ssl_context.wrap_socket(self._sock, server_hostname=host)
            self._state.opened(origin)
        return self._sock

    def _reusable(self, sock: socket.socket, origin: _Origin) -> bool:
        # An idle connection has nothing to read unless the server closed it.
        return self._state.fresh(origin) and not _readable(sock)

    def close(self) -> None:
        sock, self._sock = self._sock, None
        if sock is not None:
            sock.close()


class AsyncHTTP11Connection(_Connection, httpx.AsyncBaseTransport):
    """One HTTP/1.1 connection on asyncio streams, opened on the first request.

    asyncio only: the scorer gives httpx's transport to other event loops (trio).
    """

    _streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        # The twin of HTTP11Connection.handle_request, on asyncio streams: the I/O calls and
        # their timeouts differ at every step, as between httpcore's sync and async halves.
        timeouts = _timeouts(request)
        try:
            reader, writer = await self._ready(request, timeouts.get("connect"))
            exchange = _Exchange(self._state.h11, request)
            # No _answer_or here: when asyncio's transport sees the write fail, it drops what
            # it had received too (httpx's anyio transport is no different).
            with _mapped_errors("write", request), anyio.fail_after(timeouts.get("write")):
                for chunk in exchange.outgoing():
                    writer.write(chunk)
                await writer.drain()
            with _mapped_errors("read", request), anyio.fail_after(timeouts.get("read")):
                response = None
                while response is None:
                    response = exchange.receive(await reader.read(_READ_SIZE))
        except BaseException:
            self._abort()  # a request cut short leaves the connection in an unknown state
            raise
        if not self._state.finished(exchange):
            self._abort()
        return response

    async def _ready(
        self, request: httpx.Request, timeout: float | None
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        origin = _origin(request.url)
        if self._streams is not None and not self._reusable(self._streams, origin):
            self._abort()
        if self._streams is None:
            scheme, host, port = origin
            tls: dict[str, Any] = (
                {"ssl": self._ssl_context, "server_hostname": host} if scheme == "https" else {}
            )
            with _mapped_errors("connect", request), anyio.fail_after(timeout):
                self._streams = await asyncio.open_connection(host, port, **tls)
                sock = self._streams[1].get_extra_info("socket")
                for option in self._socket_options:
                    sock.setsockopt(*option)
            self._state.opened(origin)
        return self._streams

    def _reusable(
        self, streams: tuple[asyncio.StreamReader, asyncio.StreamWriter], origin: _Origin
    ) -> bool:
        reader, writer = streams
        return self._state.fresh(origin) and not (reader.at_eof() or writer.is_closing())

    def _abort(self) -> None:
        streams, self._streams = self._streams, None
        if streams is not None:
            streams[1].transport.abort()

    async def aclose(self) -> None:
        self._abort()
