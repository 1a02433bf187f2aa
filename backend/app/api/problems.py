"""The problem+json documents of the OpenAPI description (what errors.py renders)."""

from typing import Any

from pydantic import BaseModel, ConfigDict


class FieldError(BaseModel):
    field: str
    location: str
    message: str
    type: str


class Problem(BaseModel):
    """An RFC 9457 problem document with a stable `code`."""

    model_config = ConfigDict(extra="allow")

    type: str
    title: str
    status: int
    detail: str
    code: str
    instance: str | None = None
    errors: list[FieldError] | None = None


def _problem(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/problem+json": {"schema": Problem.model_json_schema()}},
        "model": Problem,
    }


PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: _problem("Invalid input"),
    401: _problem("Missing or invalid credentials"),
    403: _problem("A member asked for an owner's action"),
    404: _problem("Not found, or not in a workspace the caller may use"),
    409: _problem("Conflict with the current state"),
    413: _problem("Request body over the limit"),
    415: _problem("Unsupported file type"),
    422: _problem("Validation error, listing the offending fields"),
    429: _problem("A workspace limit was reached; see Retry-After"),
    503: _problem("Storage unavailable; see Retry-After"),
}
