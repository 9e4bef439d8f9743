"""ctxcompress's requests against each provider's own client library's, on a recording server.

For every provider the official client (a dev dependency) and ctxcompress make the same
call to a loopback server that records each request; the method, path, auth header and
body fields must be equal, but for the differences listed in ``ALLOWED`` (also in the
README), and the score-sorted answers must map back to the same pages.

infinity_client is not a dev dependency (it pins httpx<0.28): its request is compared
as its source builds it (``RerankInput.to_dict``), and with the library itself where it
happens to be installed.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import pytest

from ctxcompress import RemoteScorer
from ctxcompress._scorers._remote import PROVIDERS

from .rerank_server import KEY, Behaviour, Recorded, RerankServer, serve

QUERY = "which page names the dosage?"
DOCS = [f"page {i}: " + "dosage " * (i % 3) + "text " * i for i in range(7)]

# Body fields where ctxcompress knowingly differs from the client library: field -> reason.
ALLOWED: dict[str, dict[str, str]] = {
    "jina": {"return_documents": "false: Jina would echo every page's text back"},
    "tei": {
        "truncate": "true: a safety net behind windowing (tei-client sends false)",
        "truncation_direction": "not sent: the API default, Right, is what tei-client sends",
    },
    "infinity": {"model": "not sent without a model: the server's default, as the client's"},
}


def _only(server: RerankServer, method: str = "POST") -> Recorded:
    [request] = [r for r in server.stats.recorded if r.method == method]
    return request


def _check_same(provider: str, sdk: Recorded, ours: Recorded) -> None:
    assert ours.method == sdk.method
    assert ours.path == sdk.path
    assert ours.headers.get("authorization") == sdk.headers.get("authorization")
    if sdk.body is not None:
        assert ours.headers["content-type"] == sdk.headers["content-type"] == "application/json"
    allowed = ALLOWED.get(provider, {})
    fields = (set(sdk.body) | set(ours.body)) - set(allowed)
    assert {f: ours.body.get(f) for f in fields} == {f: sdk.body.get(f) for f in fields}


def _compare(
    provider: str,
    sdk_call: Callable[[RerankServer], list[tuple[int, float]]],
    ours: Callable[[RerankServer], RemoteScorer],
    behaviour: Behaviour | None = None,
) -> None:
    with serve(behaviour or Behaviour(provider)) as server:
        sdk_pairs = sdk_call(server)
        sdk_request = _only(server)
        server.stats.recorded.clear()
        scores = ours(server).score(QUERY, DOCS)
        our_request = _only(server)
    _check_same(provider, sdk_request, our_request)
    # The server answers sorted by score: both must map each score back to its page.
    assert [i for i, _ in sdk_pairs] != list(range(len(DOCS)))  # really out of order
    assert dict(sdk_pairs) == pytest.approx(dict(enumerate(scores)))


def test_zeroentropy_matches_its_sdk(monkeypatch: pytest.MonkeyPatch) -> None:
    zeroentropy = pytest.importorskip("zeroentropy")

    def sdk(server: RerankServer) -> list[tuple[int, float]]:
        # The SDK and ctxcompress read the same two variables; its base URL carries /v1.
        monkeypatch.setenv("ZEROENTROPY_BASE_URL", server.base_url + "/v1")
        client = zeroentropy.ZeroEntropy(max_retries=0)
        answer = client.models.rerank(model="zerank-2", query=QUERY, documents=DOCS)
        return [(r.index, r.relevance_score) for r in answer.results]

    monkeypatch.setenv("ZEROENTROPY_API_KEY", KEY)
    _compare("zeroentropy", sdk, lambda server: RemoteScorer("zeroentropy"))


def test_zeroentropy_bare_host_gets_the_sdk_default_prefix() -> None:
    # A bare host is completed as the SDK's default base URL is: https://.../v1.
    scorer = RemoteScorer("zeroentropy", api_key=KEY, base_url="https://api.zeroentropy.dev")
    assert scorer.url == "https://api.zeroentropy.dev/v1/models/rerank"


def test_cohere_matches_client_v2(monkeypatch: pytest.MonkeyPatch) -> None:
    cohere = pytest.importorskip("cohere")

    def sdk(server: RerankServer) -> list[tuple[int, float]]:
        # ClientV2 reads CO_API_URL when it is imported: pass the same URL explicitly.
        client = cohere.ClientV2(base_url=server.base_url, max_retries=0)
        answer = client.rerank(model="rerank-v3.5", query=QUERY, documents=DOCS, top_n=len(DOCS))
        return [(r.index, r.relevance_score) for r in answer.results]

    def ours(server: RerankServer) -> RemoteScorer:
        monkeypatch.setenv("CO_API_URL", server.base_url)
        return RemoteScorer("cohere")

    monkeypatch.setenv("CO_API_KEY", KEY)
    monkeypatch.setenv("COHERE_API_KEY", "sk-second-choice")
    monkeypatch.setenv("COHERE_BASE_URL", "http://127.0.0.1:1")
    _compare("cohere", sdk, ours)


def test_cohere_base_url_handling_is_the_sdks() -> None:
    cohere_client = pytest.importorskip("cohere.client")
    for base in ("https://api.cohere.com/v1", "https://api.cohere.com"):
        scorer = RemoteScorer("cohere", api_key=KEY, base_url=base)
        assert scorer.url == cohere_client.fix_base_url(base) + "/v2/rerank"


def test_voyage_matches_its_sdk(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    voyageai = pytest.importorskip("voyageai")
    key_file = tmp_path / "voyage.key"
    key_file.write_text(KEY + "\n")  # a key file's last line ends in a newline
    monkeypatch.setenv("VOYAGE_API_KEY_PATH", str(key_file))
    monkeypatch.setenv("VOYAGE_API_KEY", "pa-loses-to-the-key-file")

    def sdk(server: RerankServer) -> list[tuple[int, float]]:
        client = voyageai.Client(base_url=server.base_url + "/v1")
        answer = client.rerank(QUERY, DOCS, model="rerank-2.5", top_k=len(DOCS))
        return [(r.index, r.relevance_score) for r in answer.results]

    _compare("voyage", sdk, lambda server: RemoteScorer("voyage", base_url=server.base_url))


def test_voyage_atlas_keys_go_to_atlas(monkeypatch: pytest.MonkeyPatch) -> None:
    util = pytest.importorskip("voyageai.util")
    monkeypatch.delenv("VOYAGE_API_KEY_PATH", raising=False)
    monkeypatch.delenv("VOYAGE_BASE_URL", raising=False)
    for key in ("al-atlas-key-123", "pa-voyage-key-456"):
        monkeypatch.setenv("VOYAGE_API_KEY", key)
        assert RemoteScorer("voyage").url == util.get_default_base_url(key) + "/rerank"
    assert RemoteScorer("voyage").url == "https://api.voyageai.com/v1/rerank"


def test_jina_matches_jina_cli(monkeypatch: pytest.MonkeyPatch) -> None:
    api = pytest.importorskip("jina_cli.api")
    monkeypatch.setenv("JINA_API_KEY", KEY)
    model = PROVIDERS["jina"].default_model
    assert model is not None

    def sdk(server: RerankServer) -> list[tuple[int, float]]:
        monkeypatch.setattr(api, "API_BASE", server.base_url)  # jina-cli has no variable
        results = api.rerank(QUERY, DOCS, model=model, top_n=len(DOCS))
        return [(r["index"], r["relevance_score"]) for r in results]

    def ours(server: RerankServer) -> RemoteScorer:
        monkeypatch.setenv("JINA_BASE_URL", server.base_url)
        return RemoteScorer("jina")

    _compare("jina", sdk, ours)
    with serve(Behaviour("jina")) as server:
        ours(server).score(QUERY, DOCS)
        assert _only(server).body["return_documents"] is False  # no page text comes back


def test_tei_matches_tei_client() -> None:
    tei_client = pytest.importorskip("tei_client")

    def sdk(server: RerankServer) -> list[tuple[int, float]]:
        answer = tei_client.HttpClient(url=server.base_url).rerank(QUERY, DOCS)
        return [(r.index, r.score) for r in answer.ranks]

    def ours(server: RerankServer) -> RemoteScorer:
        return RemoteScorer("tei", base_url=server.base_url)

    _compare("tei", sdk, ours)
    # Both read /info first: tei-client to check the model type, ctxcompress for the limit.
    with serve(Behaviour("tei")) as server:
        ours(server).score(QUERY, DOCS)
        assert [r.path for r in server.stats.recorded] == ["/info", "/rerank"]


def _infinity_client_body() -> dict[str, Any]:
    """What infinity_client sends for rerank(query, documents, top_n), as its source builds
    it (libs/client_infinity/.../models/rerank_input.py, RerankInput.to_dict)."""
    try:
        from infinity_client.models import RerankInput  # type: ignore[import-not-found]
    except ImportError:
        return {
            "query": QUERY,
            "documents": DOCS,
            "return_documents": False,
            "raw_scores": False,
            "model": "default/not-specified",
            "top_n": len(DOCS),
        }
    body: dict[str, Any] = RerankInput(query=QUERY, documents=DOCS, top_n=len(DOCS)).to_dict()
    return body


def test_infinity_matches_its_client_on_the_default_route() -> None:
    def sdk(server: RerankServer) -> list[tuple[int, float]]:
        import httpx

        # infinity_client posts its body as JSON to "/rerank" (api/default/rerank.py).
        answer = httpx.post(server.base_url + "/rerank", json=_infinity_client_body()).json()
        return [(r["index"], r["relevance_score"]) for r in answer["results"]]

    _compare("infinity", sdk, lambda server: RemoteScorer("infinity", base_url=server.base_url))


@pytest.mark.skipif("infinity_client" not in sys.modules, reason="infinity_client not loaded")
def test_infinity_client_itself() -> None:  # pragma: no cover - where it is installed
    from infinity_client import Client
    from infinity_client.api.default import rerank
    from infinity_client.models import RerankInput

    with serve(Behaviour("infinity")) as server:
        body = RerankInput(query=QUERY, documents=DOCS, top_n=len(DOCS))
        rerank.sync(client=Client(base_url=server.base_url), body=body)
        assert _only(server).path == "/rerank"


def test_vllm_matches_cohere_v1_client() -> None:
    cohere = pytest.importorskip("cohere")

    def sdk(server: RerankServer) -> list[tuple[int, float]]:
        client = cohere.Client(api_key=KEY, base_url=server.base_url, max_retries=0)
        answer = client.rerank(
            model="BAAI/bge-reranker-v2-m3", query=QUERY, documents=DOCS, top_n=len(DOCS)
        )
        return [(r.index, r.relevance_score) for r in answer.results]

    def ours(server: RerankServer) -> RemoteScorer:
        return RemoteScorer(
            "openai-compatible", "BAAI/bge-reranker-v2-m3", api_key=KEY, base_url=server.base_url
        )

    _compare("openai-compatible", sdk, ours)
