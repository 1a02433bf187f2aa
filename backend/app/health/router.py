"""Liveness and readiness."""

import asyncio
import logging
from collections.abc import Awaitable, Callable

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from app.api.deps import ContainerDep
from app.container import Container
from app.errors import problem_response
from app.storage import keys

log = logging.getLogger(__name__)
router = APIRouter(tags=["health"])

CHECK_TIMEOUT_SECONDS = 3.0


@router.get("/health")
async def health() -> dict[str, str]:
    """The process is up (liveness)."""
    return {"status": "healthy"}


async def _check_dynamodb(container: Container) -> None:
    # A GetItem on a key that never exists: a data-plane call, cheap and not rate-limited
    # like DescribeTable.
    await container.aws.dynamodb.get_item(
        TableName=container.settings.dynamodb_table,
        Key={keys.PK: {"S": "HEALTH"}, keys.SK: {"S": "CHECK"}},
    )


async def _check_s3(container: Container) -> None:
    await container.objects.ping()


async def _run(
    name: str, check: Callable[[Container], Awaitable[None]], container: Container
) -> tuple[str, str]:
    try:
        await asyncio.wait_for(check(container), CHECK_TIMEOUT_SECONDS)
    except Exception as exc:  # any failure means "not ready"; the reason stays in our logs
        log.warning("readiness: %s unavailable: %r", name, exc)
        return name, "unavailable"
    return name, "ok"


@router.get("/health/ready", responses={503: {"description": "A dependency is unavailable"}})
async def ready(container: ContainerDep) -> JSONResponse:
    """DynamoDB and S3 answer (readiness)."""
    results = dict(
        await asyncio.gather(
            _run("dynamodb", _check_dynamodb, container), _run("s3", _check_s3, container)
        )
    )
    down = sorted(name for name, state in results.items() if state != "ok")
    if down:
        return problem_response(
            status=503,
            code="DEPENDENCY_UNAVAILABLE",
            title="Service unavailable",
            detail=f"Unavailable: {', '.join(down)}",
            checks=results,
            headers={"Retry-After": "5"},
        )
    return JSONResponse({"status": "ready", "checks": results})
