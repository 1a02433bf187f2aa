"""The sweeper removes what interrupted uploads left, and nothing that is still needed."""

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager

from app.config import Settings
from app.container import Container
from app.main import create_app
from app.maintenance.sweeper import Sweeper
from deploy_tests.support import load_template
from tests.conftest import create_workspace, with_overrides
from tests.tasks.conftest import HELLO

KEY = "build-sources/ws-gone/01TASKGONE000000000000000/app.py"


@pytest.fixture
async def stack(settings: Settings) -> AsyncIterator[tuple[httpx.AsyncClient, Container]]:
    app = create_app(with_overrides(settings, sweeper_enabled=False))
    async with (
        LifespanManager(app) as manager,
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=manager.app), base_url="http://testserver"
        ) as http,
    ):
        yield http, app.state.container


def sweeper(container: Container, grace: float) -> Sweeper:
    return Sweeper(
        objects=container.objects, tasks=container.tasks, grace_seconds=grace, interval_seconds=1
    )


async def _keys(s3: Any, bucket: str) -> set[str]:
    listed = await s3.list_objects_v2(Bucket=bucket)
    return {obj["Key"] for obj in listed.get("Contents", [])}


async def _uploads(s3: Any, bucket: str) -> list[str]:
    listed = await s3.list_multipart_uploads(Bucket=bucket)
    return [upload["Key"] for upload in listed.get("Uploads", [])]


async def test_an_orphaned_source_and_an_unfinished_upload_are_removed_once_old_enough(
    stack: tuple[httpx.AsyncClient, Container],
) -> None:
    client, container = stack
    s3, bucket = container.aws.s3, container.settings.s3_bucket
    workspace = await create_workspace(client)
    kept = await client.post(
        "/api/v1/build",
        data={"workspace_id": workspace["id"], "app_name": "hello"},
        files={"file": ("app.py", HELLO)},
    )
    assert kept.status_code == 202
    kept_key = kept.json()["result"]["source_code_path"].split("/", 3)[3]
    await s3.put_object(Bucket=bucket, Key=KEY, Body=b"x = 1\n")
    unfinished = f"build-sources/{workspace['id']}/01TASKHALF000000000000000/app.py"
    started = await s3.create_multipart_upload(Bucket=bucket, Key=unfinished)
    # A part, as the backend sends one right away (moto dates every upload's start 2010).
    await s3.upload_part(
        Bucket=bucket, Key=unfinished, UploadId=started["UploadId"], PartNumber=1, Body=b"x" * 64
    )
    await s3.put_object(Bucket=bucket, Key="build-artifacts/t/app.wasm", Body=b"\0asm")
    await s3.put_object(Bucket=bucket, Key="build-sources/odd-key", Body=b"?")

    # Young: an upload in progress or a task about to be written. Left alone.
    young = await sweeper(container, grace=3600).sweep()
    assert (young.aborted_uploads, young.removed_sources) == (0, 0)
    assert KEY in await _keys(s3, bucket) and await _uploads(s3, bucket) == [unfinished]

    report = await sweeper(container, grace=0).sweep()
    assert (report.aborted_uploads, report.removed_sources) == (1, 2)
    assert await _keys(s3, bucket) == {kept_key, "build-artifacts/t/app.wasm"}
    assert await _uploads(s3, bucket) == []
    task = await client.get(f"/api/v1/tasks/{kept.json()['task_id']}")
    assert task.status_code == 200  # the task and its source are untouched


async def test_a_second_sweep_finds_nothing_more(
    stack: tuple[httpx.AsyncClient, Container],
) -> None:
    _, container = stack
    await container.aws.s3.put_object(Bucket=container.settings.s3_bucket, Key=KEY, Body=b"x")
    once = sweeper(container, grace=0)
    assert (await once.sweep()).removed_sources == 1
    again = await once.sweep()
    assert (again.aborted_uploads, again.removed_sources) == (0, 0)


async def test_the_lifespan_sweeps_on_start_up(settings: Settings) -> None:
    earlier = create_app(with_overrides(settings, sweeper_enabled=False))
    async with LifespanManager(earlier):  # a process that left an orphan behind
        await earlier.state.container.aws.s3.put_object(
            Bucket=settings.s3_bucket, Key=KEY, Body=b"x = 1\n"
        )
    later = create_app(with_overrides(settings, sweep_grace_seconds=0))
    async with LifespanManager(later):
        s3 = later.state.container.aws.s3
        deadline = time.monotonic() + 20
        while KEY in await _keys(s3, settings.s3_bucket):
            assert time.monotonic() < deadline, "the start-up sweep did not remove the orphan"
            await asyncio.sleep(0.05)


def test_the_bucket_lifecycle_aborts_unfinished_uploads_everywhere() -> None:
    bucket = load_template()["Resources"]["Bucket"]["Properties"]
    rules = bucket["LifecycleConfiguration"]["Rules"]
    aborts = [rule for rule in rules if "AbortIncompleteMultipartUpload" in rule]
    assert aborts, "the second net: S3 itself aborts unfinished uploads"
    (rule,) = aborts
    assert rule["Status"] == "Enabled"
    assert not rule.get("Prefix") and not rule.get("Filter", {}).get("Prefix")  # whole bucket
    assert rule["AbortIncompleteMultipartUpload"]["DaysAfterInitiation"] <= 7
