"""`ctxcompress serve`'s life: 503 while loading, SIGTERM drains (everything accepted is
answered in full, /health and new work get 503, exit 0), a bad scorer spec exits 2."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from ctxcompress import load_scorer

from .serve_helpers import CROSS_ENCODER, ROOT, ServerProcess, metric

pytest.importorskip("starlette")
pytest.importorskip("onnxruntime")


def _until(condition: Callable[[], bool], limit: float = 60.0) -> None:
    deadline = time.monotonic() + limit
    while not condition():
        assert time.monotonic() < deadline, "condition never held"
        time.sleep(0.02)


def test_sigterm_answers_everything_in_flight_then_exits_0(tmp_path: Path) -> None:
    gate = tmp_path / "gate"
    srv = ServerProcess(
        ["--scorer", f"gated:{CROSS_ENCODER}", "--max-batch-pairs", "4"],
        tmp_path / "log",
        env={"CTXCOMPRESS_TEST_GATE": str(gate)},
    )
    try:
        srv.wait_until(200)
        docs = [f"page {i} about metformin and a failed trial number {i}" for i in range(10)]
        requests: list[tuple[str, str, dict[str, Any]]] = [
            ("held", "/rerank", {"query": "WAIT metformin?", "texts": docs}),
            ("ze", "/v1/models/rerank", {"model": "m", "query": "metformin?", "documents": docs}),
            ("cohere", "/v2/rerank", {"model": "m", "query": "trial?", "documents": docs[:3]}),
            ("compress", "/v1/compress", {"pages": docs, "criteria": ["metformin?", "trial?"]}),
        ]
        answers: dict[str, httpx.Response] = {}

        def send(name: str, route: str, payload: dict[str, Any]) -> None:
            answers[name] = httpx.post(f"{srv.base_url}{route}", json=payload, timeout=120)

        def gauge(name: str) -> float:
            return metric(httpx.get(f"{srv.base_url}/metrics").text, name)

        threads = [threading.Thread(target=send, args=r) for r in requests]
        threads[0].start()  # the held request is queued first: the others wait behind it
        _until(lambda: gauge("ctxcompress_queue_pairs") == len(docs))
        for t in threads[1:]:
            t.start()
        _until(lambda: gauge("ctxcompress_requests_in_flight") == 4)

        srv.proc.send_signal(signal.SIGTERM)
        _until(lambda: httpx.get(f"{srv.base_url}/health").status_code == 503)
        health = httpx.get(f"{srv.base_url}/health").json()
        assert health["status"] == "draining" and health["error_type"] == "Unhealthy"
        late = httpx.post(f"{srv.base_url}/v2/rerank", json=requests[2][2])
        assert late.status_code == 503 and "shutting down" in late.json()["message"]
        assert srv.proc.poll() is None  # still waiting for the held requests

        gate.touch()
        for t in threads:
            t.join(120)
        assert srv.proc.wait(60) == 0
    finally:
        gate.touch()
        code = srv.terminate()
    assert code == 0
    local = load_scorer(str(CROSS_ENCODER))
    for name, route, payload in requests:
        answer = answers[name]
        assert answer.status_code == 200, (name, answer.text)
        if route == "/v1/compress":
            assert len(answer.json()["criteria"]) == 2
            continue
        query = payload["query"]
        texts = payload.get("texts") or payload["documents"]
        expected = local.score_batch([query], texts)[0]
        items = answer.json() if route == "/rerank" else answer.json()["results"]
        assert len(items) == len(texts)
        for item in items:
            score = item.get("score", item.get("relevance_score"))
            assert score == pytest.approx(expected[item["index"]], abs=1e-6)
    assert "draining" in srv.log()


def test_health_is_503_while_loading(tmp_path: Path) -> None:
    gate = tmp_path / "loaded"
    srv = ServerProcess(["--scorer", f"slowload:{gate}"], tmp_path / "log")
    try:
        srv.wait_until(503)
        assert httpx.get(f"{srv.base_url}/health").json()["status"] == "loading"
        early = httpx.post(f"{srv.base_url}/rerank", json={"query": "q", "texts": ["a"]})
        assert early.status_code == 503 and early.json()["error_type"] == "Unhealthy"
        assert early.headers["retry-after"] == "1"
        gate.touch()
        srv.wait_until(200)
        assert (
            httpx.post(f"{srv.base_url}/rerank", json={"query": "q", "texts": ["a"]}).status_code
            == 200
        )
    finally:
        gate.touch()
        assert srv.terminate() == 0


@pytest.mark.parametrize(
    ("args", "code", "needle"),
    [
        (["--scorer", "nosuchscheme:x"], 2, "nosuchscheme"),
        (["--scorer", "bm25", "--max-documents", "0"], 2, "--max-documents"),
        (["--scorer", "bm25", "--api-key-env", "CTXCOMPRESS_TEST_UNSET_KEY"], 2, "not set"),
    ],
)
def test_bad_command_lines_exit_2_with_one_line(args: list[str], code: int, needle: str) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "ctxcompress", "serve", "--port", "0", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == code, proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("ctxcompress: error:")]
    assert len(errors) == 1 and needle in errors[0], proc.stderr


def test_a_stalled_upload_is_answered_408_and_does_not_hold_a_draining_server(
    tmp_path: Path,
) -> None:
    import socket

    srv = ServerProcess(["--scorer", "bm25", "--body-timeout-s", "1"], tmp_path / "log")
    try:
        srv.wait_until(200)
        with socket.create_connection(("127.0.0.1", srv.port), timeout=30) as sock:
            sock.sendall(
                b"POST /rerank HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                b"Content-Length: 100\r\n\r\n" + b'{"query":'  # 9 of the 100 bytes, then nothing
            )
            # SIGTERM once the server is reading that body (before, it would answer 503).
            in_flight = "ctxcompress_requests_in_flight"
            _until(lambda: metric(httpx.get(f"{srv.base_url}/metrics").text, in_flight) == 1)
            srv.proc.send_signal(signal.SIGTERM)
            answer = ""
            while "--body-timeout-s" not in answer:  # headers and body may come apart
                chunk = sock.recv(4096)
                if not chunk:
                    break
                answer += chunk.decode("latin-1")
        assert answer.startswith("HTTP/1.1 408"), answer
        assert "--body-timeout-s" in answer
        assert srv.proc.wait(timeout=60) == 0  # the drain did not wait for the upload
    finally:
        if srv.proc.poll() is None:
            srv.proc.kill()


def test_compress_without_the_token_counters_files_is_503_not_500(tmp_path: Path) -> None:
    empty = tmp_path / "tiktoken"
    empty.mkdir()
    srv = ServerProcess(
        ["--scorer", "bm25"], tmp_path / "log", env={"TIKTOKEN_CACHE_DIR": str(empty)}
    )
    try:
        srv.wait_until(200)
        answer = httpx.post(
            f"{srv.base_url}/v1/compress",
            json={"pages": ["TB screening negative.", "Copay due."], "criteria": ["TB?"]},
            timeout=60,
        )
        assert answer.status_code == 503, answer.text
        assert "tiktoken" in answer.text
        plain = httpx.post(
            f"{srv.base_url}/v1/compress",
            json={
                "pages": ["TB screening negative.", "Copay due."],
                "criteria": ["TB?"],
                "tokenizer": "whitespace",
            },
            timeout=60,
        )
        assert plain.status_code == 200  # and the server goes on
    finally:
        assert srv.terminate() == 0
