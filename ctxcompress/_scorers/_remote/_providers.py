"""Rerank API providers: each a frozen description plus its wire format, with no I/O.

A provider knows its endpoint, its environment variables, its request limits, how to build
a request body and how to read the scores out of a response. The clients in ``_client``
do the I/O for every provider alike.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, TypeAdapter, ValidationError

from ..._exceptions import NotJSONError, WireError

__all__ = ["PROVIDERS", "Provider"]


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
            raise _wire_error(exc) from exc
        return [(item.index, item.relevance_score) for item in getattr(body, field)]

    return parse


_TEI_BODY = TypeAdapter(list[_TEIItem])


def _parse_tei(content: bytes) -> list[tuple[int, float]]:
    try:
        items = _TEI_BODY.validate_json(content)
    except ValidationError as exc:
        error = _wire_error(exc)
        if exc.errors()[0]["type"] == "list_type":
            error = WireError("expected a JSON array of {index, score}")
        raise error from exc
    return [(item.index, item.score) for item in items]


def _wire_error(exc: ValidationError) -> WireError:
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


@dataclass(frozen=True)
class Provider:
    """How one rerank API is called. Frozen: a provider is configuration, not state."""

    name: str
    path: str
    default_base_url: str | None
    base_url_env: str
    api_key_envs: tuple[str, ...]
    key_required: bool
    default_model: str | None
    max_documents: int
    max_request_bytes: int
    format_query: Callable[[str, str | None], str]
    build_body: Callable[[str, str | None, str, Sequence[str], dict[str, Any]], dict[str, Any]]
    parse: Callable[[bytes], list[tuple[int, float]]]  # a response body → (index, score)
    native_instructions: bool = False
    docs_url: str = ""

    def body(
        self,
        query: str,
        instruction: str | None,
        model: str | None,
        documents: Sequence[str],
        extra: dict[str, Any],
    ) -> dict[str, Any]:
        return self.build_body(
            self.format_query(query, instruction), model, query, documents, extra
        )


def _results_body(
    top_key: str | None, documents_key: str = "documents"
) -> Callable[[str, str | None, str, Sequence[str], dict[str, Any]], dict[str, Any]]:
    def build(
        query: str, model: str | None, _raw: str, documents: Sequence[str], extra: dict[str, Any]
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"query": query, documents_key: list(documents)}
        if model:
            body["model"] = model
        if top_key:
            # Ask for every document back: a selection needs all scores, not a top list.
            body[top_key] = len(documents)
        body.update(extra)
        return body

    return build


def _tei_body(
    query: str, _model: str | None, _raw: str, documents: Sequence[str], extra: dict[str, Any]
) -> dict[str, Any]:
    # raw_scores=false: TEI applies the model's activation, giving probabilities.
    body: dict[str, Any] = {
        "query": query,
        "texts": list(documents),
        "raw_scores": False,
        "return_text": False,
    }
    body.update(extra)
    return body


PROVIDERS: dict[str, Provider] = {
    p.name: p
    for p in (
        Provider(
            name="zeroentropy",
            path="/v1/models/rerank",
            default_base_url="https://api.zeroentropy.dev",
            base_url_env="ZEROENTROPY_BASE_URL",
            api_key_envs=("ZEROENTROPY_API_KEY",),
            key_required=True,
            default_model="zerank-2",
            max_documents=1000,
            max_request_bytes=5_000_000,
            format_query=_query_with_zerank_instruction,
            build_body=_results_body(None),
            parse=_parse_with(_ResultsBody, "results"),
            native_instructions=True,
            docs_url="https://docs.zeroentropy.dev/api-reference/models/rerank",
        ),
        Provider(
            name="cohere",
            path="/v2/rerank",
            default_base_url="https://api.cohere.com",
            base_url_env="COHERE_BASE_URL",
            api_key_envs=("COHERE_API_KEY", "CO_API_KEY"),
            key_required=True,
            default_model="rerank-v3.5",
            max_documents=1000,
            max_request_bytes=5_000_000,
            format_query=_query_with_prepended_instruction,
            build_body=_results_body("top_n"),
            parse=_parse_with(_ResultsBody, "results"),
            docs_url="https://docs.cohere.com/reference/rerank",
        ),
        Provider(
            name="jina",
            path="/v1/rerank",
            default_base_url="https://api.jina.ai",
            base_url_env="JINA_BASE_URL",
            api_key_envs=("JINA_API_KEY",),
            key_required=True,
            default_model="jina-reranker-v2-base-multilingual",
            max_documents=1000,
            max_request_bytes=5_000_000,
            format_query=_query_with_prepended_instruction,
            build_body=_results_body("top_n"),
            parse=_parse_with(_ResultsBody, "results"),
            docs_url="https://jina.ai/reranker/",
        ),
        Provider(
            name="voyage",
            path="/v1/rerank",
            default_base_url="https://api.voyageai.com",
            base_url_env="VOYAGE_BASE_URL",
            api_key_envs=("VOYAGE_API_KEY",),
            key_required=True,
            default_model="rerank-2.5",
            max_documents=1000,
            max_request_bytes=5_000_000,
            format_query=_query_with_prepended_instruction,
            build_body=_results_body("top_k"),
            parse=_parse_with(_DataBody, "data"),
            docs_url="https://docs.voyageai.com/reference/reranker-api",
        ),
        Provider(
            name="tei",
            path="/rerank",
            default_base_url="http://127.0.0.1:8080",
            base_url_env="TEI_BASE_URL",
            api_key_envs=("TEI_API_KEY",),
            key_required=False,
            default_model=None,
            # TEI's default --max-client-batch-size is 32.
            max_documents=32,
            max_request_bytes=2_000_000,
            format_query=_query_with_prepended_instruction,
            build_body=_tei_body,
            parse=_parse_tei,
            docs_url="https://huggingface.github.io/text-embeddings-inference/",
        ),
        Provider(
            name="openai-compatible",
            path="/v1/rerank",
            default_base_url="http://127.0.0.1:8000",
            base_url_env="OPENAI_COMPATIBLE_BASE_URL",
            api_key_envs=("OPENAI_COMPATIBLE_API_KEY",),
            key_required=False,
            default_model=None,
            max_documents=1000,
            max_request_bytes=5_000_000,
            format_query=_query_with_prepended_instruction,
            build_body=_results_body("top_n"),
            parse=_parse_with(_ResultsBody, "results"),
            docs_url="https://docs.vllm.ai/ (rerank API), https://github.com/michaelfeil/infinity",
        ),
    )
}
