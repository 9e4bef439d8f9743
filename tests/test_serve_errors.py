"""`ctxcompress serve`'s limits and errors, each in the emulated API's own error shape:
bad bodies, too many documents, too large bodies, keys, a full queue, a failing scorer."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from ctxcompress import RemoteAuthError, load_scorer

from .serve_helpers import ServerProcess, metric

pytest.importorskip("starlette")

KEY = "sk-serve-errors-93be41f07c"
AUTH = {"Authorization": f"Bearer {KEY}"}
MAX_DOCUMENTS = 8
MAX_BYTES = 20_000
MAX_QUEUE = 20

ZE, COHERE, TEI = "/v1/models/rerank", "/v2/rerank", "/rerank"


def body(route: str, query: Any, documents: Any) -> dict[str, Any]:
    if route == TEI:
        return {"query": query, "texts": documents}
    return {"model": "m", "query": query, "documents": documents}


def message(route: str, answer: httpx.Response) -> str:
    """The error message, read the way each API's clients read it; also checks the shape."""
    data = answer.json()
    if route == ZE:
        assert set(data) == {"detail"}
        detail = data["detail"]
        return detail if isinstance(detail, str) else " ".join(d["msg"] for d in detail)
    if route == COHERE:
        assert set(data) == {"id", "message"}
        return str(data["message"])
    if route == TEI:
        assert set(data) == {"error", "error_type"}
        return str(data["error"])
    assert "detail" in data and "type" in data
    return str(data["detail"])


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    log = tmp_path_factory.mktemp("serve-errors") / "server.log"
    srv = ServerProcess(
        [
            "--scorer",
            "gated:bm25",
            "--api-key-env",
            "CTXCOMPRESS_TEST_SERVE_KEY",
            "--max-documents",
            str(MAX_DOCUMENTS),
            "--max-request-bytes",
            str(MAX_BYTES),
            "--max-queue-pairs",
            str(MAX_QUEUE),
            "--access-log",
        ],
        log,
        env={"CTXCOMPRESS_TEST_SERVE_KEY": KEY, "CTXCOMPRESS_TEST_GATE": str(log.parent / "gate")},
    )
    try:
        srv.wait_until(200)
        yield srv
    finally:
        srv.terminate()


def post(server: ServerProcess, route: str, **kwargs: Any) -> httpx.Response:
    headers = kwargs.pop("headers", AUTH)
    return httpx.post(f"{server.base_url}{route}", headers=headers, timeout=60, **kwargs)


@pytest.mark.parametrize("route", [ZE, COHERE, TEI])
def test_bad_bodies_are_4xx_in_the_apis_shape(server: ServerProcess, route: str) -> None:
    invalid = 400 if route == COHERE else 422
    malformed = post(server, route, content=b'{"query": "x", "documents": [')
    assert malformed.status_code in (400, 422)
    assert "JSON" in message(route, malformed)

    missing_query = post(
        server, route, json={k: v for k, v in body(route, "q", ["a"]).items() if k != "query"}
    )
    assert missing_query.status_code == invalid
    assert "query" in message(route, missing_query) or route == ZE
    blank_query = post(server, route, json=body(route, "   ", ["a"]))
    assert blank_query.status_code == invalid

    not_strings = post(server, route, json=body(route, "q", ["a", 3, None]))
    assert not_strings.status_code == invalid
    assert "string" in message(route, not_strings)

    empty = post(server, route, json=body(route, "q", []))
    assert empty.status_code == 400
    assert "empty" in message(route, empty)
    if route == TEI:
        assert empty.json()["error_type"] == "Empty"
    if route == COHERE:
        assert message(route, empty).startswith("invalid request:")

    too_many = post(server, route, json=body(route, "q", ["a"] * (MAX_DOCUMENTS + 1)))
    assert too_many.status_code == 413
    assert str(MAX_DOCUMENTS) in message(route, too_many)

    too_big = post(server, route, json=body(route, "q", ["x" * (MAX_BYTES + 10)]))
    assert too_big.status_code == 413
    assert str(MAX_BYTES) in message(route, too_big)

    if route == ZE:  # FastAPI-style field errors: where and what, never the input
        detail = not_strings.json()["detail"]
        assert detail[0]["loc"][:2] == ["body", "documents"] and "input" not in detail[0]
    if route == TEI:
        assert too_many.json()["error_type"] == "Validation"


def test_compress_errors(server: ServerProcess) -> None:
    ok = {"pages": ["a b c", "d e f"], "criteria": ["a?"]}
    assert post(server, "/v1/compress", json=ok).status_code == 200
    cases = [
        ({**ok, "criteria": []}, 422, "criteria"),
        ({"criteria": ["a?"]}, 422, "pages"),
        ({**ok, "document": "x"}, 422, "not both"),
        ({**ok, "pages": [1]}, 422, "pages"),
        ({**ok, "policy": {"top_k": 0}}, 422, "top_k"),
        ({**ok, "order": "random"}, 422, "order"),
        ({**ok, "tokenizer": "hf:/etc/passwd"}, 422, "tokenizer"),
        ({**ok, "criteria": [{"id": "a", "text": "x"}, {"id": "a", "text": "y"}]}, 422, "unique"),
        ({**ok, "surprise": 1}, 422, "surprise"),
        ({**ok, "pages": ["   "]}, 400, "empty"),
        ({**ok, "pages": ["p"] * (MAX_DOCUMENTS + 1)}, 413, str(MAX_DOCUMENTS)),
    ]
    for payload, status, needle in cases:
        answer = post(server, "/v1/compress", json=payload)
        assert answer.status_code == status, (payload, answer.text)
        assert needle in message("/v1/compress", answer), (payload, answer.text)
    assert post(server, "/v1/compress", content=b"{nope").status_code == 400


@pytest.mark.parametrize("route", [ZE, COHERE, TEI, "/v1/compress", "/info", "/metrics"])
def test_a_key_is_required(server: ServerProcess, route: str) -> None:
    payload = (
        body(route, "q", ["a"]) if route != "/v1/compress" else {"pages": ["a"], "criteria": ["q"]}
    )
    method = "GET" if route in ("/info", "/metrics") else "POST"
    for headers in ({}, {"Authorization": "Bearer sk-wrong-key"}, {"Authorization": KEY}):
        answer = httpx.request(
            method,
            f"{server.base_url}{route}",
            json=payload if method == "POST" else None,
            headers=headers,
        )
        assert answer.status_code == 401, (headers, answer.text)
        assert answer.headers["www-authenticate"] == "Bearer"
        assert "API key" in message(route, answer)
    assert (
        httpx.request(
            method,
            f"{server.base_url}{route}",
            json=payload if method == "POST" else None,
            headers=AUTH,
        ).status_code
        == 200
    )
    # Probes need no key.
    assert httpx.get(f"{server.base_url}/health").status_code == 200


def test_our_remote_client_reports_a_refused_key(server: ServerProcess) -> None:
    scorer = load_scorer("remote:zeroentropy/m", base_url=server.base_url, api_key="sk-wrong-key")
    with pytest.raises(RemoteAuthError):
        scorer.score("q", ["a", "b"])
    good = load_scorer("remote:zeroentropy/m", base_url=server.base_url, api_key=KEY)
    assert len(good.score("q", ["a", "b"])) == 2


@pytest.mark.parametrize("route", [ZE, COHERE, TEI])
def test_a_failing_scorer_is_a_5xx_with_the_reason_and_the_server_goes_on(
    server: ServerProcess, route: str
) -> None:
    failed = post(server, route, json=body(route, "FAIL here", ["a", "b"]))
    assert failed.status_code == 502
    assert "failed on purpose" in message(route, failed)
    if route == TEI:
        assert failed.json()["error_type"] == "Backend"
    assert post(server, route, json=body(route, "fine", ["a", "b"])).status_code == 200


def test_compress_fails_open_with_on_error_keep(server: ServerProcess) -> None:
    payload = {"pages": ["a", "b"], "criteria": ["FAIL me", "fine"], "on_error": "keep"}
    # BM25 scores the whole document set in one call: both criteria fail together.
    answer = post(server, "/v1/compress", json=payload)
    assert answer.status_code == 200, answer.text
    data = answer.json()
    assert data["failed_criteria"] == ["c0", "c1"]
    assert data["criteria"][0]["kept_indices"] == [0, 1]
    assert "failed on purpose" in data["criteria"][0]["error"]
    raised = post(server, "/v1/compress", json={**payload, "on_error": "raise"})
    assert raised.status_code == 502


def test_a_full_queue_answers_429_with_retry_after(server: ServerProcess) -> None:
    gate = server.log_path.parent / "gate"  # what the gated scorer waits for
    answers: dict[str, httpx.Response] = {}

    def send(name: str, query: str) -> None:
        n = 1 if name == "fits" else 8
        answers[name] = post(server, TEI, json=body(TEI, query, [f"doc {i}" for i in range(n)]))

    def queued() -> float:
        return metric(
            httpx.get(f"{server.base_url}/metrics", headers=AUTH).text, "ctxcompress_queue_pairs"
        )

    threads = [threading.Thread(target=send, args=("held", "WAIT"))]
    threads[0].start()
    _until(lambda: queued() == 8)
    threads.append(threading.Thread(target=send, args=("queued", "fine")))
    threads[1].start()
    _until(lambda: queued() == 16)
    try:
        for route in (ZE, COHERE, TEI):
            full = post(server, route, json=body(route, "more", [f"d{i}" for i in range(8)]))
            assert full.status_code == 429, full.text
            assert int(full.headers["retry-after"]) >= 1
            assert "overloaded" in message(route, full)
        # What still fits (16 + 1 <= 20) is admitted and waits its turn.
        threads.append(threading.Thread(target=send, args=("fits", "tiny")))
        threads[2].start()
        _until(lambda: queued() == 17)
    finally:
        gate.touch()
        for t in threads:
            t.join(60)
    assert answers["held"].status_code == 200 and len(answers["held"].json()) == 8
    assert answers["queued"].status_code == 200
    assert answers["fits"].status_code == 200
    assert queued() == 0
    text = httpx.get(f"{server.base_url}/metrics", headers=AUTH).text
    assert metric(text, 'ctxcompress_errors_total{kind="overloaded",route="/rerank"}') >= 1


def test_the_key_is_never_logged(server: ServerProcess) -> None:
    post(server, ZE, json=body(ZE, "q", ["a"]))
    log = server.log()
    assert "POST /v1/models/rerank" in log  # the access log is on, and still no key
    assert KEY not in log and "sk-wrong-key" not in log


def _until(condition: Any, limit: float = 30.0) -> None:
    import time

    deadline = time.monotonic() + limit
    while not condition():
        assert time.monotonic() < deadline, "condition never held"
        time.sleep(0.02)
