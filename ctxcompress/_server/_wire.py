"""What every wire format shares: strict body parsing, and error answers in its own shape.

Each API module subclasses :class:`Wire` with its request model and its error body; the
handlers never build an error body themselves.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from typing import Annotated, Any, ClassVar, Generic, TypeVar

from pydantic import AfterValidator, BaseModel, ValidationError
from starlette.responses import Response

from ._errors import ApiError

__all__ = ["JSON", "NonBlank", "Wire", "json_response"]

JSON = "application/json"
ReqT = TypeVar("ReqT", bound=BaseModel)


def _non_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be empty or only whitespace")
    return value


#: A string that must hold something besides whitespace (queries, criteria).
NonBlank = Annotated[str, AfterValidator(_non_blank)]


def json_response(
    content: bytes, status: int = 200, headers: dict[str, str] | None = None
) -> Response:
    return Response(content=content, status_code=status, headers=headers, media_type=JSON)


class Wire(ABC, Generic[ReqT]):
    """One API's request model and error conventions."""

    #: The route, also the metrics label.
    route: ClassVar[str]
    request_model: type[ReqT]
    #: Status for a body that is not JSON, and for JSON of the wrong shape or values.
    invalid_json_status: ClassVar[int] = 400
    invalid_request_status: ClassVar[int] = 422

    def parse(self, body: bytes) -> ReqT:
        try:
            return self.request_model.model_validate_json(body)
        except ValidationError as exc:
            raise self.invalid(exc) from None

    def invalid(self, exc: ValidationError) -> ApiError:
        errors = exc.errors(include_input=False, include_url=False, include_context=False)
        if errors and errors[0]["type"] == "json_invalid":
            return ApiError(
                self.invalid_json_status, "invalid_json", f"malformed JSON: {errors[0]['msg']}"
            )
        details = [
            {"type": e["type"], "loc": ["body", *e["loc"]], "msg": e["msg"]} for e in errors[:20]
        ]
        first = errors[0] if errors else {"loc": (), "msg": "invalid body"}
        where = ".".join(str(p) for p in first["loc"]) or "body"
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        return ApiError(
            self.invalid_request_status,
            "invalid_request",
            f"{where}: {first['msg']}{more}",
            details=details,
        )

    def bad_request(self, message: str) -> ApiError:
        """Valid JSON whose values cannot be acted on (e.g. a query too long for the model)."""
        return ApiError(self.invalid_request_status, "invalid_request", message)

    @abstractmethod
    def error_body(self, error: ApiError) -> Any:
        """The JSON value of an error answer, in this API's documented shape."""

    def error_response(self, error: ApiError) -> Response:
        body = json.dumps(self.error_body(error), ensure_ascii=False).encode()
        return json_response(body, error.status, error.headers())
