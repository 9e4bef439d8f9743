"""A real rerank API server on 127.0.0.1 for tests, speaking each provider's wire format.

It checks request bodies against the provider's documented shape (a wrong body gets a 400
like a real API would), scores every (query, document) with a deterministic function the
tests can recompute, and injects faults: from a seeded random mix, or a scripted sequence.
"""

from __future__ import annotations

import json
import random
import re
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
    "infinity": "/rerank",
    "openai-compatible": "/v1/rerank",
}
# The token a TEI server here counts: a run of non-space characters (byte offsets, as TEI's).
_TOKEN = re.compile(rb"\S+")

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
    path: str | None = None  # serve the rerank route here instead (a gateway's mount)
    # TEI: the model's max input length (None: no /info, as behind a proxy that hides it)
    max_input_length: int | None = 512
    tokenize: bool = True  # TEI: serve /tokenize
    max_client_batch_size: int = 32


@dataclass
class Recorded:
    """One request as it arrived: what the SDK comparison tests compare."""

    method: str
    path: str
    headers: dict[str, str]  # names in lower case
    body: Any


@dataclass
class Stats:
    requests: int = 0
    faults: Counter[str] = field(default_factory=Counter)
    served_pairs: Counter[tuple[str, str]] = field(default_factory=Counter)
    bodies: list[dict[str, Any]] = field(default_factory=list)
    auth_headers: set[str] = field(default_factory=set)
    peers: set[tuple[str, int]] = field(default_factory=set)  # client (host, port): connections
    proxied: int = 0  # requests whose target was an absolute URL: they came through a proxy
    recorded: list[Recorded] = field(default_factory=list)
    truncated: int = 0  # TEI texts cut to the model's input length


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

    def _fit(self, query: str, text: str, truncate: bool | None) -> str:
        """The text TEI would score: whole if it fits, cut if truncating, else an error."""
        limit = self.behaviour.max_input_length or 512
        room = limit - len(_TOKEN.findall(query.encode())) - 3
        tokens = list(_TOKEN.finditer(text.encode()))
        if len(tokens) <= room:
            return text
        if not truncate:
            raise ValueError(f"`inputs` must have less than {limit} tokens. Given: {len(tokens)}")
        with self._lock:
            self.stats.truncated += 1
        return text.encode()[: tokens[max(room, 1) - 1].end()].decode("utf-8", "ignore")

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body go out in separate writes
            timeout = server.behaviour.idle_timeout  # on a kept-alive connection's socket

            def log_message(self, format: str, *args: Any) -> None:
                pass  # keep test output clean

            def _record(self, raw: bytes) -> None:
                try:
                    body = json.loads(raw) if raw else None
                except ValueError:
                    body = raw
                headers = {k.lower(): v for k, v in self.headers.items()}
                entry = Recorded(self.command, self.path, headers, body)
                if server.behaviour.record:
                    with server._lock:
                        server.stats.recorded.append(entry)

            def do_GET(self) -> None:
                self._record(b"")
                limit = server.behaviour.max_input_length
                if server.behaviour.provider != "tei" or self.path != "/info" or limit is None:
                    return self._send(404, {"error": f"no route {self.path}"})
                return self._send(200, _tei_info(server.behaviour))

            def do_POST(self) -> None:
                arrived = time.monotonic()
                length = int(self.headers.get("Content-Length", "0"))
                raw = self.rfile.read(length)
                self._record(raw)
                auth = self.headers.get("Authorization", "")
                # A proxy forwarding plain HTTP sends the absolute URL: this server plays both.
                proxied = urlsplit(self.path).scheme == "http"
                with server._lock:
                    server.stats.auth_headers.add(auth)
                    server.stats.peers.add(self.client_address[:2])
                    server.stats.proxied += proxied
                provider = server.behaviour.provider
                path = urlsplit(self.path).path if proxied else self.path
                if provider == "tei" and path == "/tokenize" and server.behaviour.tokenize:
                    return self._send(200, _tei_tokenize(json.loads(raw)))
                if path != (server.behaviour.path or PATHS[provider]):
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
                if provider == "tei":
                    try:
                        docs = [server._fit(query, d, body.get("truncate")) for d in docs]
                    except ValueError as exc:  # TEI's answer to an input past the model
                        return self._send(422, {"error": str(exc), "error_type": "validation"})
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
        allowed = {
            "query",
            "texts",
            "raw_scores",
            "return_text",
            "truncate",
            "truncation_direction",
        }
    else:
        docs = body["documents"]
        allowed = {"query", "documents", "model", "top_n", "top_k", "latency", "return_documents"}
        allowed |= {"raw_scores"} if provider == "infinity" else set()
        allowed |= {"truncation"} if provider == "voyage" else set()
        optional_model = provider in ("openai-compatible", "infinity")
        if not optional_model and not isinstance(body.get("model"), str):
            raise ValueError("model must be a string")
        if provider == "voyage" and body.get("top_k") != len(docs):
            raise ValueError("voyage takes top_k")
        counted = ("cohere", "jina", "infinity", "openai-compatible")
        if provider in counted and body.get("top_n") != len(docs):
            raise ValueError("expected top_n = number of documents")
        if provider == "zeroentropy" and body.get("latency") not in (None, "fast", "slow"):
            raise ValueError("latency must be fast or slow")
    extra = set(body) - allowed
    if extra:
        raise ValueError(f"unknown fields {sorted(extra)}")
    if not isinstance(docs, list) or not all(isinstance(d, str) for d in docs):
        raise ValueError("documents must be a list of strings")
    return docs, body["query"]


def _tei_info(behaviour: Behaviour) -> dict[str, Any]:
    # The fields TEI's /info has (router/src/lib.rs Info), as tei-client reads them.
    return {
        "model_id": "BAAI/bge-reranker-base",
        "model_sha": None,
        "model_dtype": "float16",
        "model_type": {"reranker": {"id2label": {"0": "LABEL_0"}, "label2id": {"LABEL_0": 0}}},
        "max_concurrent_requests": 512,
        "max_input_length": behaviour.max_input_length,
        "max_batch_tokens": 16384,
        "max_batch_requests": None,
        "max_client_batch_size": behaviour.max_client_batch_size,
        "auto_truncate": False,
        "tokenization_workers": 1,
        "version": "1.8.0",
        "sha": None,
        "docker_label": None,
    }


def _tei_tokenize(body: dict[str, Any]) -> list[list[dict[str, Any]]]:
    inputs = body["inputs"]
    texts = [inputs] if isinstance(inputs, str) else inputs
    return [
        [
            {
                "id": 1,
                "text": m.group().decode(),
                "special": False,
                "start": m.start(),
                "stop": m.end(),
            }
            for m in _TOKEN.finditer(text.encode())
        ]
        for text in texts
    ]


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
