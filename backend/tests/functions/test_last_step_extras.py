"""A task's last step carries its function's follow and revision in the same transaction;
a part whose condition fails is left out, never the task's own write."""

from collections.abc import AsyncIterator

import pytest

from app.aws import AwsClients, open_aws_clients
from app.clock import Moment
from app.config import Settings
from app.storage import keys
from app.storage.dynamo import to_item
from app.storage.tasks import TaskRepository
from app.storage.workspaces import WorkspaceRepository
from app.tasks import lifecycle
from app.tasks.models import Task, TaskOptions
from app.workspaces.models import WorkspaceRecord

WORKSPACE_ID, TASK_ID = "01hw0000000000000000000001", "01ht0000000000000000000001"
KEY = keys.TaskKey(WORKSPACE_ID, TASK_ID)


@pytest.fixture
async def aws(settings: Settings) -> AsyncIterator[AwsClients]:
    async with open_aws_clients(settings) as clients:
        yield clients


async def _claimed(aws: AwsClients, settings: Settings) -> tuple[TaskRepository, Task]:
    workspaces = WorkspaceRepository(client=aws.dynamodb, table=settings.dynamodb_table)
    await workspaces.create(
        workspace=WorkspaceRecord(
            id=WORKSPACE_ID, name="w", owner="o", created_at="t", updated_at="t"
        )
    )
    tasks = TaskRepository(client=aws.dynamodb, table=settings.dynamodb_table)
    task = lifecycle.new_task(
        task_id=TASK_ID, task_type="deploy", workspace_id=WORKSPACE_ID, app_name="hello",
        function_id=None, options=TaskOptions(), now=Moment(iso="t", ms=0), manifest="m",
    )  # fmt: skip
    # No limits: the workspace has no active-task count to lower (an older workspace).
    await tasks.create(task=task, due_at_ms=0)
    claimed = await tasks.claim(key=KEY, now_ms=1, lease_ms=30_000, owner="a")
    assert claimed is not None
    return tasks, claimed


def _put(settings: Settings, sk: str, *, must_exist: bool = False) -> dict[str, object]:
    item = to_item({keys.PK: keys.workspace_pk(WORKSPACE_ID), keys.SK: sk, "Type": "Probe"})
    condition = "attribute_exists(PK)" if must_exist else "attribute_not_exists(PK)"
    put = {"TableName": settings.dynamodb_table, "Item": item, "ConditionExpression": condition}
    return {"Put": put}


async def _exists(aws: AwsClients, settings: Settings, sk: str) -> bool:
    key = to_item({keys.PK: keys.workspace_pk(WORKSPACE_ID), keys.SK: sk})
    answer = await aws.dynamodb.get_item(TableName=settings.dynamodb_table, Key=key)
    return "Item" in answer


async def test_extras_are_written_with_the_last_step_even_without_a_task_count(
    aws: AwsClients, settings: Settings
) -> None:
    tasks, claimed = await _claimed(aws, settings)
    done = claimed.model_copy(update={"status": "completed"})
    stored, written = await tasks.save_last_step(
        before=claimed, after=done, events=(), owner="a", next_due_ms=None,
        extras=[_put(settings, "PROBE#1")],
    )  # fmt: skip
    assert stored is not None and stored.status == "completed" and written
    assert await _exists(aws, settings, "PROBE#1")


async def test_extras_whose_condition_fails_are_left_out_and_the_task_still_finishes(
    aws: AwsClients, settings: Settings
) -> None:
    tasks, claimed = await _claimed(aws, settings)
    done = claimed.model_copy(update={"status": "completed"})
    stored, written = await tasks.save_last_step(
        before=claimed, after=done, events=(), owner="a", next_due_ms=None,
        extras=[_put(settings, "PROBE#2", must_exist=True)],
    )  # fmt: skip
    assert stored is not None and not written
    assert not await _exists(aws, settings, "PROBE#2")
    again = await tasks.get_consistent(workspace_id=WORKSPACE_ID, task_id=TASK_ID)
    assert again is not None and again.status == "completed"


async def test_a_lost_lease_writes_neither_the_step_nor_the_extras(
    aws: AwsClients, settings: Settings
) -> None:
    tasks, claimed = await _claimed(aws, settings)
    done = claimed.model_copy(update={"status": "completed"})
    stored, written = await tasks.save_last_step(
        before=claimed, after=done, events=(), owner="someone-else", next_due_ms=None,
        extras=[_put(settings, "PROBE#3")],
    )  # fmt: skip
    assert stored is None and not written
    assert not await _exists(aws, settings, "PROBE#3")
