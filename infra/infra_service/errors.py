"""One error hierarchy for the HTTP API, rendered as `application/problem+json` (RFC 9457)."""

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from contract.problems import (
    PROBLEM_JSON,
    ProblemError,
    field_errors,
    problem_body,
    problem_response,
    validation_response,
)

__all__ = ["PROBLEM_JSON", "ServiceError", "install_error_handlers", "problem"]

log = logging.getLogger(__name__)


class ServiceError(ProblemError):
    """An error a client can act on; carries its HTTP status and a stable code."""


class Unauthorized(ServiceError):
    status, code, title = 401, "UNAUTHORIZED", "Unauthorized"

    def __init__(self, detail: str) -> None:
        super().__init__(detail, headers={"WWW-Authenticate": 'Bearer realm="faas-infra"'})


class JobNotFound(ServiceError):
    status, code, title = 404, "JOB_NOT_FOUND", "Job not found"


class JobKeyConflict(ServiceError):
    status, code, title = 409, "JOB_KEY_CONFLICT", "Job key already used"


class InvalidRequest(ServiceError):
    status, code, title = 422, "VALIDATION_ERROR", "Validation error"


class QueueFull(ServiceError):
    status, code, title = 503, "QUEUE_FULL", "Too many queued jobs"

    def __init__(self, detail: str) -> None:
        super().__init__(detail, headers={"Retry-After": "5"})


class DeploymentNotFound(ServiceError):
    status, code, title = 404, "DEPLOYMENT_NOT_FOUND", "Deployment not found"


class NamespaceNotManaged(ServiceError):
    status, code, title = 409, "NAMESPACE_NOT_MANAGED", "Namespace not managed by the platform"


class ArtifactNotFound(ServiceError):
    status, code, title = 404, "ARTIFACT_NOT_FOUND", "Artifact not found"


class ArtifactCorrupt(ServiceError):
    status, code, title = 409, "ARTIFACT_CORRUPT", "Artifact does not match its digest"


class DependencyFailed(ServiceError):
    """A call the service made failed (cluster, S3, sandbox); `code` is that failure's own."""

    status, title = 503, "Dependency failed"

    def __init__(self, code: str, detail: str, *, status: int = 503) -> None:
        headers = {"Retry-After": "5"} if status == 503 else None
        super().__init__(detail, code=code, status=status, headers=headers)


def problem(
    *, status: int, code: str, title: str, detail: str, instance: str, **extra: Any
) -> dict[str, Any]:
    """A problem document as a dict (contract.problems), for answers built by hand."""
    return problem_body(
        status=status, code=code, title=title, detail=detail, instance=instance, **extra
    )


def install_error_handlers(app: FastAPI) -> None:
    """Render every error as problem+json (contract.problems); nothing internal leaks."""

    @app.exception_handler(ServiceError)
    async def _service_error(request: Request, exc: ServiceError) -> JSONResponse:
        return exc.response(instance=request.url.path)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        messages = "; ".join(f"{e['field']}: {e['message']}" for e in field_errors(exc.errors()))
        detail = f"The request body is not valid: {messages}"
        return validation_response(exc.errors(), instance=request.url.path, detail=detail)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED"}.get(exc.status_code, "HTTP_ERROR")
        return problem_response(
            status=exc.status_code,
            code=code,
            title=str(exc.detail),
            detail=str(exc.detail),
            instance=request.url.path,
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return problem_response(
            status=500,
            code="INTERNAL_ERROR",
            title="Internal error",
            detail="The service failed unexpectedly; the error is logged.",
            instance=request.url.path,
        )
