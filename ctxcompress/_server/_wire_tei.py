"""Hugging Face text-embeddings-inference ``POST /rerank``.

Request ``{query, texts, raw_scores?, return_text?, truncate?, truncation_direction?}``;
answer a bare array ``[{index, score, text?}]`` best first. ``raw_scores=true`` returns the
logit of each probability (what a sigmoid head's raw output would be). Errors are
``{"error": "...", "error_type": ...}`` with TEI's types: ``validation`` (413 for too many
texts), ``empty`` (400), ``overloaded`` (429), ``backend``, ``unhealthy`` (503).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictStr, TypeAdapter

from ._errors import ApiError, ErrorKind
from ._wire import NonBlank, Wire

__all__ = ["TEIWire"]

# TEI's ErrorType enum, serialised by name as its router does (it has no "unauthorized":
# a refused key is a request that does not validate).
_TYPES: dict[ErrorKind, str] = {
    "invalid_json": "Validation",
    "invalid_request": "Validation",
    "empty": "Empty",
    "too_large": "Validation",
    "unauthorized": "Validation",
    "overloaded": "Overloaded",
    "scorer_failed": "Backend",
    "unavailable": "Unhealthy",
    "internal": "Backend",
}


class TEIRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    query: NonBlank = Field(strict=True)
    texts: list[StrictStr]
    raw_scores: StrictBool = False
    return_text: StrictBool = False
    # Accepted: pages longer than the model are scored over windows, never cut.
    truncate: StrictBool | None = None
    truncation_direction: Literal["left", "right", "Left", "Right"] | None = None


class TEIRank(BaseModel):
    index: int
    text: str | None = None
    score: float


_RANKS = TypeAdapter(list[TEIRank])


def _logit(p: float) -> float:
    p = min(max(p, 1e-12), 1 - 1e-12)
    return math.log(p / (1 - p))


class TEIWire(Wire[TEIRequest]):
    route: ClassVar[str] = "/rerank"
    request_model = TEIRequest

    def query_and_documents(self, req: TEIRequest) -> tuple[str, list[str]]:
        return req.query, req.texts

    def answer(self, req: TEIRequest, scores: Sequence[float], elapsed: float = 0.0) -> bytes:
        values = [_logit(s) for s in scores] if req.raw_scores else list(scores)
        order = sorted(range(len(values)), key=lambda i: -values[i])
        ranks = [
            TEIRank(index=i, score=values[i], text=req.texts[i] if req.return_text else None)
            for i in order
        ]
        return _RANKS.dump_json(ranks, exclude_none=True)

    def error_body(self, error: ApiError) -> Any:
        return {"error": error.message, "error_type": _TYPES[error.kind]}
