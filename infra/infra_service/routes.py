"""The HTTP API: POST a job (202), GET it by id (SPEC §4). Thin: parse, call the store, answer."""

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel

from infra_service.auth import Authenticated
from infra_service.jobs import JobStore
from infra_service.schemas import (
    BuildRequest,
    DeployRequest,
    JobView,
    PushRequest,
    ScaffoldRequest,
)


def job_store(request: Request) -> JobStore:
    return request.app.state.jobs


Jobs = Annotated[JobStore, Depends(job_store)]


def _collection(kind: str, path: str, model: type[BaseModel]) -> APIRouter:
    router = APIRouter(prefix=f"/v1/{path}", tags=[path], dependencies=[Authenticated])

    # Request bodies arrive as `model`; FastAPI validates them (422 problem+json otherwise).
    async def submit(body: model, jobs: Jobs) -> JobView:  # type: ignore[valid-type]
        job = jobs.submit(kind=kind, request=body.model_dump(mode="json"))
        return JobView.model_validate(job.view())

    async def read(job_id: str, jobs: Jobs) -> JobView:
        return JobView.model_validate(jobs.get(kind=kind, job_id=job_id).view())

    router.add_api_route(
        "",
        submit,
        methods=["POST"],
        status_code=202,
        response_model=JobView,
        summary=f"Submit a {kind} job (idempotent by job_key)",
    )
    router.add_api_route(
        "/{job_id}",
        read,
        methods=["GET"],
        response_model=JobView,
        summary=f"Read a {kind} job",
    )
    return router


routers = [
    _collection("build", "builds", BuildRequest),
    _collection("push", "pushes", PushRequest),
    _collection("scaffold", "scaffolds", ScaffoldRequest),
    _collection("deploy", "deployments", DeployRequest),
]

health = APIRouter(tags=["health"])


@health.get("/health")
async def liveness() -> dict[str, str]:
    return {"status": "healthy"}
