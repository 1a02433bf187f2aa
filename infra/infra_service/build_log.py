"""GET /v1/builds/{job_id}/log: a build's log from a byte offset, while it runs and after.

While the build runs its log is the file in the scratch folder that the build and its child
processes append to; once it has finished, the copy the build stored at the job's `log_path`.
"""

import asyncio
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request

from contract.build_log import LOG_CHUNK_DEFAULT, LOG_CHUNK_MAX, BuildLogChunk, utf8_chunk
from contract.jobs import FINISHED
from infra_service.auth import Authenticated
from infra_service.jobs import Job
from infra_service.routes import Jobs
from infra_service.storage import ObjectStore, parse_s3_path


def object_store(request: Request) -> ObjectStore:
    objects: ObjectStore = request.app.state.objects
    return objects


ObjectsDep = Annotated[ObjectStore, Depends(object_store)]
router = APIRouter(prefix="/v1/builds", tags=["builds"], dependencies=[Authenticated])


def _read_file(path: Path, offset: int, limit: int) -> tuple[bytes, int] | None:
    try:
        with path.open("rb") as handle:
            size = handle.seek(0, 2)
            handle.seek(min(offset, size))
            return handle.read(limit), size
    except FileNotFoundError:  # the build just finished and removed its scratch folder
        return None


async def read_chunk(*, job: Job, objects: ObjectStore, offset: int, limit: int) -> BuildLogChunk:
    """The job's log bytes [offset, offset + limit), cut at a character boundary."""
    finished = job.status in FINISHED
    live = job.live_log
    read: tuple[bytes, int] | None = None
    if live is not None:
        read = await asyncio.to_thread(_read_file, live, offset, limit)
        finished = False  # still being written (or about to be stored)
    elif finished and job.log_path:
        location = parse_s3_path(job.log_path, bucket=objects.bucket, field="log_path")
        read = await objects.read_range(location, offset=offset, limit=limit)
    data, size = read or (b"", offset)
    if offset + len(data) < size or not finished:
        data = utf8_chunk(data)  # the rest of a cut character comes with the next read
    next_offset = offset + len(data)
    return BuildLogChunk(
        job_id=job.job_id,
        offset=offset,
        next_offset=next_offset,
        size=max(size, next_offset),
        text=data.decode("utf-8", errors="replace"),
        finished=finished and next_offset >= size,
    )


@router.get("/{job_id}/log", response_model=BuildLogChunk, summary="Read a build's log")
async def build_log(
    job_id: str,
    jobs: Jobs,
    objects: ObjectsDep,
    offset: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=LOG_CHUNK_MAX)] = LOG_CHUNK_DEFAULT,
) -> BuildLogChunk:
    """The log from byte `offset`; `finished` once the build is over and all was sent."""
    job = jobs.get(kind="build", job_id=job_id)
    return await read_chunk(job=job, objects=objects, offset=offset, limit=limit)
