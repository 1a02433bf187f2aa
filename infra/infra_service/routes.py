"""The HTTP API: POST a job (202), GET it by id (docs/contract.md). Thin: parse, call the store.

The four collections are built from the contract's own tables (contract.jobs): the request
model of each stage, its collection path and its typed job view.
"""

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request

from contract.jobs import COLLECTIONS, REQUESTS, STAGE_NAMES, VIEWS, JobRequest, StageName
from infra_service.auth import Authenticated
from infra_service.jobs import JobStore


def job_store(request: Request) -> JobStore:
    store: JobStore = request.app.state.jobs
    return store


Jobs = Annotated[JobStore, Depends(job_store)]


def _collection(stage: StageName) -> APIRouter:
    path, model, view = COLLECTIONS[stage], REQUESTS[stage], VIEWS[stage]
    router = APIRouter(prefix=f"/v1/{path}", tags=[path], dependencies=[Authenticated])

    # Request bodies arrive as `model`; FastAPI validates them (422 problem+json otherwise).
    async def submit(body: model, jobs: Jobs) -> Any:  # type: ignore[valid-type]
        request: JobRequest = body
        job = jobs.submit(kind=stage, request=request.model_dump(mode="json"))
        return view.model_validate(job.view())

    async def read(job_id: str, jobs: Jobs) -> Any:
        return view.model_validate(jobs.get(kind=stage, job_id=job_id).view())

    router.add_api_route(
        "",
        submit,
        methods=["POST"],
        status_code=202,
        response_model=view,
        summary=f"Submit a {stage} job (idempotent by job_key: a known key answers its job)",
    )
    router.add_api_route(
        "/{job_id}",
        read,
        methods=["GET"],
        response_model=view,
        summary=f"Read a {stage} job",
    )
    return router


routers = [_collection(stage) for stage in STAGE_NAMES]

health = APIRouter(tags=["health"])


@health.get("/health")
async def liveness() -> dict[str, str]:
    return {"status": "healthy"}
