"""Several backend processes on one table: each task driven by one at a time, none lost."""

import asyncio
from collections import Counter

from app.config import Settings
from testing.fake_infra import FakeInfraService
from tests.conftest import create_workspace, with_overrides
from tests.tasks.conftest import running_backend, upload, wait_for_task


async def test_two_replicas_complete_50_tasks_each_submitted_once(
    fast_settings: Settings, fake_infra: FakeInfraService
) -> None:
    fake_infra.succeed_after(None, polls=2)
    async with running_backend(fast_settings) as first, running_backend(fast_settings) as second:
        workspace = await create_workspace(first)
        responses = await asyncio.gather(
            *(
                upload(client, workspace["id"], app_name=f"fn-{i}")
                for i, client in enumerate([first, second] * 25)
            )
        )
        assert all(r.status_code == 202 for r in responses)
        task_ids = [r.json()["task_id"] for r in responses]
        tasks = await asyncio.gather(
            *(wait_for_task(first, task_id, timeout=90) for task_id in task_ids)
        )

    assert Counter(task["status"] for task in tasks) == {"completed": 50}
    keys = [f"{task_id}:build" for task_id in task_ids]
    assert all(fake_infra.jobs_created_per_key[key] == 1 for key in keys)
    # Nothing failed here, so no resubmission was ever needed: one POST per job.
    assert all(fake_infra.posts_per_key[key] == 1 for key in keys)
    assert max(fake_infra.max_concurrent_per_key[key] for key in keys) == 1


async def test_tasks_in_flight_when_a_backend_stops_are_finished_by_the_next_one(
    settings: Settings, fake_infra: FakeInfraService
) -> None:
    from tests.tasks.conftest import pipeline_settings

    # Short leases, so that the tasks the stopped process held are free again quickly.
    fast = pipeline_settings(settings, fake_infra.url, lease_seconds=1.0)
    fake_infra.succeed_after(None, polls=8)
    async with running_backend(fast) as before:
        workspace = await create_workspace(before)
        responses = await asyncio.gather(
            *(upload(before, workspace["id"], app_name=f"fn-{i}") for i in range(20))
        )
        task_ids = [r.json()["task_id"] for r in responses]
        await asyncio.gather(*(wait_for_task(before, t, until="job") for t in task_ids))
    # The first process is gone, its tasks mid-stage. Nothing drives them until another starts.
    async with running_backend(with_overrides(fast, pollers_enabled=False)) as reader:
        stopped = Counter(
            [(await reader.get(f"/api/v1/tasks/{t}")).json()["status"] for t in task_ids]
        )
    assert stopped["completed"] < 20

    async with running_backend(with_overrides(fast, lease_seconds=5.0)) as after:
        tasks = await asyncio.gather(*(wait_for_task(after, t, timeout=90) for t in task_ids))
    assert Counter(task["status"] for task in tasks) == {"completed": 20}
    assert all(fake_infra.jobs_created_per_key[f"{t}:build"] == 1 for t in task_ids)
