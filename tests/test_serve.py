"""`ctxcompress serve` with the tiny ONNX cross-encoder, as a real process over HTTP: each
wire format answers with the in-process scores, batching across concurrent requests
splits results back correctly, and our own remote scorers work against it unchanged."""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Iterator

import httpx
import pytest

from ctxcompress import Compressor, Criterion, Hybrid, load_scorer

from .serve_helpers import CROSS_ENCODER, ServerProcess, metric

pytest.importorskip("starlette")
pytest.importorskip("onnxruntime")

KEY = "sk-serve-main-5d1e0c9a7b"
AUTH = {"Authorization": f"Bearer {KEY}"}
QUERY = "Is a failed trial of metformin documented?"
DOCS = [
    "Cover sheet. Fax from the clinic to the health plan, 12 pages.",
    "The patient had a failed trial of metformin for six months; HbA1c stayed at 9.1.",
    "Billing statement: office visit, copay due, payment options.",
    "Metformin was stopped for gastrointestinal intolerance after a failed trial.",
    "Appointment reminder: bring your insurance card.",
]
WORDS = (
    "metformin trial failed insulin dose clinic fax billing copay patient screening "
    "tuberculosis negative methotrexate rheumatoid arthritis prior authorization denied"
).split()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    log = tmp_path_factory.mktemp("serve") / "server.log"
    srv = ServerProcess(
        [
            "--scorer",
            str(CROSS_ENCODER),
            "--api-key-env",
            "CTXCOMPRESS_TEST_SERVE_KEY",
            # Small batches: concurrent requests are split and interleaved.
            "--max-batch-pairs",
            "16",
            "--max-batch-wait-ms",
            "20",
        ],
        log,
        env={"CTXCOMPRESS_TEST_SERVE_KEY": KEY},
    )
    try:
        srv.wait_until(200)
        yield srv
    finally:
        srv.terminate()


@pytest.fixture(scope="module")
def local() -> object:
    return load_scorer(str(CROSS_ENCODER))


def _in_process(scorer: object, query: str, docs: list[str]) -> list[float]:
    rows: list[list[float]] = scorer.score_batch([query], docs)  # type: ignore[attr-defined]
    return rows[0]


def test_zeroentropy_wire(server: ServerProcess, local: object) -> None:
    r = httpx.post(
        f"{server.base_url}/v1/models/rerank",
        json={"model": "zerank-2", "query": QUERY, "documents": DOCS},
        headers=AUTH,
    )
    assert r.status_code == 200, r.text
    results = r.json()["results"]
    expected = _in_process(local, QUERY, DOCS)
    assert sorted(x["index"] for x in results) == list(range(len(DOCS)))
    for x in results:
        assert x["relevance_score"] == pytest.approx(expected[x["index"]], abs=1e-6)
    scores = [x["relevance_score"] for x in results]
    assert scores == sorted(scores, reverse=True)  # best first, as ZeroEntropy answers

    top = httpx.post(
        f"{server.base_url}/v1/models/rerank",
        json={"model": "zerank-2", "query": QUERY, "documents": DOCS, "top_n": 2},
        headers=AUTH,
    ).json()["results"]
    assert [x["index"] for x in top] == [x["index"] for x in results[:2]]


def test_cohere_wire(server: ServerProcess, local: object) -> None:
    r = httpx.post(
        f"{server.base_url}/v2/rerank",
        json={"model": "rerank-v3.5", "query": QUERY, "documents": DOCS, "top_n": 3},
        headers=AUTH,
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert isinstance(body["id"], str) and body["meta"]["api_version"]["version"] == "2"
    expected = _in_process(local, QUERY, DOCS)
    assert len(body["results"]) == 3
    best = sorted(range(len(DOCS)), key=lambda i: -expected[i])[:3]
    assert [x["index"] for x in body["results"]] == best
    for x in body["results"]:
        assert x["relevance_score"] == pytest.approx(expected[x["index"]], abs=1e-6)


def test_tei_wire(server: ServerProcess, local: object) -> None:
    r = httpx.post(
        f"{server.base_url}/rerank",
        json={"query": QUERY, "texts": DOCS, "return_text": True},
        headers=AUTH,
    )
    assert r.status_code == 200, r.text
    ranks = r.json()
    assert isinstance(ranks, list)
    expected = _in_process(local, QUERY, DOCS)
    for x in ranks:
        assert x["score"] == pytest.approx(expected[x["index"]], abs=1e-6)
        assert x["text"] == DOCS[x["index"]]
    raw = httpx.post(
        f"{server.base_url}/rerank",
        json={"query": QUERY, "texts": DOCS, "raw_scores": True},
        headers=AUTH,
    ).json()
    import math

    for x in raw:
        assert "text" not in x
        p = expected[x["index"]]
        assert x["score"] == pytest.approx(math.log(p / (1 - p)), abs=1e-5)


def test_our_remote_scorers_work_against_it(server: ServerProcess, local: object) -> None:
    pages = [f"page {i}: " + " ".join(random.Random(i).choices(WORDS, k=30)) for i in range(40)]
    criteria = [Criterion("m", QUERY), Criterion("tb", "Was tuberculosis screening negative?")]
    expected = local.score_batch(criteria, pages)  # type: ignore[attr-defined]
    for spec in ("remote:zeroentropy/zerank-2", "remote:cohere", "remote:tei"):
        remote = load_scorer(spec, base_url=server.base_url, api_key=KEY)
        got = remote.score_batch(criteria, pages)
        for row, want in zip(got, expected, strict=True):
            assert row == pytest.approx(want, abs=1e-6), spec
        # And through the compressor, as an application would use it.
        result = Compressor(remote, Hybrid(top_k=3)).compress(pages, criteria)
        in_process = Compressor(local, Hybrid(top_k=3)).compress(pages, criteria)  # type: ignore[arg-type]
        assert [s.kept_indices for s in result.selections] == [
            s.kept_indices for s in in_process.selections
        ]


def test_compress_endpoint_matches_the_python_api(server: ServerProcess, local: object) -> None:
    pages = [
        f"page {i}: " + " ".join(random.Random(100 + i).choices(WORDS, k=40)) for i in range(12)
    ]
    criteria = [
        {"id": "m", "text": QUERY},
        {"id": "tb", "text": "Was tuberculosis screening negative?", "instruction": "Be strict."},
    ]
    body = {
        "pages": pages,
        "criteria": criteria,
        "policy": {"top_k": 3, "threshold": 0.01, "max_tokens": 200},
        "union_max_tokens": 300,
    }
    r = httpx.post(f"{server.base_url}/v1/compress", json=body, headers=AUTH)
    assert r.status_code == 200, r.text
    got = r.json()
    crits = [Criterion(c["id"], c["text"], c.get("instruction")) for c in criteria]
    want = (
        Compressor(local, Hybrid(top_k=3, threshold=0.01, max_tokens=200), union_max_tokens=300)  # type: ignore[arg-type]
        .compress(pages, crits)
        .to_dict()
    )
    assert [c["kept_indices"] for c in got["criteria"]] == [
        c["kept_indices"] for c in want["criteria"]
    ]
    assert got["union"] == want["union"]
    for g, w in zip(got["criteria"], want["criteria"], strict=True):
        for gd, wd in zip(g["decisions"], w["decisions"], strict=True):
            assert gd["score"] == pytest.approx(wd["score"], abs=1e-6)
            assert (gd["kept"], gd["rule"], gd["tokens"]) == (wd["kept"], wd["rule"], wd["tokens"])

    # A document string is split like split_pages.
    doc = "\f".join(pages[:4])
    r = httpx.post(
        f"{server.base_url}/v1/compress",
        json={"document": doc, "criteria": [QUERY], "policy": {"top_k": 1}},
        headers=AUTH,
    )
    assert r.status_code == 200, r.text
    assert r.json()["n_pages"] == 4


def test_concurrent_requests_are_batched_and_split_back(
    server: ServerProcess, local: object
) -> None:
    rng = random.Random(7)
    queries = [QUERY, "Was tuberculosis screening negative?", "What was the HbA1c?"]
    jobs = []
    for i in range(24):
        n = 60 if i % 6 == 0 else rng.randint(1, 6)  # a few large requests among small ones
        docs = [" ".join(rng.choices(WORDS, k=rng.randint(5, 60))) for _ in range(n)]
        jobs.append((queries[i % 3] if i % 2 else f"{queries[i % 3]} ({i})", docs))
    before = httpx.get(f"{server.base_url}/metrics", headers=AUTH).text

    async def send(client: httpx.AsyncClient, query: str, docs: list[str]) -> list[float]:
        r = await client.post(
            "/rerank", json={"query": query, "texts": docs}, headers=AUTH, timeout=120
        )
        assert r.status_code == 200, r.text
        scores = [0.0] * len(docs)
        for x in r.json():
            scores[x["index"]] = x["score"]
        return scores

    async def all_at_once() -> list[list[float]]:
        async with httpx.AsyncClient(base_url=server.base_url) as client:
            return await asyncio.gather(*(send(client, q, d) for q, d in jobs))

    answers = asyncio.run(all_at_once())
    for (query, docs), got in zip(jobs, answers, strict=True):
        assert got == pytest.approx(_in_process(local, query, docs), abs=1e-6)

    after = httpx.get(f"{server.base_url}/metrics", headers=AUTH).text
    sent = sum(len(d) for _, d in jobs)
    scored = metric(after, "ctxcompress_pairs_scored_total") - metric(
        before, "ctxcompress_pairs_scored_total"
    )
    assert scored == sent
    batches = metric(after, "ctxcompress_batch_pairs_count") - metric(
        before, "ctxcompress_batch_pairs_count"
    )
    # No batch holds more than --max-batch-pairs, so the large requests were split.
    assert batches >= sent / 16
    assert metric(after, 'ctxcompress_batch_pairs_bucket{le="16.0"}') == metric(
        after, "ctxcompress_batch_pairs_count"
    )


def test_info_and_metrics(server: ServerProcess) -> None:
    # One request of its own, so the counters below do not depend on other tests.
    scored = httpx.post(
        f"{server.base_url}/v1/models/rerank",
        json={"model": "zerank-2", "query": QUERY, "documents": DOCS},
        headers=AUTH,
    )
    assert scored.status_code == 200, scored.text
    info = httpx.get(f"{server.base_url}/info", headers=AUTH).json()
    assert info["model"].startswith("onnx:tiny-bert-cross-encoder")
    assert info["pointwise"] is True
    assert info["max_input_length"] > 0
    assert info["fingerprint"]
    assert info["limits"]["max_batch_pairs"] == 16
    text = httpx.get(f"{server.base_url}/metrics", headers=AUTH).text
    for name in (
        "ctxcompress_requests_total",
        "ctxcompress_request_duration_seconds_bucket",
        "ctxcompress_queue_pairs",
        "ctxcompress_batch_pairs_bucket",
        "ctxcompress_pairs_scored_total",
        "ctxcompress_errors_total",
        "ctxcompress_requests_in_flight",
    ):
        assert name in text, name
    assert metric(text, 'ctxcompress_requests_total{route="/v1/models/rerank",status="200"}') >= 1
    assert metric(text, "ctxcompress_ready") == 1.0


def test_key_is_never_logged(server: ServerProcess) -> None:
    assert KEY not in server.log()
    assert json.dumps(KEY)[1:-1] not in server.log()
