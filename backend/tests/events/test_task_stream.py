"""GET /api/v1/tasks/{id}/events against the running backend: order, resume, the end."""

import asyncio
import itertools

import boto3
import httpx

from app.config import Settings
from testing.fake_infra import FakeInfraService
from tests.events.conftest import Event, Reader, build_job_key, start_build

ORDER = {"pending": 0, "running": 1, "completed": 2, "failed": 2}


def _parts(event_id: str) -> tuple[int, ...]:
    return tuple(int(part) for part in event_id.split("."))


def _messages(events: list[Event], source: str) -> list[str]:
    return [
        e.json()["message"] for e in events if e.event == "log" and e.json()["source"] == source
    ]


async def _write_log_while_running(infra: FakeInfraService, lines: list[str]) -> str:
    """Once the build job exists, append `lines` to its log one by one; returns its key."""
    job_key = await build_job_key(infra)
    for line in lines:
        infra.append_build_log(job_key, line + "\n")
        await asyncio.sleep(0.03)
    return job_key


async def test_events_arrive_in_order_through_to_the_end(
    live: httpx.AsyncClient, infra: FakeInfraService
) -> None:
    infra.succeed_after("build", polls=15)
    task = await start_build(live)
    lines = [f"step {n}: compiling" for n in range(10)]
    async with live.stream("GET", f"/api/v1/tasks/{task['task_id']}/events") as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        writer = asyncio.create_task(_write_log_while_running(infra, lines))
        events = await Reader(response).all()
        await writer

    first, last = events[0], events[-1]
    assert first.event == "task" and first.json()["task_id"] == task["task_id"]
    assert last.event == "end" and last.json()["status"] == "completed"
    statuses = [ORDER[e.json()["status"]] for e in events if e.event == "task"]
    assert statuses == sorted(statuses) and statuses[-1] == ORDER["completed"]
    build_lines = [
        e.json()["message"] for e in events if e.event == "log" and e.json()["source"] == "build"
    ]
    assert build_lines == lines
    pipeline = [
        e.json()["message"] for e in events if e.event == "log" and e.json()["source"] == "pipeline"
    ]
    assert pipeline[0] == "build task created" and "task completed" in pipeline
    ids = [_parts(e.id) for e in events if e.id]
    for before, after in itertools.pairwise(ids):
        assert all(b <= a for b, a in zip(before, after, strict=True)), (before, after)
    # The stored document matches the final event.
    stored = (await live.get(f"/api/v1/tasks/{task['task_id']}")).json()
    assert stored["status"] == last.json()["status"] and stored["stages"] == last.json()["stages"]


async def test_resume_with_last_event_id_after_a_drop_gives_every_event_once(
    live: httpx.AsyncClient, infra: FakeInfraService
) -> None:
    infra.succeed_after("build", polls=15)
    task = await start_build(live)
    path = f"/api/v1/tasks/{task['task_id']}/events"
    lines = [f"line {n}" for n in range(12)]

    async def everything() -> list[Event]:
        async with live.stream("GET", path) as response:
            return await Reader(response).all()

    reference = asyncio.create_task(everything())
    writer = asyncio.create_task(_write_log_while_running(infra, lines))
    seen: list[Event] = []
    async with live.stream("GET", path) as response:  # dropped after a few log lines
        reader = Reader(response)
        while len([e for e in seen if e.event == "log" and e.json()["source"] == "build"]) < 4:
            event = await reader.next()
            assert event is not None
            seen.append(event)
    await asyncio.sleep(0.3)  # events go by while the client is away
    async with live.stream("GET", path, headers={"Last-Event-ID": seen[-1].id or ""}) as response:
        seen += await Reader(response).all()
    await writer
    full = await reference

    # Every pipeline event and build line exactly once, in order, as an unbroken stream has them
    # (`task` frames are state: each connection starts with the task as it is then).
    assert [e.data for e in seen if e.event == "log"] == [e.data for e in full if e.event == "log"]
    assert _messages(seen, "build") == lines
    assert seen[-1].event == "end" and seen[-1].data == full[-1].data
    ids = [_parts(e.id) for e in seen if e.id]
    assert all(
        b <= a
        for before, after in itertools.pairwise(ids)
        for b, a in zip(before, after, strict=True)
    )


async def test_a_finished_task_streams_its_state_and_log_and_closes(
    live: httpx.AsyncClient, infra: FakeInfraService
) -> None:
    infra.instant("build")
    task = await start_build(live)
    for _ in range(100):
        if (await live.get(f"/api/v1/tasks/{task['task_id']}")).json()["status"] == "completed":
            break
        await asyncio.sleep(0.05)
    async with live.stream("GET", f"/api/v1/tasks/{task['task_id']}/events") as response:
        events = await Reader(response).all()
    assert events[0].event == "task" and events[-1].event == "end"
    assert events[0].json()["status"] == "completed"
    # Resuming from the end sends nothing again but the end.
    async with live.stream(
        "GET", f"/api/v1/tasks/{task['task_id']}/events", params={"last_event_id": events[-2].id}
    ) as response:
        again = await Reader(response).all()
    assert [e.event for e in again] == ["end"]


async def test_unknown_task_and_bad_last_event_id_are_problems_before_the_stream(
    live: httpx.AsyncClient,
) -> None:
    missing = await live.get("/api/v1/tasks/01jnotatask00000000000000a/events")
    assert missing.status_code == 404
    assert missing.headers["content-type"].startswith("application/problem+json")
    task = await start_build(live)
    bad = await live.get(
        f"/api/v1/tasks/{task['task_id']}/events", headers={"Last-Event-ID": "nonsense"}
    )
    assert bad.status_code == 400 and bad.json()["code"] == "INVALID_LAST_EVENT_ID"


async def test_a_finished_task_whose_build_service_is_gone_ends_with_the_stored_log(
    live: httpx.AsyncClient, infra: FakeInfraService, live_settings: Settings
) -> None:
    infra.instant("build")
    task = await start_build(live)
    for _ in range(100):
        if (await live.get(f"/api/v1/tasks/{task['task_id']}")).json()["status"] == "completed":
            break
        await asyncio.sleep(0.05)
    stored = (await live.get(f"/api/v1/tasks/{task['task_id']}")).json()
    log_key = f"build-logs/{task['task_id']}:build/build.log"  # where the fake says it is
    s3 = boto3.client(
        "s3", endpoint_url=live_settings.aws_endpoint_url, region_name="us-east-1",
        aws_access_key_id="testing", aws_secret_access_key="testing",
    )  # fmt: skip
    s3.put_object(Bucket=live_settings.s3_bucket, Key=log_key, Body=b"stored line 1\nstored 2\n")
    infra.down()  # the log can only come from S3 now
    async with asyncio.timeout(20):
        async with live.stream("GET", f"/api/v1/tasks/{task['task_id']}/events") as response:
            events = await Reader(response).all()
    assert stored["status"] == "completed" and events[-1].event == "end"
    assert _messages(events, "build") == ["stored line 1", "stored 2"]
