"""The one problem+json (RFC 9457) renderer of both services and of the fakes.

A problem is `{type, title, status, detail, code}` plus `instance` and any extra members
(`errors` for validation problems, `limit_bytes`, …). `code` is the stable, machine-readable
name; `type` is derived from it.
"""

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final

from starlette.responses import JSONResponse

PROBLEM_JSON: Final = "application/problem+json"
TYPE_BASE: Final = "https://errors.faas.dev/"


def problem_type(code: str) -> str:
    """`BUILD_FAILED` → `https://errors.faas.dev/build-failed`."""
    return TYPE_BASE + code.lower().replace("_", "-")


def problem_body(
    *, status: int, code: str, title: str, detail: str, instance: str | None = None, **extra: Any
) -> dict[str, Any]:
    """The problem document as a JSON-ready dict."""
    body: dict[str, Any] = {
        "type": problem_type(code),
        "title": title,
        "status": status,
        "detail": detail,
        "code": code,
    }
    if instance:
        body["instance"] = instance
    body.update(extra)
    return body


def problem_response(
    *,
    status: int,
    code: str,
    title: str,
    detail: str,
    instance: str | None = None,
    headers: Mapping[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    """The problem document as an `application/problem+json` response."""
    body = problem_body(
        status=status, code=code, title=title, detail=detail, instance=instance, **extra
    )
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


class ProblemError(Exception):
    """The base of both services' errors: HTTP status, stable code and title, a detail."""

    status: int = 400
    code: str = "BAD_REQUEST"
    title: str = "Bad request"

    def __init__(
        self,
        detail: str,
        *,
        code: str | None = None,
        status: int | None = None,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status
        self.headers = dict(headers or {})
        self.extra = extra

    def response(self, *, instance: str | None) -> JSONResponse:
        """The error as its problem document."""
        return problem_response(
            status=self.status,
            code=self.code,
            title=self.title,
            detail=self.detail,
            instance=instance,
            headers=self.headers,
            **self.extra,
        )


def validation_response(
    errors: Iterable[Mapping[str, Any]], *, instance: str | None, detail: str | None = None
) -> JSONResponse:
    """422 VALIDATION_ERROR listing the offending fields (the detail names them by default)."""
    errors = list(errors)
    fields = field_errors(errors)
    names = ", ".join(sorted({e["field"] for e in fields}))
    if detail is None:
        detail = f"The request has invalid fields: {names}"
        for error in errors:
            if error.get("type") == "json_invalid":  # loc is ("body", <character offset>)
                where = [str(part) for part in error.get("loc", ())][1:]
                at = f" (at character {where[0]})" if where else ""
                detail = f"The request body is not valid JSON{at}."
                break
    return problem_response(
        status=422,
        code="VALIDATION_ERROR",
        title="Validation error",
        detail=detail,
        instance=instance,
        errors=fields,
    )


def field_errors(errors: Iterable[Mapping[str, Any]]) -> list[dict[str, str]]:
    """pydantic/FastAPI validation errors → `[{field, location, message, type}]`."""
    rendered = []
    for error in errors:
        location: Sequence[Any] = error.get("loc", ())
        parts = [str(part) for part in location]
        if error.get("type") == "json_invalid":  # the parser's offset is no field's name
            parts = parts[:1]
        rendered.append(
            {
                "field": ".".join(parts[1:]) or ".".join(parts) or "body",
                "location": parts[0] if parts else "body",
                "message": str(error.get("msg", "invalid value")),
                "type": str(error.get("type", "value_error")),
            }
        )
    return rendered
