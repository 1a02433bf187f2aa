"""Two backend replicas on one table: a task driven by one is watched live on the other, and a
stream dropped on one resumes on the other without a loss or a repeat."""

import asyncio

import httpx

from app.config import Settings
from app.main import create_app
from testing.fake_infra import FakeInfraService
from testing.live_server import serving
from tests.conftest import with_overrides
from tests.events.conftest import Event, Reader, build_job_key, start_build


def _lines(events: list[Event]) -> list[tuple[str, str]]:
    logs = [event.json() for event in events if event.event == "log"]
    return [(entry["source"], entry["message"]) for entry in logs]


async def test_a_task_driven_by_one_replica_streams_from_another_and_resumes_across(
    live_settings: Settings, infra: FakeInfraService
) -> None:
    infra.succeed_after("build", polls=20)
    watcher_only = with_overrides(live_settings, pollers_enabled=False, sweeper_enabled=False)
    with serving(create_app(live_settings)) as driver, serving(create_app(watcher_only)) as other:
        async with (
            httpx.AsyncClient(base_url=driver, timeout=20) as a,
            httpx.AsyncClient(base_url=other, timeout=20) as b,
        ):
            task = await start_build(a)
            path = f"/api/v1/tasks/{task['task_id']}/events"

            async def everything(client: httpx.AsyncClient) -> list[Event]:
                async with client.stream("GET", path) as response:
                    return await Reader(response).all()

            reference = asyncio.create_task(everything(b))  # on the replica that does not drive
            job_key = await build_job_key(infra)
            seen: list[Event] = []
            async with a.stream("GET", path) as response:
                reader = Reader(response)
                for n in range(3):
                    infra.append_build_log(job_key, f"first {n}\n")
                while len([line for line in _lines(seen) if line[0] == "build"]) < 3:
                    event = await reader.next()
                    assert event is not None
                    seen.append(event)
            for n in range(3):  # written while the client is away
                infra.append_build_log(job_key, f"then {n}\n")
                await asyncio.sleep(0.05)
            last = seen[-1].id or ""
            async with b.stream("GET", path, headers={"Last-Event-ID": last}) as response:
                seen += await Reader(response).all()
            full = await reference

    assert seen[-1].event == "end" and full[-1].event == "end"
    assert full[-1].json()["status"] == "completed"
    assert _lines(seen) == _lines(full)  # every pipeline event and build line, once, in order
    assert [line for source, line in _lines(full) if source == "build"] == [
        *(f"first {n}" for n in range(3)),
        *(f"then {n}" for n in range(3)),
    ]
