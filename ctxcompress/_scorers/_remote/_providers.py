"""Rerank API providers: each a frozen description plus its wire format, with no I/O.

A provider knows its endpoint, where its key and base URL come from, its request limits,
how to build a request body and how to read the scores out of a response. The clients in
``_client`` do the I/O for every provider alike.

Each description follows the provider's own client library (ZeroEntropy's SDK, Cohere's
ClientV2, Voyage's SDK, jina-cli, tei-client, infinity_client): the same path under the
same base URL, the same environment variables in the same order, the same body fields.
``tests/test_remote_sdks.py`` sends the same call through both and compares them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, TypeAdapter, ValidationError

from ..._exceptions import NotJSONError, WireError

__all__ = ["PROVIDERS", "KeySource", "Provider"]

#: Where a key may come from: an environment variable holding it, or one naming a file.
KeySource = tuple[Literal["env", "file"], str]


class _Strictish(BaseModel):
    # Providers add fields over time; only the ones we read are required.
    model_config = ConfigDict(extra="ignore")


class _IndexScore(_Strictish):
    index: int
    relevance_score: float


class _ResultsBody(_Strictish):
    """Cohere v2, Jina, ZeroEntropy, vLLM and infinity: ``results[].index/relevance_score``."""

    results: list[_IndexScore]


class _DataBody(_Strictish):
    """Voyage: ``data[].index/relevance_score``."""

    data: list[_IndexScore]


class _TEIItem(_Strictish):
    index: int
    score: float


# Response bodies are validated straight from bytes (pydantic parses the JSON itself): half
# the CPU of json.loads + model_validate, and it is spent once per request on the critical
# path, after the answer has arrived.


def _parse_with(model: type[BaseModel], field: str) -> Callable[[bytes], list[tuple[int, float]]]:
    def parse(content: bytes) -> list[tuple[int, float]]:
        try:
            body = model.model_validate_json(content)
        except ValidationError as exc:
            raise wire_error(exc) from exc
        return [(item.index, item.relevance_score) for item in getattr(body, field)]

    return parse


_TEI_BODY = TypeAdapter(list[_TEIItem])


def _parse_tei(content: bytes) -> list[tuple[int, float]]:
    try:
        items = _TEI_BODY.validate_json(content)
    except ValidationError as exc:
        error = wire_error(exc)
        if exc.errors()[0]["type"] == "list_type":
            error = WireError("expected a JSON array of {index, score}")
        raise error from exc
    return [(item.index, item.score) for item in items]


def wire_error(exc: ValidationError) -> WireError:
    """A pydantic validation failure as a one-line :class:`WireError`."""
    err = exc.errors()[0]
    if err["type"] == "json_invalid":
        return NotJSONError(err["msg"])
    where = ".".join(str(p) for p in err["loc"]) or "body"
    return WireError(f"{where}: {err['msg']}")


def _query_with_prepended_instruction(query: str, instruction: str | None) -> str:
    # Providers without an instruction channel: the instruction goes before the query,
    # separated by a blank line, so the query stays the last thing the model reads.
    return f"{instruction}\n\n{query}" if instruction else query


def _query_with_zerank_instruction(query: str, instruction: str | None) -> str:
    # zerank-2 reads instructions inside the query, in the tagged form ZeroEntropy documents.
    if not instruction:
        return query
    return f"<query>{query}</query>\n<instruction>{instruction}</instruction>"


BodyBuilder = Callable[[str, str | None, Sequence[str], dict[str, Any]], dict[str, Any]]


def _body(
    *,
    documents_key: str = "documents",
    count_key: str | None = "top_n",
    fixed: dict[str, Any] | None = None,
) -> BodyBuilder:
    """A body builder: query, documents, model when there is one, then the fixed fields.

    ``count_key`` asks for every document back (a selection needs all scores, not a top
    list); ``fixed`` holds the fields a provider's client always sends, and the switches
    that stop a server echoing every document back.
    """

    def build(
        query: str, model: str | None, documents: Sequence[str], extra: dict[str, Any]
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"query": query, documents_key: list(documents)}
        if model:
            body["model"] = model
        if count_key:
            body[count_key] = len(documents)
        body.update(fixed or {})
        body.update(extra)
        return body

    return build


_RESULTS = _parse_with(_ResultsBody, "results")


@dataclass(frozen=True)
class Provider:
    """How one rerank API is called. Frozen: a provider is configuration, not state.

    The request goes to the base URL plus ``path``, joined as the provider's client joins
    them. A base URL that is a bare host gets ``host_prefix`` first (the SDK's default base
    URL carries it: ``https://api.zeroentropy.dev/v1``); a base URL ending in one of
    ``drop_suffixes`` loses it, because ``path`` already starts with it.

    Guide with examples: [Remote rerank APIs][guide-remote].
    """

    name: str
    path: str
    default_base_url: str | None
    base_url_envs: tuple[str, ...]
    key_sources: tuple[KeySource, ...]
    build_body: BodyBuilder
    key_required: bool = True
    default_model: str | None = None
    max_documents: int = 1000
    max_request_bytes: int = 5_000_000
    format_query: Callable[[str, str | None], str] = _query_with_prepended_instruction
    parse: Callable[[bytes], list[tuple[int, float]]] = _RESULTS
    native_instructions: bool = False
    host_prefix: str = ""
    drop_suffixes: tuple[str, ...] = ()
    # Keys with this prefix belong to another endpoint: (prefix, that default base URL).
    key_prefixed_base_url: tuple[str, str] | None = None
    # The server tells its input limit (TEI's /info): long pages are windowed to fit.
    windows_long_pages: bool = False
    docs_url: str = ""

    def body(
        self,
        query: str,
        instruction: str | None,
        model: str | None,
        documents: Sequence[str],
        extra: dict[str, Any],
    ) -> dict[str, Any]:
        return self.build_body(self.format_query(query, instruction), model, documents, extra)

    def default_base_url_for(self, key: str | None) -> str | None:
        """The public endpoint, which for some providers depends on the key's kind."""
        if self.key_prefixed_base_url and key and key.startswith(self.key_prefixed_base_url[0]):
            return self.key_prefixed_base_url[1]
        return self.default_base_url

    def endpoint(self, base_url: str, path: str | None = None) -> str:
        """The URL a request goes to; ``path`` (given by the user) replaces the provider's."""
        base = base_url.rstrip("/")
        if path is not None:
            return base + path
        if not urlsplit(base).path:
            base += self.host_prefix
        for suffix in self.drop_suffixes:
            if base.endswith(suffix):
                base = base[: -len(suffix)]
                break
        return base + self.path


def _self_hosted(name: str, env: str, port: int, **fields: Any) -> Provider:
    """A server the user runs: on localhost by default, ``<ENV>_BASE_URL``, an optional key
    in ``<ENV>_API_KEY`` (infinity's server reads its own key from that same variable)."""
    return Provider(
        name=name,
        default_base_url=f"http://127.0.0.1:{port}",
        base_url_envs=(f"{env}_BASE_URL",),
        key_sources=(("env", f"{env}_API_KEY"),),
        key_required=False,
        **fields,
    )


PROVIDERS: dict[str, Provider] = {
    p.name: p
    for p in (
        Provider(
            # zeroentropy SDK: base URL ZEROENTROPY_BASE_URL or https://api.zeroentropy.dev/v1,
            # then "/models/rerank"; key ZEROENTROPY_API_KEY.
            name="zeroentropy",
            path="/models/rerank",
            host_prefix="/v1",
            default_base_url="https://api.zeroentropy.dev",
            base_url_envs=("ZEROENTROPY_BASE_URL",),
            key_sources=(("env", "ZEROENTROPY_API_KEY"),),
            default_model="zerank-2",
            format_query=_query_with_zerank_instruction,
            build_body=_body(count_key=None),
            native_instructions=True,
            docs_url="https://docs.zeroentropy.dev/api-reference/models/rerank",
        ),
        Provider(
            # cohere ClientV2: key CO_API_KEY, else COHERE_API_KEY; base URL CO_API_URL or
            # https://api.cohere.com, whose "/v1" the SDK drops; then "/v2/rerank".
            name="cohere",
            path="/v2/rerank",
            drop_suffixes=("/v1", "/v2"),
            default_base_url="https://api.cohere.com",
            base_url_envs=("CO_API_URL", "COHERE_BASE_URL"),
            key_sources=(("env", "CO_API_KEY"), ("env", "COHERE_API_KEY")),
            default_model="rerank-v3.5",
            # v2 answers carry no document text: nothing to switch off.
            build_body=_body(),
            docs_url="https://docs.cohere.com/reference/rerank",
        ),
        Provider(
            # jina-cli: https://api.jina.ai + "/v1/rerank", key JINA_API_KEY.
            name="jina",
            path="/v1/rerank",
            drop_suffixes=("/v1",),
            default_base_url="https://api.jina.ai",
            base_url_envs=("JINA_BASE_URL",),
            key_sources=(("env", "JINA_API_KEY"),),
            # Pointwise (v3 is listwise: a page's score would depend on its neighbours).
            default_model="jina-reranker-v2-base-multilingual",
            # Jina echoes every document's text unless told not to.
            build_body=_body(fixed={"return_documents": False}),
            docs_url="https://jina.ai/reranker/",
        ),
        Provider(
            # voyageai SDK: the file named by VOYAGE_API_KEY_PATH wins over VOYAGE_API_KEY;
            # base URL https://api.voyageai.com/v1, or https://ai.mongodb.com/v1 for MongoDB
            # Atlas keys ("al-..."); then "/rerank". It sends truncation=true always.
            name="voyage",
            path="/rerank",
            host_prefix="/v1",
            default_base_url="https://api.voyageai.com",
            key_prefixed_base_url=("al-", "https://ai.mongodb.com"),
            base_url_envs=("VOYAGE_BASE_URL",),
            key_sources=(("file", "VOYAGE_API_KEY_PATH"), ("env", "VOYAGE_API_KEY")),
            default_model="rerank-2.5",
            build_body=_body(count_key="top_k", fixed={"truncation": True}),
            parse=_parse_with(_DataBody, "data"),
            docs_url="https://docs.voyageai.com/reference/reranker-api",
        ),
        _self_hosted(
            # tei-client: "/rerank" on the server's URL; no key unless the server has one.
            "tei",
            "TEI",
            8080,
            path="/rerank",
            # TEI's default --max-client-batch-size is 32 (the server's /info says its own).
            max_documents=32,
            max_request_bytes=2_000_000,
            # raw_scores=false: TEI applies the model's activation, giving probabilities.
            # truncate=true: a safety net behind windowing, and the fallback without /info.
            build_body=_body(
                documents_key="texts",
                count_key=None,
                fixed={"raw_scores": False, "return_text": False, "truncate": True},
            ),
            parse=_parse_tei,
            windows_long_pages=True,
            docs_url="https://huggingface.github.io/text-embeddings-inference/",
        ),
        _self_hosted(
            # infinity_client: "/rerank" (infinity's route prefix is empty by default);
            # return_documents and raw_scores false, as the client sends them.
            "infinity",
            "INFINITY",
            7997,
            path="/rerank",
            build_body=_body(fixed={"return_documents": False, "raw_scores": False}),
            docs_url="https://michaelfeil.eu/infinity/",
        ),
        _self_hosted(
            # vLLM's /v1/rerank (Cohere's v1 client shape).
            "openai-compatible",
            "OPENAI_COMPATIBLE",
            8000,
            path="/v1/rerank",
            drop_suffixes=("/v1",),
            build_body=_body(),
            docs_url="https://docs.vllm.ai/ (rerank API)",
        ),
    )
}
