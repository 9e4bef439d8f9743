"""ZeroEntropy ``POST /v1/models/rerank`` (docs.zeroentropy.dev/api-reference/models/rerank).

Request ``{model, query, documents, top_n?, latency?}``; answer ``{results: [{index,
relevance_score}]}`` best first, cut to ``top_n``. ZeroEntropy's API is FastAPI: errors are
``{"detail": "..."}``, and body validation errors are 422 ``{"detail": [{type, loc, msg}]}``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictStr

from ._errors import ApiError
from ._wire import NonBlank, Wire

__all__ = ["ZeroEntropyWire"]


class ZeroEntropyRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    model: StrictStr | None = None
    query: NonBlank = Field(strict=True)
    documents: list[StrictStr]
    top_n: int | None = Field(default=None, ge=1, strict=True)
    latency: Literal["fast", "slow"] | None = None  # accepted; a local server has one mode


class ZeroEntropyResult(BaseModel):
    index: int
    relevance_score: float


class ZeroEntropyResponse(BaseModel):
    # Every field the SDK's ModelRerankResponse requires.
    actual_latency_mode: Literal["fast", "slow"]
    e2e_latency: float
    inference_latency: float
    results: list[ZeroEntropyResult]
    total_bytes: int
    total_tokens: int


class ZeroEntropyWire(Wire[ZeroEntropyRequest]):
    route: ClassVar[str] = "/v1/models/rerank"
    request_model = ZeroEntropyRequest
    invalid_json_status: ClassVar[int] = 422  # FastAPI reports a JSON syntax error as 422

    def query_and_documents(self, req: ZeroEntropyRequest) -> tuple[str, list[str]]:
        return req.query, req.documents

    def answer(
        self, req: ZeroEntropyRequest, scores: Sequence[float], elapsed: float = 0.0
    ) -> bytes:
        order = sorted(range(len(scores)), key=lambda i: -scores[i])[: req.top_n]
        # ZeroEntropy bills bytes as sum(150 + len(query) + len(document)), in UTF-8.
        query_bytes = len(req.query.encode())
        total = sum(150 + query_bytes + len(d.encode()) for d in req.documents)
        return (
            ZeroEntropyResponse(
                # One local mode; the time is the whole request's (queue and scoring: the
                # server does not time inference apart); tokens estimated as bytes / 4.
                actual_latency_mode=req.latency or "fast",
                e2e_latency=elapsed,
                inference_latency=elapsed,
                results=[ZeroEntropyResult(index=i, relevance_score=scores[i]) for i in order],
                total_bytes=total,
                total_tokens=total // 4,
            )
            .model_dump_json()
            .encode()
        )

    def error_body(self, error: ApiError) -> Any:
        if error.details:
            return {"detail": error.details}
        return {"detail": error.message}
