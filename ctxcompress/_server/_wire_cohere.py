"""Cohere v2 ``POST /v2/rerank`` (docs.cohere.com/reference/rerank).

Request ``{model, query, documents: [str], top_n?, max_tokens_per_doc?}`` (``model`` is
required in v2); answer ``{id, results: [{index, relevance_score}], meta}`` best first, cut
to ``top_n``. Errors are ``{"id": ..., "message": "..."}``; invalid requests are 400 with
a message starting "invalid request:".
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, StrictStr

from ._errors import ApiError
from ._wire import NonBlank, Wire

__all__ = ["CohereWire"]


class CohereRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    model: StrictStr
    query: NonBlank = Field(strict=True)
    documents: list[StrictStr]
    top_n: int | None = Field(default=None, ge=1, strict=True)
    # Accepted for compatibility; long documents are scored over windows, not truncated.
    max_tokens_per_doc: int | None = Field(default=None, ge=1, strict=True)


class CohereResult(BaseModel):
    index: int
    relevance_score: float


class _ApiVersion(BaseModel):
    version: str = "2"


class _BilledUnits(BaseModel):
    search_units: int = 1


class CohereMeta(BaseModel):
    api_version: _ApiVersion = Field(default_factory=_ApiVersion)
    billed_units: _BilledUnits = Field(default_factory=_BilledUnits)


class CohereResponse(BaseModel):
    id: str
    results: list[CohereResult]
    meta: CohereMeta = Field(default_factory=CohereMeta)


class CohereWire(Wire[CohereRequest]):
    route: ClassVar[str] = "/v2/rerank"
    request_model = CohereRequest
    invalid_request_status: ClassVar[int] = 400

    def query_and_documents(self, req: CohereRequest) -> tuple[str, list[str]]:
        return req.query, req.documents

    def answer(self, req: CohereRequest, scores: Sequence[float], elapsed: float = 0.0) -> bytes:
        order = sorted(range(len(scores)), key=lambda i: -scores[i])[: req.top_n]
        return (
            CohereResponse(
                id=str(uuid.uuid4()),
                results=[CohereResult(index=i, relevance_score=scores[i]) for i in order],
            )
            .model_dump_json()
            .encode()
        )

    def error_body(self, error: ApiError) -> Any:
        message = error.message
        if error.kind in ("invalid_json", "invalid_request", "empty"):
            message = f"invalid request: {message}"
        return {"id": str(uuid.uuid4()), "message": message}
