"""Remote rerank scorers against a real HTTP server on 127.0.0.1, with injected faults."""

from __future__ import annotations

import json
import logging
import math
import os
import random
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime

import anyio
import pytest
from pydantic import SecretStr

from ctxcompress import (
    AsyncRemoteScorer,
    Compressor,
    Criterion,
    InvalidInputError,
    RemoteAuthError,
    RemoteRateLimitError,
    RemoteRequestError,
    RemoteResponseError,
    RemoteScorer,
    RemoteServerError,
    RemoteTimeoutError,
    RemoteTruncationWarning,
    TopK,
    load_scorer,
)
from ctxcompress._scorers._remote import PROVIDERS, _core
from ctxcompress._scorers._remote._providers import NotJSONError, WireError

from .rerank_server import KEY, Behaviour, expected_score, serve

PROVIDER_NAMES = sorted(PROVIDERS)
DOCS = [f"page {i}: " + "lorem ipsum " * (i % 5) for i in range(23)]


def scorer_for(server, provider: str, **kw) -> RemoteScorer:
    model = "test-model" if provider == "openai-compatible" else None
    kw.setdefault("max_retries", 4)
    kw.setdefault("backoff_base", 0.01)
    kw.setdefault("timeout", 5.0)
    kw.setdefault("seed", 7)
    return RemoteScorer(provider, model, api_key=KEY, base_url=server.base_url, **kw)


def expected(provider: str, criterion: Criterion, docs: list[str]) -> list[float]:
    query = PROVIDERS[provider].format_query(criterion.text, criterion.instruction)
    return [expected_score(query, d) for d in docs]


# --- wire formats -----------------------------------------------------------------------


@pytest.mark.parametrize("provider", PROVIDER_NAMES)
def test_each_provider_round_trip(provider: str) -> None:
    with serve(Behaviour(provider)) as server:
        scorer = scorer_for(server, provider)
        criteria = [
            Criterion("a", "first question"),
            Criterion("b", "second", instruction="be strict"),
        ]
        rows = scorer.score_batch(criteria, DOCS)
        assert rows == [pytest.approx(expected(provider, c, DOCS)) for c in criteria]
        [body] = [b for b in server.stats.bodies if b["query"] == "first question"]
        sent = body["texts"] if provider == "tei" else body["documents"]
        assert sent == DOCS[: PROVIDERS[provider].max_documents]


def test_request_bodies_follow_documented_shapes() -> None:
    docs = ["a", "b"]
    zero = PROVIDERS["zeroentropy"].body("q", None, "zerank-2", docs, {"latency": "fast"})
    assert zero == {"model": "zerank-2", "query": "q", "documents": docs, "latency": "fast"}
    assert PROVIDERS["cohere"].body("q", None, "rerank-v3.5", docs, {}) == {
        "model": "rerank-v3.5",
        "query": "q",
        "documents": docs,
        "top_n": 2,
    }
    assert PROVIDERS["voyage"].body("q", None, "rerank-2.5", docs, {})["top_k"] == 2
    assert PROVIDERS["tei"].body("q", None, None, docs, {}) == {
        "query": "q",
        "texts": docs,
        "raw_scores": False,
        "return_text": False,
        "truncate": True,
    }
    assert "model" not in PROVIDERS["tei"].body("q", None, None, docs, {})


def test_response_shapes_are_parsed() -> None:
    def parse(provider: str, payload: object) -> list[tuple[int, float]]:
        return PROVIDERS[provider].parse(json.dumps(payload).encode())

    assert parse("voyage", {"data": [{"index": 1, "relevance_score": 0.5}]}) == [(1, 0.5)]
    assert parse("tei", [{"index": 0, "score": 0.25}]) == [(0, 0.25)]
    assert parse(
        "cohere", {"results": [{"index": 0, "relevance_score": 0.9, "extra": 1}], "id": "x"}
    ) == [(0, 0.9)]


@pytest.mark.parametrize(
    ("provider", "body", "error", "needle"),
    [
        ("zeroentropy", b'{"results": [{"index": 0, "relevance_sc', NotJSONError, "EOF"),
        ("zeroentropy", b'{"result": []}', WireError, "results: Field required"),
        ("voyage", b'{"data": [{"index": "x", "relevance_score": 1}]}', WireError, "data.0.index"),
        ("tei", b'{"index": 0, "score": 1}', WireError, "JSON array"),
        ("tei", b"", NotJSONError, "EOF"),
    ],
)
def test_malformed_response_shapes_are_wire_errors(
    provider: str, body: bytes, error: type[Exception], needle: str
) -> None:
    with pytest.raises(error, match=needle):
        PROVIDERS[provider].parse(body)


def test_instructions_native_for_zerank_prepended_elsewhere() -> None:
    zero = PROVIDERS["zeroentropy"].format_query("q", "rules")
    assert zero == "<query>q</query>\n<instruction>rules</instruction>"
    assert PROVIDERS["cohere"].format_query("q", "rules") == "rules\n\nq"
    assert PROVIDERS["jina"].format_query("q", None) == "q"


def test_documents_are_split_under_count_and_byte_limits() -> None:
    with serve(Behaviour("cohere")) as server:
        scorer = scorer_for(server, "cohere", max_documents_per_request=7)
        rows = scorer.score_batch(["q1", "q2"], DOCS)
        assert server.stats.requests == 2 * math.ceil(len(DOCS) / 7)
        assert all(len(b["documents"]) <= 7 for b in server.stats.bodies)
        assert rows[1] == pytest.approx(expected("cohere", Criterion("c1", "q2"), DOCS))
    plan = _core.plan(
        PROVIDERS["cohere"],
        [("q", None)],
        ["x" * 100] * 10,
        model="m",
        max_documents=1000,
        max_bytes=350,
        extra={},
    )
    assert [len(r.documents) for r in plan] == [3, 3, 3, 1]


def test_v1_base_url_is_not_doubled() -> None:
    scorer = RemoteScorer("openai-compatible", "m", base_url="http://127.0.0.1:8000/v1")
    assert scorer.url == "http://127.0.0.1:8000/v1/rerank"


# --- specs and configuration ------------------------------------------------------------


def test_specs_build_remote_scorers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ZEROENTROPY_API_KEY", KEY)
    monkeypatch.setenv("COHERE_API_KEY", KEY)
    monkeypatch.setenv("JINA_API_KEY", KEY)
    monkeypatch.setenv("VOYAGE_API_KEY", KEY)
    assert load_scorer("remote:zeroentropy").name == "remote:zeroentropy/zerank-2"
    assert load_scorer("remote:zeroentropy/zerank-2").model == "zerank-2"
    assert load_scorer("remote:cohere/rerank-v3.5").name == "remote:cohere/rerank-v3.5"
    assert load_scorer("remote:jina/jina-reranker-m0").model == "jina-reranker-m0"
    assert load_scorer("remote:voyage/rerank-2.5-lite").model == "rerank-2.5-lite"
    assert load_scorer("remote:tei").name == "remote:tei"
    s = load_scorer("remote:openai-compatible/BAAI/bge-reranker-v2-m3")
    assert s.model == "BAAI/bge-reranker-v2-m3"
    monkeypatch.setenv("ZEROENTROPY_BASE_URL", "http://127.0.0.1:9999")
    assert load_scorer("remote:zeroentropy").base_url == "http://127.0.0.1:9999"
    assert (
        load_scorer("remote:zeroentropy", base_url="https://eu.example").base_url
        == "https://eu.example"
    )
    with pytest.raises(InvalidInputError, match="known: cohere"):
        load_scorer("remote:nope")
    with pytest.raises(InvalidInputError, match="needs a model"):
        load_scorer("remote:openai-compatible")


def test_missing_key_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ZEROENTROPY_API_KEY", raising=False)
    with pytest.raises(RemoteAuthError, match="ZEROENTROPY_API_KEY"):
        RemoteScorer("zeroentropy")


def test_https_only_unless_loopback_or_allowed() -> None:
    with pytest.raises(InvalidInputError, match="plain HTTP"):
        RemoteScorer("cohere", api_key=KEY, base_url="http://rerank.example.com")
    assert RemoteScorer(
        "cohere", api_key=KEY, base_url="http://rerank.example.com", allow_insecure=True
    )
    for ok in (
        "https://rerank.example.com",
        "http://localhost:1",
        "http://127.0.0.5:2",
        "http://[::1]:3",
    ):
        assert RemoteScorer("cohere", api_key=KEY, base_url=ok).base_url == ok


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"concurrency": 0}, "concurrency"),
        ({"timeout": -1}, "timeout"),
        ({"max_retries": -1}, "max_retries"),
        ({"latency": "fast"}, "latency"),
        ({"score_transform": "softmax"}, "score_transform"),
    ],
)
def test_bad_options(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(InvalidInputError, match=match):
        RemoteScorer("cohere", api_key=KEY, **kwargs)  # type: ignore[arg-type]


# --- faults -------------------------------------------------------------------------------


def test_scripted_transient_faults_recover() -> None:
    behaviour = Behaviour(
        "zeroentropy", script=["429", "503", "reset", "500", "ok"], hang_seconds=0.5
    )
    with serve(behaviour) as server:
        scores = scorer_for(server, "zeroentropy").score("q", DOCS)
        assert scores == pytest.approx(expected("zeroentropy", Criterion("c0", "q"), DOCS))
        assert server.stats.requests == 5


def test_a_slow_response_past_the_timeout_is_retried() -> None:
    with serve(Behaviour("cohere", script=["timeout"], hang_seconds=1.0)) as server:
        scores = scorer_for(server, "cohere", timeout=0.3).score("q", DOCS)
        assert scores == pytest.approx(expected("cohere", Criterion("c0", "q"), DOCS))
        assert server.stats.requests == 2


@pytest.mark.parametrize(
    ("fault", "error", "requests"),
    [
        ("429", RemoteRateLimitError, 3),
        ("503", RemoteServerError, 3),
        ("500", RemoteServerError, 3),
        ("reset", RemoteServerError, 3),
        ("timeout", RemoteTimeoutError, 3),
        ("garbage", RemoteResponseError, 1),
        ("missing", RemoteResponseError, 1),
        ("duplicate", RemoteResponseError, 1),
        ("out_of_range", RemoteResponseError, 1),
        ("nan", RemoteResponseError, 1),
        ("logits", RemoteResponseError, 1),
    ],
)
def test_persistent_faults_end_in_the_right_typed_error(
    fault: str, error: type, requests: int
) -> None:
    with serve(Behaviour("cohere", always=fault, hang_seconds=0.6)) as server:
        scorer = scorer_for(server, "cohere", max_retries=2, timeout=0.3)
        with pytest.raises(error) as info:
            scorer.score("q", DOCS)
        assert server.stats.requests == requests
        assert info.value.provider == "cohere"
        assert "cohere" in str(info.value)


@pytest.mark.parametrize(
    ("fault", "needle"),
    [
        ("garbage", "not JSON"),
        ("missing", "have no score"),
        ("duplicate", "appears twice"),
        ("out_of_range", "out of range"),
        ("nan", "not finite"),
        ("logits", "score_transform"),
    ],
)
def test_bad_responses_say_what_was_wrong(fault: str, needle: str) -> None:
    with (
        serve(Behaviour("jina", always=fault)) as server,
        pytest.raises(RemoteResponseError, match=needle) as info,
    ):
        scorer_for(server, "jina").score("q", DOCS)
    assert info.value.status_code == 200


def test_logit_scores_with_sigmoid_transform() -> None:
    with serve(Behaviour("openai-compatible", always="logits")) as server:
        scores = scorer_for(server, "openai-compatible", score_transform="sigmoid").score("q", DOCS)
    want = [
        1 / (1 + math.exp(-(s * 20 - 10)))
        for s in expected("openai-compatible", Criterion("c0", "q"), DOCS)
    ]
    assert scores == pytest.approx(want)


def test_auth_and_client_errors_are_not_retried() -> None:
    with serve(Behaviour("cohere")) as server:
        wrong = RemoteScorer("cohere", api_key="sk-wrong", base_url=server.base_url)
        with pytest.raises(RemoteAuthError) as info:
            wrong.score("q", DOCS)
        assert info.value.status_code == 401 and server.stats.requests == 0
    with serve(Behaviour("cohere")) as server:
        # The voyage path on a cohere server: 404, a client error.
        wrong_path = RemoteScorer("zeroentropy", api_key=KEY, base_url=server.base_url)
        with pytest.raises(RemoteRequestError, match="404"):
            wrong_path.score("q", DOCS)


def test_the_job_deadline_bounds_rate_limit_waits() -> None:
    with serve(Behaviour("voyage", always="429", retry_after="30", retry_after_ms=None)) as server:
        scorer = scorer_for(server, "voyage", deadline=1.0, max_retries=10)
        with pytest.raises(RemoteRateLimitError, match="deadline"):
            scorer.score("q", DOCS)
        assert server.stats.requests == 1  # a 30 s hint past a 1 s deadline: give up at once


FAULT_MIX = {"429": 0.20, "503": 0.10, "reset": 0.05, "timeout": 0.05}


def _big_job() -> tuple[list[Criterion], list[str]]:
    rng = random.Random(5)
    pages = [
        f"page {i} " + " ".join(rng.choices(["alpha", "beta", "gamma", "delta"], k=30))
        for i in range(150)
    ]
    criteria = [Criterion(f"q{i}", f"criterion number {i}") for i in range(80)]
    return criteria, pages


def _check_complete(
    rows: list[list[float]], criteria: list[Criterion], pages: list[str], stats
) -> None:
    for criterion, row in zip(criteria, rows, strict=True):
        assert row == pytest.approx(expected("zeroentropy", criterion, pages))
    # Every pair was delivered at least once; nothing is missing.
    assert len(stats.served_pairs) == len(criteria) * len(pages)
    assert sum(stats.faults.values()) > 20  # the mix really happened


def test_fault_mix_12000_pairs_sync() -> None:
    criteria, pages = _big_job()
    behaviour = Behaviour("zeroentropy", fault_rates=FAULT_MIX, hang_seconds=0.6, seed=99)
    with serve(behaviour) as server:
        scorer = scorer_for(
            server,
            "zeroentropy",
            concurrency=16,
            max_retries=14,
            timeout=0.4,
            max_documents_per_request=50,
        )
        rows = scorer.score_batch(criteria, pages)
        _check_complete(rows, criteria, pages, server.stats)
        assert set(server.stats.faults) == set(FAULT_MIX)


def test_fault_mix_12000_pairs_async() -> None:
    criteria, pages = _big_job()
    behaviour = Behaviour("zeroentropy", fault_rates=FAULT_MIX, hang_seconds=0.6, seed=98)

    async def main() -> list[list[float]]:
        async with AsyncRemoteScorer(
            "zeroentropy",
            api_key=KEY,
            base_url=server.base_url,
            concurrency=16,
            max_retries=14,
            timeout=0.4,
            backoff_base=0.01,
            max_documents_per_request=50,
        ) as scorer:
            return await scorer.ascore_batch(criteria, pages)

    with serve(behaviour) as server:
        rows = anyio.run(main)
        _check_complete(rows, criteria, pages, server.stats)


def test_connections_are_bounded_and_kept_across_calls() -> None:
    criteria = [f"q{i}" for i in range(12)]
    with serve(Behaviour("cohere", latency=0.02)) as server:
        with scorer_for(server, "cohere", concurrency=3) as scorer:
            first = scorer.score_batch(criteria, DOCS)
            assert scorer.score_batch(criteria, DOCS) == first
        assert server.stats.requests == 24
        assert 1 <= len(server.stats.peers) <= 3
        scorer.score_batch(criteria[:2], DOCS)  # usable again after close: new connections
        assert len(server.stats.peers) > 1

    async def main() -> None:
        async with AsyncRemoteScorer(
            "cohere", api_key=KEY, base_url=server.base_url, concurrency=3
        ) as scorer:
            await scorer.ascore_batch(criteria, DOCS)
            await scorer.ascore_batch(criteria, DOCS)

    with serve(Behaviour("cohere", latency=0.02)) as server:
        anyio.run(main)
        assert server.stats.requests == 24
        assert 1 <= len(server.stats.peers) <= 3


def test_async_errors_are_typed_not_grouped() -> None:
    async def main() -> None:
        await scorer_for(server, "cohere", max_retries=1).ascore_batch(["a", "b", "c"], DOCS)

    with serve(Behaviour("cohere", always="503")) as server, pytest.raises(RemoteServerError):
        anyio.run(main)


# --- the compressor fails open ------------------------------------------------------------


@pytest.mark.parametrize("use_async", [False, True])
def test_fail_open_keeps_the_failed_criterion_and_says_why(use_async: bool) -> None:
    with serve(Behaviour("cohere", fail_query_containing="boom")) as server:
        compressor = Compressor(
            scorer_for(server, "cohere", max_retries=1), TopK(2), "whitespace", on_error="keep"
        )
        criteria = [Criterion("ok", "fine question"), Criterion("bad", "boom question")]
        if use_async:
            result = anyio.run(compressor.acompress, DOCS, criteria)
        else:
            result = compressor.compress(DOCS, criteria)
    assert len(result["ok"].kept) == 2 and not result["ok"].failed
    bad = result["bad"]
    assert bad.kept_indices == tuple(range(len(DOCS)))
    assert "RemoteServerError" in (bad.error or "") and "500" in (bad.error or "")
    assert result.failed_criteria == ("bad",)


# --- secrets ------------------------------------------------------------------------------


def test_the_key_never_appears_in_reprs_logs_or_errors(caplog: pytest.LogCaptureFixture) -> None:
    seen: list[str] = []
    with caplog.at_level(logging.DEBUG):
        with serve(Behaviour("cohere", script=["429", "reset", "ok"], hang_seconds=0.2)) as server:
            scorer = scorer_for(server, "cohere")
            seen.append(repr(scorer))
            scorer.score("q", DOCS)
        with serve(Behaviour("cohere", echo_auth_in_errors=True)) as server:
            echo = RemoteScorer("cohere", api_key=KEY + "-nope", base_url=server.base_url)
            with pytest.raises(RemoteAuthError) as info:
                echo.score("q", DOCS)
            seen += [str(info.value), repr(info.value), repr(echo)]
        for fault in ("garbage", "503", "timeout"):
            with serve(Behaviour("cohere", always=fault, hang_seconds=0.5)) as server:
                with pytest.raises(Exception) as exc_info:
                    scorer_for(server, "cohere", max_retries=1, timeout=0.2).score("q", DOCS)
                chain = exc_info.value
                while chain is not None:
                    seen += [str(chain), repr(chain)]
                    chain = chain.__cause__ or chain.__context__  # type: ignore[assignment]
    seen.append(caplog.text)
    assert "bad key" in seen[2]  # the server did echo the header...
    for text in seen:
        assert KEY not in text  # ...and it was redacted everywhere
    assert "**********" in seen[0]


# --- retry decisions, without a network ---------------------------------------------------


def test_retry_after_parsing() -> None:
    assert _core.parse_retry_after({"Retry-After": "3"}) == 3.0
    assert _core.parse_retry_after({"retry-after-ms": "250"}) == 0.25
    assert _core.parse_retry_after({"retry-after-ms": "250", "Retry-After": "9"}) == 0.25
    soon = format_datetime(datetime.now(timezone.utc) + timedelta(seconds=30), usegmt=True)
    assert 25 < (_core.parse_retry_after({"Retry-After": soon}) or 0) <= 30
    assert _core.parse_retry_after({"Retry-After": "soon"}) is None
    assert _core.parse_retry_after({}) is None


def test_backoff_grows_is_capped_and_honours_server_hints() -> None:
    policy = _core.RetryPolicy(max_retries=10, backoff_base=0.5, backoff_max=4.0)
    rng = random.Random(0)
    for attempt in range(10):
        assert 0 <= policy.delay(attempt, None, rng) <= min(4.0, 0.5 * 2**attempt)
    assert policy.delay(0, 7.0, rng) >= 7.0


def test_retrier_stops_after_max_retries_and_on_client_errors() -> None:
    err = RemoteServerError("x", provider="p")
    retrier = _core.Retrier(_core.RetryPolicy(max_retries=2), 1.0, None, "p")
    retryable = _core.Outcome(error=err, retryable=True)
    retrier.after_failure(retryable)
    retrier.after_failure(retryable)
    with pytest.raises(RemoteServerError):
        retrier.after_failure(retryable)
    with pytest.raises(RemoteRequestError):
        _core.Retrier(_core.RetryPolicy(), 1.0, None, "p").after_failure(
            _core.Outcome(error=RemoteRequestError("400", provider="p"))
        )


def test_retrier_timeout_shrinks_to_the_deadline() -> None:
    now = [100.0]
    retrier = _core.Retrier(_core.RetryPolicy(), 30.0, 105.0, "p", clock=lambda: now[0])
    assert retrier.start_attempt() == 5.0
    now[0] = 106.0
    with pytest.raises(RemoteTimeoutError, match="deadline"):
        retrier.start_attempt()


# --- command line -------------------------------------------------------------------------


def test_cli_score_against_a_remote_api(tmp_path) -> None:
    pages = tmp_path / "pages.json"
    pages.write_text(json.dumps(DOCS[:4]))
    with serve(Behaviour("cohere")) as server:
        env = dict(os.environ, COHERE_API_KEY=KEY)
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "ctxcompress",
                "score",
                "--scorer",
                "remote:cohere/rerank-v3.5",
                "--base-url",
                server.base_url,
                "--criterion",
                "q",
                "--pages",
                str(pages),
            ],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["scorer"] == "remote:cohere/rerank-v3.5"
    assert out["scores"] == pytest.approx(
        expected("cohere", Criterion("c0", "q"), DOCS[:4]), abs=1e-6
    )
    assert KEY not in proc.stdout + proc.stderr


# --- endpoints: infinity, paths, base URLs (issue 29) --------------------------------------


def test_infinity_on_its_default_route_with_and_without_a_model() -> None:
    with serve(Behaviour("infinity")) as server:
        plain = load_scorer("remote:infinity", base_url=server.base_url)
        assert plain.name == "remote:infinity" and plain.url.endswith(
            ":" + plain.url.split(":")[-1]
        )
        assert plain.score("q", DOCS) == pytest.approx(
            expected("infinity", Criterion("c", "q"), DOCS)
        )
        named = load_scorer(
            "remote:infinity/mixedbread-ai/mxbai-rerank-xsmall-v1", base_url=server.base_url
        )
        named.score("q", DOCS[:2])
        bodies = [r.body for r in server.stats.recorded]
    assert {r.path for r in server.stats.recorded} == {"/rerank"}
    assert "model" not in bodies[0] and bodies[1]["model"] == "mixedbread-ai/mxbai-rerank-xsmall-v1"
    assert bodies[0]["return_documents"] is False and bodies[0]["raw_scores"] is False


def test_a_gateway_path_by_option_or_by_base_url_prefix() -> None:
    with serve(Behaviour("cohere", path="/gateway/cohere/v2/rerank")) as server:
        by_path = scorer_for(server, "cohere", path="/gateway/cohere/v2/rerank")
        assert by_path.score("q", DOCS) == pytest.approx(
            expected("cohere", Criterion("c", "q"), DOCS)
        )
        by_prefix = RemoteScorer(
            "cohere", api_key=KEY, base_url=server.base_url + "/gateway/cohere"
        )
        by_prefix.score("q", DOCS[:3])
        # Without either: a 404 that names the path it tried.
        with pytest.raises(RemoteRequestError, match="no rerank endpoint at /v2/rerank"):
            scorer_for(server, "cohere").score("q", DOCS)
    with serve(Behaviour("infinity", path="/infinity/rerank")) as server:
        prefixed = RemoteScorer("infinity", base_url=server.base_url + "/infinity/")
        assert prefixed.url == server.base_url + "/infinity/rerank"
        prefixed.score("q", DOCS[:2])
    for bad in ("rerank", "/a b", "/x?y=1"):
        with pytest.raises(InvalidInputError, match="path must be"):
            RemoteScorer("cohere", api_key=KEY, path=bad)


@pytest.mark.parametrize(
    ("provider", "base", "url"),
    [
        ("cohere", "https://api.cohere.com/v1", "https://api.cohere.com/v2/rerank"),
        ("cohere", "https://proxy.example/v1", "https://proxy.example/v2/rerank"),
        (
            "zeroentropy",
            "https://api.zeroentropy.dev/v1",
            "https://api.zeroentropy.dev/v1/models/rerank",
        ),
        ("zeroentropy", "https://gw.example/ze/v1", "https://gw.example/ze/v1/models/rerank"),
        ("voyage", "https://api.voyageai.com/v1/", "https://api.voyageai.com/v1/rerank"),
        ("voyage", "https://api.voyageai.com", "https://api.voyageai.com/v1/rerank"),
        ("jina", "https://api.jina.ai/v1", "https://api.jina.ai/v1/rerank"),
        ("infinity", "https://infinity.example", "https://infinity.example/rerank"),
        ("openai-compatible", "https://vllm.example/v1", "https://vllm.example/v1/rerank"),
    ],
)
def test_base_urls_are_joined_as_the_sdks_join_them(provider: str, base: str, url: str) -> None:
    model = "m" if provider == "openai-compatible" else None
    assert RemoteScorer(provider, model, api_key=KEY, base_url=base).url == url


def test_environment_precedence_is_the_sdks(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    for name in ("CO_API_KEY", "COHERE_API_KEY", "CO_API_URL", "COHERE_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("COHERE_API_KEY", "sk-second")
    monkeypatch.setenv("COHERE_BASE_URL", "https://second.example")
    assert RemoteScorer("cohere")._api_key.get_secret_value() == "sk-second"  # type: ignore[union-attr]
    assert RemoteScorer("cohere").base_url == "https://second.example"
    monkeypatch.setenv("CO_API_KEY", "sk-first")
    monkeypatch.setenv("CO_API_URL", "https://first.example")
    assert RemoteScorer("cohere")._api_key.get_secret_value() == "sk-first"  # type: ignore[union-attr]
    assert RemoteScorer("cohere").base_url == "https://first.example"
    key_file = tmp_path / "key"
    key_file.write_text("  pa-from-file\n")
    monkeypatch.setenv("VOYAGE_API_KEY", "pa-from-variable")
    monkeypatch.setenv("VOYAGE_API_KEY_PATH", str(key_file))
    assert RemoteScorer("voyage")._api_key.get_secret_value() == "pa-from-file"  # type: ignore[union-attr]
    monkeypatch.setenv("VOYAGE_API_KEY_PATH", str(tmp_path / "missing"))
    with pytest.raises(InvalidInputError, match=r"VOYAGE_API_KEY_PATH.*missing"):
        RemoteScorer("voyage")


# --- long pages (issue 29) ----------------------------------------------------------------

LONG = " ".join(f"w{i}" for i in range(1500))  # 1,500 tokens on the test server


@pytest.mark.parametrize("use_async", [False, True])
def test_tei_windows_long_pages_and_scores_the_best_window(use_async: bool) -> None:
    pages = ["short page", LONG, "another short page"]
    with serve(Behaviour("tei", max_input_length=512)) as server:
        scorer = RemoteScorer("tei", base_url=server.base_url)
        if use_async:
            scores = anyio.run(scorer.ascores, [Criterion("c", "q")], pages)
        else:
            scores = scorer.scores([Criterion("c", "q")], pages)
        sent = [t for r in server.stats.recorded if r.path == "/rerank" for t in r.body["texts"]]
        paths = [r.path for r in server.stats.recorded]
        assert server.stats.truncated == 0  # every window fit
    windows = [t for t in sent if t.startswith("w") and t != LONG]
    assert len(windows) >= 3 and LONG not in sent
    assert all(len(w.split()) <= 512 - 1 - 4 for w in windows)
    assert set(" ".join(windows).split()) == set(LONG.split())  # nothing left out
    assert scores.rows[0][1] == pytest.approx(max(expected_score("q", w) for w in windows))
    assert scores.rows[0][0] == pytest.approx(expected_score("q", "short page"))
    note = scores.note(0, 1)
    assert note is not None and note.flags == ("windowed",) and "512 tokens" in (note.text or "")
    assert paths.count("/info") == 1 and "/tokenize" in paths


def test_tei_without_info_truncates_with_a_warning() -> None:
    with serve(Behaviour("tei", max_input_length=None)) as server:
        scorer = RemoteScorer("tei", base_url=server.base_url)
        with pytest.warns(RemoteTruncationWarning, match="not scored"):
            scores = scorer.score("q", ["short", LONG])
        assert server.stats.truncated == 1  # cut by the server, not refused
        assert all(
            r.body.get("truncate") is True for r in server.stats.recorded if r.path == "/rerank"
        )
    assert len(scores) == 2


def test_tei_without_tokenize_truncates_with_a_warning() -> None:
    with (
        serve(Behaviour("tei", tokenize=False)) as server,
        pytest.warns(RemoteTruncationWarning, match="/tokenize"),
    ):
        RemoteScorer("tei", base_url=server.base_url).score("q", [LONG])


# --- keys with stray whitespace or control characters (issue 25, item 1) -----------------------


def test_a_key_with_a_trailing_newline_is_stripped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COHERE_API_KEY", f" {KEY}\r\n")
    monkeypatch.delenv("CO_API_KEY", raising=False)
    with serve(Behaviour("cohere")) as server:
        RemoteScorer("cohere", base_url=server.base_url).score("q", DOCS)
        assert server.stats.auth_headers == {f"Bearer {KEY}"}


@pytest.mark.parametrize("bad", [f"{KEY[:8]}\n{KEY[8:]}", f"{KEY}\x00x", f"{KEY}\u00e9"])
def test_a_key_with_inner_control_characters_is_refused_without_showing_it(bad: str) -> None:
    with pytest.raises(InvalidInputError) as info:
        RemoteScorer("cohere", api_key=bad)
    assert "API key (from api_key=)" in str(info.value)
    assert KEY[:8] not in str(info.value) + repr(info.value)
    with pytest.raises(InvalidInputError, match="header 'X-Token'") as info:
        RemoteScorer("cohere", api_key=KEY, headers={"X-Token": bad})
    assert KEY[:8] not in str(info.value)


def _chain(exc: BaseException | None) -> str:
    text = ""
    while exc is not None:
        text += f"{exc}\n{exc!r}\n"
        exc = exc.__cause__ or exc.__context__
    return text


@pytest.mark.parametrize("path", ["h11-sync", "h11-async", "httpx-trio"])
def test_no_transport_error_carries_a_header_value(
    path: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A header value that escaped the checks (set after construction) is named nowhere:
    not in the exception chain, not in the WARNING log, not in Selection.error."""
    bad = KEY + "\n"
    with serve(Behaviour("cohere")) as server:
        scorer = scorer_for(server, "cohere")
        scorer._api_key = SecretStr(bad)
        scorer._redact = lambda text: text  # type: ignore[method-assign]  # no second guard
        compressor = Compressor(scorer, TopK(2), "whitespace", on_error="keep")
        with caplog.at_level(logging.WARNING):
            if path == "h11-sync":
                result = compressor.compress(DOCS, ["q"])
            else:
                backend = "trio" if path == "httpx-trio" else "asyncio"
                result = anyio.run(compressor.acompress, DOCS, ["q"], backend=backend)
        with pytest.raises(RemoteRequestError) as info:
            scorer.score("q", DOCS)
        assert server.stats.requests == 0
    selection = result["c0"]
    assert selection.failed and "not valid HTTP" in (selection.error or "")
    for text in (selection.error or "", caplog.text, _chain(info.value)):
        assert KEY not in text


def test_cli_key_with_newline_works_and_a_bad_key_is_one_line(tmp_path) -> None:
    pages = tmp_path / "pages.json"
    pages.write_text(json.dumps(DOCS[:3]))

    def run(key: str, *extra: str) -> subprocess.CompletedProcess[str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("CO_", "COHERE_"))}
        env["COHERE_API_KEY"] = key
        args = ["score", "--scorer", "remote:cohere", "--base-url", server.base_url, *extra]
        return subprocess.run(
            [sys.executable, "-m", "ctxcompress", *args, "--criterion", "q", "--pages", str(pages)],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )

    with serve(Behaviour("cohere", path="/gw/v2/rerank")) as server:
        ok = run(KEY + "\n", "--rerank-path", "/gw/v2/rerank")
        bad = run(KEY[:6] + "\x01" + KEY[6:])
    assert ok.returncode == 0, ok.stderr
    assert len(json.loads(ok.stdout)["scores"]) == 3
    assert bad.returncode == 2 and bad.stdout == ""
    assert bad.stderr.count("\n") == 1 and "control character" in bad.stderr
    assert KEY[6:] not in bad.stderr and KEY[:6] + "\x01" not in bad.stderr


def test_a_very_long_retry_after_is_capped() -> None:
    import random

    policy = _core.RetryPolicy(max_retries=3, backoff_base=0.25, backoff_max=20.0)
    wait = policy.delay(0, 3600.0, random.Random(0))
    assert _core.MAX_RETRY_AFTER <= wait <= _core.MAX_RETRY_AFTER + 0.25
    assert 3.0 <= policy.delay(0, 3.0, random.Random(0)) <= 3.25  # short hints are honoured
