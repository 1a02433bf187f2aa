"""One error hierarchy for the HTTP API, rendered as `application/problem+json` (RFC 9457)."""

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"
TYPE_BASE = "https://errors.faas.dev/"


class ServiceError(Exception):
    """An error a client can act on; carries its HTTP status and a stable code."""

    status: int = 400
    code: str = "BAD_REQUEST"
    title: str = "Bad request"

    def __init__(self, detail: str, *, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.headers = headers or {}


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


class ArtifactNotFound(ServiceError):
    status, code, title = 404, "ARTIFACT_NOT_FOUND", "Artifact not found"


class ArtifactCorrupt(ServiceError):
    status, code, title = 409, "ARTIFACT_CORRUPT", "Artifact does not match its digest"


class DependencyFailed(ServiceError):
    """A call the service made failed (cluster, S3, sandbox); `code` is that failure's own."""

    status, title = 503, "Dependency failed"

    def __init__(self, code: str, detail: str, *, status: int = 503) -> None:
        super().__init__(detail, headers={"Retry-After": "5"} if status == 503 else None)
        self.code, self.status = code, status


def problem(
    *, status: int, code: str, title: str, detail: str, instance: str, **extra: Any
) -> dict[str, Any]:
    body = {
        "type": TYPE_BASE + code.lower().replace("_", "-"),
        "title": title,
        "status": status,
        "detail": detail,
        "code": code,
        "instance": instance,
    }
    return body | extra


def install_error_handlers(app: FastAPI) -> None:
    """Render every error as problem+json; nothing internal reaches the client."""

    @app.exception_handler(ServiceError)
    async def _service_error(request: Request, exc: ServiceError) -> JSONResponse:
        body = problem(
            status=exc.status,
            code=exc.code,
            title=exc.title,
            detail=exc.detail,
            instance=request.url.path,
        )
        return JSONResponse(body, exc.status, headers=exc.headers, media_type=PROBLEM_JSON)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {"field": ".".join(str(p) for p in err["loc"][1:]) or "body", "message": err["msg"]}
            for err in exc.errors()
        ]
        body = problem(
            status=422,
            code="VALIDATION_ERROR",
            title="Validation error",
            detail="The request body is not valid: "
            + "; ".join(f"{e['field']}: {e['message']}" for e in errors),
            instance=request.url.path,
            errors=errors,
        )
        return JSONResponse(body, 422, media_type=PROBLEM_JSON)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED"}.get(exc.status_code, "HTTP_ERROR")
        body = problem(
            status=exc.status_code,
            code=code,
            title=str(exc.detail),
            detail=str(exc.detail),
            instance=request.url.path,
        )
        return JSONResponse(body, exc.status_code, media_type=PROBLEM_JSON)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        body = problem(
            status=500,
            code="INTERNAL_ERROR",
            title="Internal error",
            detail="The service failed unexpectedly; the error is logged.",
            instance=request.url.path,
        )
        return JSONResponse(body, 500, media_type=PROBLEM_JSON)
