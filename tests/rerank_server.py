"""A real rerank API server on 127.0.0.1 for tests, speaking each provider's wire format.

It checks request bodies against the provider's documented shape (a wrong body gets a 400
like a real API would), scores every (query, document) with a deterministic function the
tests can recompute, and injects faults: from a seeded random mix, or a scripted sequence.
"""

from __future__ import annotations

import json
import random
import socket
import ssl
import struct
import threading
import time
import zlib
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

KEY = "sk-test-3f9a1c77b2e84d0fa6c5"  # what the tests pass; the server requires it

PATHS = {
    "zeroentropy": "/v1/models/rerank",
    "cohere": "/v2/rerank",
    "jina": "/v1/rerank",
    "voyage": "/v1/rerank",
    "tei": "/rerank",
    "openai-compatible": "/v1/rerank",
}

# Faults a request can meet. Response faults corrupt an otherwise correct 200 answer.
TRANSPORT_FAULTS = ("429", "500", "503", "reset", "timeout")
RESPONSE_FAULTS = ("garbage", "missing", "duplicate", "out_of_range", "nan", "logits")


def expected_score(query: str, document: str) -> float:
    """The server's score for a pair: deterministic, in (0, 1)."""
    return (zlib.crc32(f"{query}\x00{document}".encode()) % 9973 + 1) / 9975


@dataclass
class Behaviour:
    provider: str
    latency: float = 0.0
    fault_rates: dict[str, float] = field(default_factory=dict)
    script: list[str] = field(default_factory=list)  # faults for the first requests, in order
    always: str | None = None  # a fault on every request
    fail_query_containing: str | None = None  # 500 for every request whose query has this
    retry_after: str | None = None  # Retry-After value sent with 429/503
    retry_after_ms: str | None = "20"
    hang_seconds: float = 2.0
    echo_auth_in_errors: bool = False
    seed: int = 1234
    # Tests read back every body and served pair; a long benchmark run would only pile
    # them up (hundreds of MB of pages), so it turns this off.
    record: bool = True
    tls: ssl.SSLContext | None = None  # serve https with this context
    close_connections: bool = False  # answer with "Connection: close" (no keep-alive)
    idle_timeout: float | None = None  # close a kept-alive connection idle this long


@dataclass
class Stats:
    requests: int = 0
    faults: Counter[str] = field(default_factory=Counter)
    served_pairs: Counter[tuple[str, str]] = field(default_factory=Counter)
    bodies: list[dict[str, Any]] = field(default_factory=list)
    auth_headers: set[str] = field(default_factory=set)
    peers: set[tuple[str, int]] = field(default_factory=set)  # client (host, port): connections
    proxied: int = 0  # requests whose target was an absolute URL: they came through a proxy


class RerankServer:
    def __init__(self, behaviour: Behaviour) -> None:
        self.behaviour = behaviour
        self.stats = Stats()
        self._lock = threading.Lock()
        self._rng = random.Random(behaviour.seed)
        self._script = list(behaviour.script)
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._httpd.daemon_threads = True
        if behaviour.tls is not None:
            self._httpd.socket = behaviour.tls.wrap_socket(self._httpd.socket, server_side=True)
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    @property
    def base_url(self) -> str:
        host, port = self._httpd.server_address[:2]
        scheme = "https" if self.behaviour.tls is not None else "http"
        return f"{scheme}://{host}:{port}"

    def start(self) -> RerankServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def _next_fault(self, body: dict[str, Any]) -> str | None:
        b = self.behaviour
        with self._lock:
            self.stats.requests += 1
            if b.record:
                self.stats.bodies.append(body)
            if b.fail_query_containing and b.fail_query_containing in str(body.get("query")):
                return "500"
            if self._script:
                fault = self._script.pop(0)
                return None if fault == "ok" else fault
            if b.always:
                return b.always
            roll = self._rng.random()
            for fault, rate in b.fault_rates.items():
                if roll < rate:
                    return fault
                roll -= rate
        return None

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body go out in separate writes
            timeout = server.behaviour.idle_timeout  # on a kept-alive connection's socket

            def log_message(self, format: str, *args: Any) -> None:
                pass  # keep test output clean

            def do_POST(self) -> None:
                arrived = time.monotonic()
                length = int(self.headers.get("Content-Length", "0"))
                raw = self.rfile.read(length)
                auth = self.headers.get("Authorization", "")
                # A proxy forwarding plain HTTP sends the absolute URL: this server plays both.
                proxied = urlsplit(self.path).scheme == "http"
                with server._lock:
                    server.stats.auth_headers.add(auth)
                    server.stats.peers.add(self.client_address[:2])
                    server.stats.proxied += proxied
                provider = server.behaviour.provider
                if (urlsplit(self.path).path if proxied else self.path) != PATHS[provider]:
                    return self._send(404, {"message": f"no route {self.path}"})
                if (
                    provider in ("zeroentropy", "cohere", "jina", "voyage")
                    and auth != f"Bearer {KEY}"
                ):
                    detail = (
                        f"bad key {auth!r}"
                        if server.behaviour.echo_auth_in_errors
                        else "invalid api key"
                    )
                    return self._send(401, {"message": detail})
                try:
                    body = json.loads(raw)
                    docs, query = _check_body(provider, body)
                except (ValueError, KeyError, TypeError) as exc:
                    return self._send(400, {"message": f"bad request: {exc}"})
                fault = server._next_fault(body)
                # The answer is ready before the wait, so that it leaves on time.
                answer = b""
                if fault not in TRANSPORT_FAULTS:
                    scores = [(i, expected_score(query, d)) for i, d in enumerate(docs)]
                    answer = _corrupt(fault, _render(provider, scores))
                if server.behaviour.latency:
                    # The answer leaves `latency` after the request arrived, this server's own
                    # processing included, as with an API that has that latency.
                    time.sleep(max(0.0, arrived + server.behaviour.latency - time.monotonic()))
                if fault is not None:
                    with server._lock:
                        server.stats.faults[fault] += 1
                if fault in ("429", "500", "503"):
                    headers = {}
                    if fault in ("429", "503"):
                        if server.behaviour.retry_after is not None:
                            headers["Retry-After"] = server.behaviour.retry_after
                        if server.behaviour.retry_after_ms is not None:
                            headers["retry-after-ms"] = server.behaviour.retry_after_ms
                    return self._send(int(fault), {"message": f"injected {fault}"}, headers)
                if fault == "reset":
                    # RST instead of FIN: the client sees a connection reset mid-request.
                    self.connection.setsockopt(
                        socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
                    )
                    self.close_connection = True
                    self.connection.close()
                    return None
                if fault == "timeout":
                    time.sleep(server.behaviour.hang_seconds)
                    return self._send(503, {"message": "too late"})
                if server.behaviour.record:
                    with server._lock:
                        server.stats.served_pairs.update((query, d) for d in docs)
                return self._send_raw(200, answer)

            def _send(
                self, status: int, payload: Any, headers: dict[str, str] | None = None
            ) -> None:
                self._send_raw(status, json.dumps(payload).encode(), headers)

            def _send_raw(
                self, status: int, data: bytes, headers: dict[str, str] | None = None
            ) -> None:
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    if server.behaviour.close_connections:
                        self.send_header("Connection", "close")  # and close after this answer
                    for k, v in (headers or {}).items():
                        self.send_header(k, v)
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (a timeout test): nothing to do

        return Handler


def _check_body(provider: str, body: dict[str, Any]) -> tuple[list[str], str]:
    """Enforce the documented request shape; return (documents, query)."""
    if not isinstance(body.get("query"), str):
        raise ValueError("query must be a string")
    if provider == "tei":
        docs = body["texts"]
        if body.get("raw_scores") is not False:
            raise ValueError("expected raw_scores false")
        allowed = {"query", "texts", "raw_scores", "return_text", "truncate"}
    else:
        docs = body["documents"]
        allowed = {"query", "documents", "model", "top_n", "top_k", "latency", "return_documents"}
        if provider != "openai-compatible" and not isinstance(body.get("model"), str):
            raise ValueError("model must be a string")
        if provider == "voyage" and body.get("top_k") != len(docs):
            raise ValueError("voyage takes top_k")
        if provider in ("cohere", "jina", "openai-compatible") and body.get("top_n") != len(docs):
            raise ValueError("expected top_n = number of documents")
        if provider == "zeroentropy" and body.get("latency") not in (None, "fast", "slow"):
            raise ValueError("latency must be fast or slow")
    extra = set(body) - allowed
    if extra:
        raise ValueError(f"unknown fields {sorted(extra)}")
    if not isinstance(docs, list) or not all(isinstance(d, str) for d in docs):
        raise ValueError("documents must be a list of strings")
    return docs, body["query"]


def _render(provider: str, scores: list[tuple[int, float]]) -> dict[str, Any] | list[Any]:
    # Real APIs return results sorted by score, not by index: so does this server.
    ordered = sorted(scores, key=lambda x: -x[1])
    if provider == "tei":
        return [{"index": i, "score": s} for i, s in ordered]
    items = [{"index": i, "relevance_score": s} for i, s in ordered]
    if provider == "voyage":
        return {
            "object": "list",
            "data": items,
            "model": "rerank-2.5",
            "usage": {"total_tokens": 1},
        }
    return {"id": "r-1", "results": items, "meta": {"billed_units": {"search_units": 1}}}


def _corrupt(fault: str | None, payload: dict[str, Any] | list[Any]) -> bytes:
    if fault == "garbage":
        return b'{"results": [{"index": 0, "relevance_sc'
    items = payload if isinstance(payload, list) else payload.get("results", payload.get("data"))
    assert isinstance(items, list)
    key = "score" if isinstance(payload, list) else "relevance_score"
    if fault == "missing" and len(items) > 1:
        items.pop()
    elif fault == "duplicate" and len(items) > 1:
        items[-1]["index"] = items[0]["index"]
    elif fault == "out_of_range":
        items[0]["index"] = 10_000
    elif fault == "nan":
        return json.dumps(payload).replace(str(items[0][key]), "NaN", 1).encode()
    elif fault == "logits":
        for item in items:
            item[key] = item[key] * 20 - 10
    return json.dumps(payload).encode()


@contextmanager
def serve(behaviour: Behaviour) -> Iterator[RerankServer]:
    server = RerankServer(behaviour).start()
    try:
        yield server
    finally:
        server.stop()


def main() -> None:
    """Run a server in its own process (for benchmarks): prints its base URL, then serves."""
    import argparse

    parser = argparse.ArgumentParser(description="local rerank API server for tests/benchmarks")
    parser.add_argument("--provider", default="zeroentropy", choices=sorted(PATHS))
    parser.add_argument("--latency", type=float, default=0.0, help="seconds added to each response")
    args = parser.parse_args()
    server = RerankServer(Behaviour(args.provider, latency=args.latency, record=False))
    print(server.base_url, flush=True)
    server._httpd.serve_forever(poll_interval=0.05)


if __name__ == "__main__":
    main()
