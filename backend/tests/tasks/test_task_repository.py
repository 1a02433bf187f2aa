"""The pollers' lease on a task: one driver at a time, stale writers lose."""

from collections.abc import AsyncIterator

import pytest

from app.aws import AwsClients, open_aws_clients
from app.config import Settings
from app.storage import keys
from app.storage.dynamo import to_item
from app.storage.task_steps import TaskStepRepository
from app.storage.tasks import TaskRepository
from app.storage.workspaces import WorkspaceRepository
from app.tasks import state


@pytest.fixture
async def aws(settings: Settings) -> AsyncIterator[AwsClients]:
    async with open_aws_clients(settings) as clients:
        yield clients


async def _task(
    aws: AwsClients, settings: Settings, now_ms: int
) -> tuple[TaskRepository, TaskStepRepository, dict]:
    workspaces = WorkspaceRepository(client=aws.dynamodb, table=settings.dynamodb_table)
    ws = {"id": "01hw0000000000000000000000", "name": "w", "owner": "o"}
    await workspaces.create(workspace=ws | {"created_at": "t", "updated_at": "t"})
    tasks = TaskRepository(client=aws.dynamodb, table=settings.dynamodb_table)
    steps = TaskStepRepository(client=aws.dynamodb, table=settings.dynamodb_table)
    task = {
        "task_id": "01ht0000000000000000000000",
        "workspace_id": ws["id"],
        "app_name": "hello",
        "type": "build",
        "status": "pending",
        "stage": "build",
        "stages": state.initial_stages("build"),
        "version": 0,
        "created_at": "t",
        "updated_at": "t",
    }
    await tasks.create(task=task, due_at_ms=now_ms)
    return tasks, steps, task


def _raw_key(task: dict) -> dict:
    return to_item(keys.task_key(task["workspace_id"], task["task_id"]))


async def test_a_due_task_is_found_and_claimed_by_one_poller_only(
    aws: AwsClients, settings: Settings
) -> None:
    now = 1_000_000
    _tasks, steps, task = await _task(aws, settings, now)
    due = await steps.due(shard=keys.due_shard(task["task_id"]), now_ms=now, limit=10)
    assert due == [_raw_key(task)]
    first = await steps.claim(raw_key=due[0], now_ms=now, lease_ms=30_000, owner="a")
    second = await steps.claim(raw_key=due[0], now_ms=now + 1, lease_ms=30_000, owner="b")
    assert first is not None and first["lease_owner"] == "a"
    assert second is None
    assert await steps.due(shard=keys.due_shard(task["task_id"]), now_ms=now + 1, limit=10) == []


async def test_a_stale_driver_cannot_write_after_another_took_over(
    aws: AwsClients, settings: Settings
) -> None:
    now = 1_000_000
    tasks, steps, task = await _task(aws, settings, now)
    stale = await steps.claim(raw_key=_raw_key(task), now_ms=now, lease_ms=1_000, owner="a")
    # The lease runs out (a paused or dead process); another replica takes the task over.
    fresh = await steps.claim(raw_key=_raw_key(task), now_ms=now + 2_000, lease_ms=1_000, owner="b")
    assert fresh is not None
    lost = await steps.save_step(
        task=stale, changes={"status": "failed"}, owner="a", next_due_ms=None
    )
    assert lost is None
    won = await steps.save_step(
        task=fresh, changes={"status": "running"}, owner="b", next_due_ms=now + 5_000
    )
    assert won is not None and won["status"] == "running" and won["version"] == 1
    stored = await tasks.get_consistent(workspace_id=task["workspace_id"], task_id=task["task_id"])
    assert stored["status"] == "running" and stored["version"] == 1


async def test_a_finished_task_leaves_the_due_index_and_cannot_be_moved(
    aws: AwsClients, settings: Settings
) -> None:
    now = 1_000_000
    _tasks, steps, task = await _task(aws, settings, now)
    claimed = await steps.claim(raw_key=_raw_key(task), now_ms=now, lease_ms=1_000, owner="a")
    done = await steps.save_step(
        task=claimed, changes={"status": "completed"}, owner="a", next_due_ms=None
    )
    assert done["status"] == "completed"
    assert await steps.due(shard=keys.due_shard(task["task_id"]), now_ms=now * 10, limit=10) == []
    assert await steps.claim(raw_key=_raw_key(task), now_ms=now * 10, lease_ms=1, owner="b") is None
