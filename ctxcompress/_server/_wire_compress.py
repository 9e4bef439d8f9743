"""ctxcompress's own ``POST /v1/compress``: pages + criteria + policy → the compression result.

The names are the Python API's: ``pages`` (strings or ``{text, page_number?, source?}``)
or ``document`` (one string, split on page markers like ``split_pages``), ``criteria``
(strings or ``{id?, text, instruction?}``), ``policy`` (``build_policy``'s ``threshold``,
``top_k``, ``max_tokens``, ``min_keep``), ``order``, ``on_error``, ``union_max_tokens``,
``tokenizer``. The answer is ``CompressionResult.to_dict()``. Errors are
``{"detail": "...", "type": kind}`` (plus ``errors`` for field-level problems).
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr

from ._errors import ApiError
from ._wire import NonBlank, Wire

__all__ = ["CompressRequest", "CompressWire"]


class _Strict(BaseModel):
    # Our own API: an unknown field is a mistake worth reporting, not ignoring.
    model_config = ConfigDict(extra="forbid")


class PageIn(_Strict):
    text: StrictStr
    page_number: StrictInt | None = None
    source: StrictStr | None = None


class CriterionIn(_Strict):
    id: StrictStr | None = None
    text: NonBlank = Field(strict=True)
    instruction: StrictStr | None = None


class PolicyIn(_Strict):
    threshold: float | None = None
    top_k: StrictInt | None = None
    max_tokens: StrictInt | None = None
    min_keep: StrictInt | None = None


class CompressRequest(_Strict):
    pages: list[StrictStr | PageIn] | None = None
    document: StrictStr | None = None
    criteria: list[NonBlank | CriterionIn] = Field(min_length=1)
    policy: PolicyIn | None = None
    order: Literal["document", "score"] = "document"
    on_error: Literal["raise", "keep"] = "raise"
    union_max_tokens: StrictInt | None = None
    #: tiktoken[:<encoding>], tiktoken-model:<model> or whitespace (no file paths: a
    #: request must not make the server read its disk).
    tokenizer: StrictStr | None = None


class CompressWire(Wire[CompressRequest]):
    route: ClassVar[str] = "/v1/compress"
    request_model = CompressRequest

    def error_body(self, error: ApiError) -> Any:
        body: dict[str, Any] = {"detail": error.message, "type": error.kind}
        if error.details:
            body["errors"] = error.details
        return body
