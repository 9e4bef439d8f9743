"""The remote scorers' HTTP/1.1 connections: framing without I/O, then against real servers
(TLS, keep-alive closed by the server, proxies from the environment, trio)."""

from __future__ import annotations

import gzip
import logging
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator

import anyio
import h11
import httpx
import pytest
import trustme

from ctxcompress import AsyncRemoteScorer, RemoteAuthError, RemoteScorer, RemoteServerError
from ctxcompress._scorers._remote._http11 import _Exchange

from .rerank_server import KEY, Behaviour, RerankServer, expected_score, serve

CRITERIA = ["q0", "q1", "q2", "q3", "q4", "q5"]
DOCS = [f"page {i}: " + "lorem ipsum " * (i % 5) for i in range(9)]


# --- framing, no I/O ----------------------------------------------------------------------


def exchange(content: bytes = b'{"a": 1}') -> tuple[_Exchange, h11.Connection, bytes]:
    connection = h11.Connection(h11.CLIENT)
    request = httpx.Request("POST", "http://api.test:8080/v1/rerank?x=1", content=content)
    return _Exchange(connection, request), connection, content


def feed_bytewise(ex: _Exchange, data: bytes) -> httpx.Response:
    for i in range(len(data)):
        response = ex.receive(data[i : i + 1])
        if response is not None:
            assert i == len(data) - 1, "the response completed before its last byte"
            return response
    raise AssertionError("no response")


def test_the_request_goes_out_as_head_then_the_body_itself() -> None:
    ex, _, content = exchange(b"x" * 100_000)
    head, body = ex.outgoing()
    assert head.startswith(b"POST /v1/rerank?x=1 HTTP/1.1\r\n")
    assert b"host: api.test:8080\r\n" in head.lower()
    assert b"content-length: 100000\r\n" in head.lower()
    assert body is content  # passed through, not copied


def test_a_chunked_response_fed_byte_by_byte() -> None:
    ex, connection, _ = exchange()
    ex.outgoing()
    wire = (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Type: application/json\r\n\r\n"
        b'5\r\n{"a":\r\n3\r\n 1}\r\n0\r\n\r\n'
    )
    response = feed_bytewise(ex, wire)
    assert (response.status_code, response.content) == (200, b'{"a": 1}')
    assert response.headers["content-type"] == "application/json"
    assert ex.keep_alive() and connection.our_state is h11.IDLE


def test_interim_responses_are_skipped_and_content_is_decoded() -> None:
    ex, _, _ = exchange()
    ex.outgoing()
    body = gzip.compress(b'{"ok": true}')
    wire = (
        b"HTTP/1.1 100 Continue\r\n\r\n"
        b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: %d\r\n\r\n" % len(body)
    ) + body
    response = ex.receive(wire)
    assert response is not None and response.json() == {"ok": True}


def test_connection_close_ends_keep_alive() -> None:
    ex, _, _ = exchange()
    ex.outgoing()
    response = ex.receive(b"HTTP/1.1 503 Busy\r\nConnection: close\r\nContent-Length: 0\r\n\r\n")
    assert response is not None and response.status_code == 503
    assert not ex.keep_alive()


@pytest.mark.parametrize(
    "wire",
    [b"", b'HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n{"a"', b"NOT HTTP\r\n\r\n"],
    ids=["closed-before-answer", "closed-mid-body", "garbage"],
)
def test_a_broken_answer_is_a_protocol_error(wire: bytes) -> None:
    ex, _, _ = exchange()
    ex.outgoing()
    with pytest.raises(h11.RemoteProtocolError):
        ex.receive(wire)
        ex.receive(b"")  # end of stream


# --- against real servers, sync and async ---------------------------------------------------


def run_sync(server: RerankServer, **kw: object) -> list[list[float]]:
    with RemoteScorer("cohere", api_key=KEY, base_url=server.base_url, **kw) as scorer:
        return scorer.score_batch(CRITERIA, DOCS)


def run_async(server: RerankServer, backend: str = "asyncio", **kw: object) -> list[list[float]]:
    async def main() -> list[list[float]]:
        async with AsyncRemoteScorer(
            "cohere", api_key=KEY, base_url=server.base_url, **kw
        ) as scorer:
            return await scorer.ascore_batch(CRITERIA, DOCS)

    return anyio.run(main, backend=backend)


RUNNERS: dict[str, Callable[..., list[list[float]]]] = {"sync": run_sync, "async": run_async}


def check_scores(rows: list[list[float]]) -> None:
    assert rows == [[expected_score(q, d) for d in DOCS] for q in CRITERIA]


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def tls_server(ca: trustme.CA) -> Iterator[RerankServer]:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    with serve(Behaviour("cohere", tls=context)) as server:
        yield server


@pytest.mark.parametrize("mode", sorted(RUNNERS))
def test_https_with_a_trusted_certificate(
    mode: str, tls_server: RerankServer, ca: trustme.CA, tmp_path, monkeypatch
) -> None:
    assert tls_server.base_url.startswith("https://")
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    monkeypatch.setenv("SSL_CERT_FILE", str(ca_file))  # as httpx: the trust store to use
    check_scores(RUNNERS[mode](tls_server, concurrency=2))
    assert 1 <= len(tls_server.stats.peers) <= 2


@pytest.mark.parametrize("mode", sorted(RUNNERS))
def test_https_with_an_untrusted_certificate_fails_typed(
    mode: str, tls_server: RerankServer
) -> None:
    with pytest.raises(RemoteServerError, match=r"connection failed \(ConnectError\)") as info:
        RUNNERS[mode](tls_server, max_retries=0)
    assert isinstance(info.value.__cause__, httpx.ConnectError)
    assert "CERTIFICATE_VERIFY_FAILED" in str(info.value.__cause__)
    assert tls_server.stats.requests == 0


@pytest.mark.parametrize("mode", sorted(RUNNERS))
def test_a_server_that_closes_every_connection(mode: str) -> None:
    with serve(Behaviour("cohere", close_connections=True)) as server:
        check_scores(RUNNERS[mode](server, concurrency=2, max_retries=0))
        assert len(server.stats.peers) == len(CRITERIA)  # a new connection per request


@pytest.mark.parametrize("mode", sorted(RUNNERS))
def test_connections_closed_while_idle_are_replaced_without_a_retry(
    mode: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="ctxcompress.remote")
    with serve(Behaviour("cohere", idle_timeout=0.2)) as server:
        if mode == "sync":
            with RemoteScorer("cohere", api_key=KEY, base_url=server.base_url) as scorer:
                check_scores(scorer.score_batch(CRITERIA, DOCS))
                time.sleep(0.5)  # the server closes the idle connections
                check_scores(scorer.score_batch(CRITERIA, DOCS))
        else:

            async def main() -> None:
                async with AsyncRemoteScorer(
                    "cohere", api_key=KEY, base_url=server.base_url
                ) as scorer:
                    check_scores(await scorer.ascore_batch(CRITERIA, DOCS))
                    await anyio.sleep(0.5)
                    check_scores(await scorer.ascore_batch(CRITERIA, DOCS))

            anyio.run(main)
        assert server.stats.requests == 2 * len(CRITERIA)
    assert not [r for r in caplog.records if "retry" in r.getMessage()]


@pytest.mark.parametrize("mode", sorted(RUNNERS))
def test_requests_go_through_the_proxy_the_environment_names(
    mode: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with serve(Behaviour("cohere")) as api, serve(Behaviour("cohere")) as proxy:
        monkeypatch.setenv("HTTP_PROXY", proxy.base_url)
        check_scores(RUNNERS[mode](api))
        assert (api.stats.requests, proxy.stats.proxied) == (0, len(CRITERIA))
        host = api.base_url.split("//")[1].split(":")[0]
        monkeypatch.setenv("NO_PROXY", host)
        check_scores(RUNNERS[mode](api))
        assert api.stats.requests == len(CRITERIA)


def test_the_async_scorer_runs_on_trio() -> None:
    with serve(Behaviour("cohere")) as server:
        check_scores(run_async(server, backend="trio", concurrency=3))
        assert 1 <= len(server.stats.peers) <= 3


@pytest.fixture
def early_401_url() -> Iterator[str]:
    """A server that answers 401 as soon as it has the head, and closes without reading the
    body (the kernel then resets the connection under the client's write)."""
    listener = socket.create_server(("127.0.0.1", 0))
    answer = b'{"message": "invalid api key"}'
    wire = b"HTTP/1.1 401 Unauthorized\r\nContent-Length: %d\r\n\r\n%s" % (len(answer), answer)

    def serve_forever() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return  # the listener was closed
            with conn:
                head = b""
                while b"\r\n\r\n" not in head:
                    head += conn.recv(4096)
                conn.sendall(wire)

    thread = threading.Thread(target=serve_forever, daemon=True)
    thread.start()
    host, port = listener.getsockname()
    yield f"http://{host}:{port}"
    listener.close()


def test_an_answer_sent_before_the_body_was_read_is_what_counts(early_401_url: str) -> None:
    # Sync only: on asyncio the transport reports the reset and drops what was received
    # (httpx's anyio transport does the same), so the async path sees a connection failure.
    big = ["x" * 1_000_000] * 4  # more than the socket buffers take while nobody reads
    with (
        RemoteScorer("cohere", api_key=KEY, base_url=early_401_url) as scorer,
        pytest.raises(RemoteAuthError, match="401"),
    ):
        scorer.score_batch(["q"], big)
