"""One error hierarchy, rendered by one handler as `application/problem+json` (RFC 9457).

The renderer is the contract's (`contract.problems`), shared with the infrastructure service.
AWS storage errors become domain errors in one place: `storage_error`.
"""

import logging
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from app.aws import cancellation_reasons, error_code
from contract.problems import (
    PROBLEM_JSON,
    TYPE_BASE,
    ProblemError,
    problem_response,
    validation_response,
)

__all__ = [
    "PROBLEM_JSON",
    "TYPE_BASE",
    "DomainError",
    "install_error_handlers",
    "problem_response",
    "storage_error",
]

log = logging.getLogger(__name__)


class DomainError(ProblemError):
    """An error a client can act on; carries its HTTP status and a stable code."""


class Unauthorized(DomainError):
    status, code, title = 401, "UNAUTHORIZED", "Unauthorized"

    def __init__(self, detail: str, **kwargs: Any) -> None:
        super().__init__(detail, **kwargs)
        self.headers.setdefault("WWW-Authenticate", 'Bearer realm="faas"')


class Forbidden(DomainError):
    status, code, title = 403, "FORBIDDEN", "Forbidden"


class NotFound(DomainError):
    status, code, title = 404, "NOT_FOUND", "Not found"


class Conflict(DomainError):
    status, code, title = 409, "CONFLICT", "Conflict"


class Gone(DomainError):
    status, code, title = 410, "GONE", "Gone"


class InvalidInput(DomainError):
    status, code, title = 400, "INVALID_INPUT", "Invalid input"


class Unprocessable(DomainError):
    status, code, title = 422, "VALIDATION_ERROR", "Validation error"


class PayloadTooLarge(DomainError):
    status, code, title = 413, "PAYLOAD_TOO_LARGE", "Payload too large"


class UnsupportedFileType(DomainError):
    status, code, title = 415, "UNSUPPORTED_FILE_TYPE", "Unsupported file type"


class TooManyRequests(DomainError):
    status, code, title = 429, "TOO_MANY_REQUESTS", "Too many requests"


class ServiceUnavailable(DomainError):
    status, code, title = 503, "SERVICE_UNAVAILABLE", "Service unavailable"

    def __init__(self, detail: str, *, retry_after: int = 5, **kwargs: Any) -> None:
        super().__init__(detail, **kwargs)
        self.headers.setdefault("Retry-After", str(retry_after))


class BadGateway(DomainError):
    """Something we called on the user's behalf failed (the function, or a service)."""

    status, code, title = 502, "BAD_GATEWAY", "Bad gateway"


class GatewayTimeout(DomainError):
    status, code, title = 504, "GATEWAY_TIMEOUT", "Gateway timeout"


class InternalError(DomainError):
    status, code, title = 500, "INTERNAL_ERROR", "Internal server error"


class StorageUnavailable(ServiceUnavailable):
    code = "STORAGE_UNAVAILABLE"


def storage_error(
    exc: ClientError | BotoCoreError, *, on_condition: DomainError | None = None
) -> DomainError:
    """The one translation of an AWS storage error into what the client is told.

    A failed condition (of a single write, or of any item of a transaction) is the caller's
    domain error (404/409), when it names one. DynamoDB's
    `ValidationException` means we sent a request it cannot take — a bug in our code, logged
    as one and answered 500. Anything else is an outage: 503, retry later.
    """
    code, reasons = error_code(exc), cancellation_reasons(exc)
    failed_condition = code == "ConditionalCheckFailedException" or (
        code == "TransactionCanceledException" and "ConditionalCheckFailed" in reasons
    )
    if failed_condition and on_condition is not None:
        return on_condition
    if code == "ValidationException" or "ValidationError" in reasons:
        log.error(
            "BUG: DynamoDB answered ValidationException (a request we built is invalid): %s", exc
        )
        return InternalError("An unexpected error occurred; it has been logged.")
    log.warning("storage error: %r", exc)
    return StorageUnavailable("Storage is unavailable right now; retry shortly.")


_STATUS_CODES = {
    400: ("BAD_REQUEST", "Bad request"),
    401: ("UNAUTHORIZED", "Unauthorized"),
    403: ("FORBIDDEN", "Forbidden"),
    404: ("NOT_FOUND", "Not found"),
    405: ("METHOD_NOT_ALLOWED", "Method not allowed"),
    413: ("PAYLOAD_TOO_LARGE", "Payload too large"),
    415: ("UNSUPPORTED_FILE_TYPE", "Unsupported media type"),
}


_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def _allowed_methods(request: Request) -> list[str]:
    """Every method some route serves on this path.

    Asked of the router itself, one method at a time: FastAPI nests included routers, so the
    route list has no flat `methods` to read (and Starlette names only the first route's).
    """
    allowed = []
    for method in _METHODS:
        scope = {"type": "http", "path": request.url.path, "method": method, "root_path": ""}
        if any(route.matches(dict(scope))[0] is Match.FULL for route in request.app.router.routes):
            allowed.append(method)
    return allowed


def install_error_handlers(app: FastAPI) -> None:
    """Render every error the app can raise as problem+json."""

    @app.exception_handler(DomainError)
    async def _domain(request: Request, exc: DomainError) -> JSONResponse:
        return exc.response(instance=request.url.path)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        return validation_response(exc.errors(), instance=request.url.path)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code, title = _STATUS_CODES.get(exc.status_code, ("HTTP_ERROR", "HTTP error"))
        headers = dict(getattr(exc, "headers", None) or {})
        if exc.status_code == 405:
            headers["Allow"] = ", ".join(_allowed_methods(request))
        return problem_response(
            status=exc.status_code,
            code=code,
            title=title,
            detail=str(exc.detail),
            instance=request.url.path,
            headers=headers,
        )

    @app.exception_handler(BotoCoreError)
    @app.exception_handler(ClientError)
    async def _storage(request: Request, exc: Exception) -> JSONResponse:
        # AWS texts stay in our logs; the client learns only what storage_error decided.
        assert isinstance(exc, ClientError | BotoCoreError)
        log.info("storage error on %s %s", request.method, request.url.path)
        return await _domain(request, storage_error(exc))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return problem_response(
            status=500,
            code="INTERNAL_ERROR",
            title="Internal server error",
            detail="An unexpected error occurred; it has been logged.",
            instance=request.url.path,
        )
