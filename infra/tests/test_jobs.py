"""Jobs: idempotent by job_key, known by id while the process lives, bounded queues."""

import asyncio
from typing import Any

import httpx
import pytest

from conftest import run_job, wait_for_job
from infra_service.errors import QueueFull
from infra_service.jobs import Job, JobFailure, JobStore

SCAFFOLD = {"job_key": "task-1:scaffold", "image_url": "r.test/app@sha256:00", "app_name": "hello"}


async def test_posting_the_same_job_key_again_returns_the_same_job(
    client: httpx.AsyncClient,
) -> None:
    first = await client.post("/v1/scaffolds", json=SCAFFOLD)
    finished = await wait_for_job(client, "scaffolds", first.json()["job_id"])
    again = await client.post("/v1/scaffolds", json=SCAFFOLD)
    assert first.status_code == again.status_code == 202
    assert again.json()["job_id"] == first.json()["job_id"]
    assert again.json()["status"] == "succeeded"
    assert again.json()["result"] == finished["result"]


async def test_concurrent_posts_of_one_job_key_make_one_job(client: httpx.AsyncClient) -> None:
    body = {**SCAFFOLD, "job_key": "task-2:scaffold"}
    answers = await asyncio.gather(*(client.post("/v1/scaffolds", json=body) for _ in range(5)))
    assert len({answer.json()["job_id"] for answer in answers}) == 1


async def test_the_same_job_key_with_a_different_request_is_refused_with_409(
    client: httpx.AsyncClient,
) -> None:
    await client.post("/v1/scaffolds", json=SCAFFOLD)
    response = await client.post("/v1/scaffolds", json={**SCAFFOLD, "replicas": 5})
    assert response.status_code == 409
    assert response.json()["code"] == "JOB_KEY_CONFLICT"


async def test_a_job_reports_status_and_timestamps(client: httpx.AsyncClient) -> None:
    posted = await client.post("/v1/scaffolds", json=SCAFFOLD)
    assert posted.json()["status"] in ("queued", "running")
    job = await wait_for_job(client, "scaffolds", posted.json()["job_id"])
    assert job["status"] == "succeeded"
    assert job["error"] is None
    assert job["created_at"] <= job["started_at"] <= job["finished_at"]


async def test_an_unknown_job_id_answers_404(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/builds/build-0000")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"


async def test_a_job_id_of_another_kind_is_not_found(client: httpx.AsyncClient) -> None:
    job = await run_job(client, "scaffolds", SCAFFOLD)
    response = await client.get(f"/v1/builds/{job['job_id']}")
    assert response.status_code == 404


async def test_an_invalid_request_is_refused_with_the_fields_named(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post("/v1/scaffolds", json={"job_key": "k", "app_name": "Not_DNS"})
    assert response.status_code == 422
    fields = {error["field"] for error in response.json()["errors"]}
    assert {"image_url", "app_name"} <= fields


async def test_paths_outside_the_service_bucket_are_refused(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/v1/builds",
        json={
            "job_key": "t:build",
            "workspace_id": "ws",
            "app_name": "hello",
            "source": "s3://someone-elses-bucket/app.py",
            "artifact": "s3://sfbank-blue-functions-code-bucket/build-artifacts/t/hello.wasm",
        },
    )
    assert response.status_code == 422
    assert "someone-elses-bucket" in response.json()["detail"]


async def test_a_full_queue_refuses_new_jobs_with_503_and_keeps_known_keys() -> None:
    release = asyncio.Event()

    async def slow(job: Job) -> dict[str, Any]:
        await release.wait()
        return {}

    store = JobStore(max_queued=1)
    store.register(kind="build", runner=slow, workers=1)
    await store.start()
    try:
        running = store.submit(kind="build", request={"job_key": "a"})
        await asyncio.sleep(0.01)  # the worker takes it; the queue is empty again
        store.submit(kind="build", request={"job_key": "b"})
        with pytest.raises(QueueFull):
            store.submit(kind="build", request={"job_key": "c"})
        assert store.submit(kind="build", request={"job_key": "a"}) is running
        release.set()
    finally:
        await store.stop()


async def test_a_runner_failure_is_reported_with_its_code_and_a_crash_without_details() -> None:
    async def fails(job: Job) -> dict[str, Any]:
        if job.job_key == "own":
            raise JobFailure("BUILD_FAILED", "app.py, line 1: SyntaxError")
        raise RuntimeError("secret internal detail")

    store = JobStore(max_queued=10)
    store.register(kind="build", runner=fails, workers=1)
    await store.start()
    try:
        own = store.submit(kind="build", request={"job_key": "own"})
        crash = store.submit(kind="build", request={"job_key": "crash"})
        for _ in range(100):
            if own.finished_at and crash.finished_at:
                break
            await asyncio.sleep(0.01)
    finally:
        await store.stop()
    assert own.error == {"code": "BUILD_FAILED", "message": "app.py, line 1: SyntaxError"}
    assert crash.status == "failed"
    assert crash.error is not None and crash.error["code"] == "INTERNAL_ERROR"
    assert "secret internal detail" not in crash.error["message"]
