"""GET /v1/builds/{job_id}/log: the log from an offset while the build runs and after it."""

from pathlib import Path
from typing import Any

import httpx

from conftest import BUCKET, run_job
from infra_service.build_log import read_chunk
from infra_service.jobs import Job
from infra_service.storage import ObjectStore


async def _failed_build(client: httpx.AsyncClient, s3: Any) -> dict:
    key = "build-sources/ws-1/task-1/app.py"
    s3.put_object(Bucket=BUCKET, Key=key, Body=b"def handler(:\n    pass\n")
    body = {
        "job_key": "task-1:build", "workspace_id": "ws-1", "app_name": "hello",
        "source": f"s3://{BUCKET}/{key}",
        "artifact": f"s3://{BUCKET}/build-artifacts/task-1/hello.wasm",
        "log_path": f"s3://{BUCKET}/build-logs/task-1/build.log",
    }  # fmt: skip
    return await run_job(client, "builds", body, timeout=30)


async def test_a_finished_builds_log_reads_whole_from_any_offset_in_pieces(
    client: httpx.AsyncClient, s3: Any
) -> None:
    job = await _failed_build(client, s3)
    stored = s3.get_object(Bucket=BUCKET, Key="build-logs/task-1/build.log")["Body"].read()
    whole = (await client.get(f"/v1/builds/{job['job_id']}/log")).json()
    assert whole["text"].encode() == stored and whole["finished"] is True
    assert whole["next_offset"] == whole["size"] == len(stored)

    pieces, offset = [], 0
    while True:
        chunk = (
            await client.get(
                f"/v1/builds/{job['job_id']}/log", params={"offset": offset, "limit": 50}
            )
        ).json()
        pieces.append(chunk["text"])
        assert chunk["offset"] == offset
        offset = chunk["next_offset"]
        if chunk["finished"]:
            break
    assert "".join(pieces).encode() == stored and len(pieces) > 2
    end = (await client.get(f"/v1/builds/{job['job_id']}/log", params={"offset": offset})).json()
    assert end["text"] == "" and end["finished"] is True


async def test_the_log_route_refuses_strangers_unknown_jobs_and_bad_offsets(
    client: httpx.AsyncClient, settings: Any
) -> None:
    unknown = await client.get("/v1/builds/build-0000/log")
    assert unknown.status_code == 404 and unknown.json()["code"] == "JOB_NOT_FOUND"
    bad = await client.get("/v1/builds/build-0000/log", params={"offset": -1})
    assert bad.status_code == 422
    anonymous = await client.get("/v1/builds/build-0000/log", headers={"Authorization": ""})
    assert anonymous.status_code == 401


async def test_a_running_builds_log_is_read_from_its_file_never_cutting_a_character(
    tmp_path: Path,
) -> None:
    live = tmp_path / "build.log"
    live.write_bytes("compiling café\n".encode())
    job = Job(job_id="build-1", kind="build", job_key="k", request={}, fingerprint="f")
    job.status, job.live_log = "running", live
    objects = ObjectStore(client=None, bucket=BUCKET)
    first = await read_chunk(job=job, objects=objects, offset=0, limit=14)  # mid "é"
    assert first.text == "compiling caf" and first.next_offset == 13 and not first.finished
    rest = await read_chunk(job=job, objects=objects, offset=first.next_offset, limit=100)
    assert rest.text == "é\n" and not rest.finished  # running: more may come
    with live.open("ab") as out:
        out.write(b"linking\n")
    more = await read_chunk(job=job, objects=objects, offset=rest.next_offset, limit=100)
    assert more.text == "linking\n" and more.size == live.stat().st_size


async def test_metrics_count_jobs_by_kind_and_status(client: httpx.AsyncClient, s3: Any) -> None:
    await _failed_build(client, s3)
    text = (await client.get("/metrics")).text
    assert 'faas_infra_jobs{kind="build",status="failed"} 1.0' in text
    assert "faas_infra_job_duration_seconds_bucket" in text
