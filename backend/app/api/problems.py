"""The problem+json documents of the OpenAPI description (what errors.py renders)."""

from typing import Any

from pydantic import BaseModel, ConfigDict

from app.errors import PROBLEM_JSON

# Where the OpenAPI document keeps the schema below (app.api.openapi puts it there).
PROBLEM_SCHEMA_REF = "#/components/schemas/Problem"


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


def problem_response(description: str) -> dict[str, Any]:
    """An error answer of one route, documented as problem+json."""
    return _problem(description)


def _problem(description: str) -> dict[str, Any]:
    # No `model`: FastAPI would document the error as application/json too.
    return {
        "description": description,
        "content": {PROBLEM_JSON: {"schema": {"$ref": PROBLEM_SCHEMA_REF}}},
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
    431: _problem("Request headers over the limit (size or count)"),
    503: _problem("Storage unavailable; see Retry-After"),
}
