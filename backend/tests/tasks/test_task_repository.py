"""The task repository: the pollers' lease (one driver at a time, stale writers lose) and the
rule that nothing is stored which the reader would refuse."""

from collections.abc import AsyncIterator

import pytest

from app.aws import AwsClients, open_aws_clients
from app.clock import Moment
from app.config import Settings
from app.errors import PayloadTooLarge, Unprocessable
from app.storage import keys
from app.storage.tasks import TaskRepository
from app.storage.workspaces import WorkspaceRepository
from app.tasks import lifecycle
from app.tasks.models import Task, TaskEvent, TaskOptions
from app.workspaces.models import WorkspaceRecord

WORKSPACE_ID, TASK_ID = "01hw0000000000000000000000", "01ht0000000000000000000000"


@pytest.fixture
async def aws(settings: Settings) -> AsyncIterator[AwsClients]:
    async with open_aws_clients(settings) as clients:
        yield clients


def _new(task_id: str = TASK_ID) -> Task:
    return lifecycle.new_task(
        task_id=task_id, task_type="build", workspace_id=WORKSPACE_ID, app_name="hello",
        function_id=None, options=TaskOptions(), now=Moment(iso="t", ms=0),
        source_code_path="s3://b/build-sources/w/t/app.py",
    )  # fmt: skip


KEY = keys.TaskKey(WORKSPACE_ID, TASK_ID)


async def _task(aws: AwsClients, settings: Settings, now_ms: int) -> tuple[TaskRepository, Task]:
    workspaces = WorkspaceRepository(client=aws.dynamodb, table=settings.dynamodb_table)
    await workspaces.create(
        workspace=WorkspaceRecord(
            id=WORKSPACE_ID, name="w", owner="o", created_at="t", updated_at="t"
        )
    )
    tasks = TaskRepository(client=aws.dynamodb, table=settings.dynamodb_table)
    task = _new()
    await tasks.create(task=task, due_at_ms=now_ms)
    return tasks, task


def _running(task: Task) -> Task:
    return task.model_copy(update={"status": "running"})


async def test_a_due_task_is_found_and_claimed_by_one_poller_only(
    aws: AwsClients, settings: Settings
) -> None:
    now = 1_000_000
    tasks, task = await _task(aws, settings, now)
    due = await tasks.due(shard=keys.due_shard(task.task_id), now_ms=now, limit=10)
    assert due == [KEY]
    first = await tasks.claim(key=due[0], now_ms=now, lease_ms=30_000, owner="a")
    second = await tasks.claim(key=due[0], now_ms=now + 1, lease_ms=30_000, owner="b")
    assert first == task
    assert second is None
    assert await tasks.due(shard=keys.due_shard(task.task_id), now_ms=now + 1, limit=10) == []


async def test_a_stale_driver_cannot_write_after_another_took_over(
    aws: AwsClients, settings: Settings
) -> None:
    tasks, _ = await _task(aws, settings, now := 1_000_000)
    stale = await tasks.claim(key=KEY, now_ms=now, lease_ms=1_000, owner="a")
    # The lease runs out (a paused or dead process); another replica takes the task over.
    fresh = await tasks.claim(key=KEY, now_ms=now + 2_000, lease_ms=1_000, owner="b")
    assert stale is not None and fresh is not None
    failed = stale.model_copy(update={"status": "failed"})
    lost = await tasks.save_step(before=stale, after=failed, events=(), owner="a", next_due_ms=None)
    assert lost is None
    won = await tasks.save_step(
        before=fresh, after=_running(fresh), events=(), owner="b", next_due_ms=now + 5_000
    )
    assert won is not None and won.status == "running" and won.version == 1
    stored = await tasks.get_consistent(workspace_id=WORKSPACE_ID, task_id=TASK_ID)
    assert stored == won


async def test_a_finished_task_leaves_the_due_index_and_cannot_be_moved(
    aws: AwsClients, settings: Settings
) -> None:
    tasks, task = await _task(aws, settings, now := 1_000_000)
    claimed = await tasks.claim(key=KEY, now_ms=now, lease_ms=1_000, owner="a")
    assert claimed is not None
    event = TaskEvent(time="t2", message="task completed")
    completed = claimed.model_copy(update={"status": "completed"})
    done = await tasks.save_step(
        before=claimed, after=completed, events=[event], owner="a", next_due_ms=None
    )
    assert done is not None and done.status == "completed" and done.events[-1] == event
    assert await tasks.get_consistent(workspace_id=WORKSPACE_ID, task_id=TASK_ID) == done
    assert await tasks.due(shard=keys.due_shard(task.task_id), now_ms=now * 10, limit=10) == []
    assert await tasks.claim(key=KEY, now_ms=now * 10, lease_ms=1, owner="b") is None


async def test_a_task_is_found_by_id_alone(aws: AwsClients, settings: Settings) -> None:
    _, task = await _task(aws, settings, 0)
    # A fresh repository knows no task yet: the first read goes through IdIndex.
    reader = TaskRepository(client=aws.dynamodb, table=settings.dynamodb_table)
    for _ in range(2):  # the second by its key (the workspace is known by then)
        assert await reader.get(task_id=TASK_ID) == task
    assert await reader.get(task_id="01hz0000000000000000000000") is None


async def test_the_status_read_leaves_only_the_event_log_out(
    aws: AwsClients, settings: Settings
) -> None:
    _, task = await _task(aws, settings, 0)
    assert task.events  # a created task logs its creation
    without = task.model_copy(update={"events": ()})
    reader = TaskRepository(client=aws.dynamodb, table=settings.dynamodb_table)
    assert await reader.get(task_id=TASK_ID, events=False) == without  # IdIndex
    assert await reader.get(task_id=TASK_ID, events=False) == without  # its key, remembered
    assert await reader.get(task_id=TASK_ID) == task  # the whole task still, when asked


async def test_a_step_the_reader_would_refuse_is_not_written(
    aws: AwsClients, settings: Settings
) -> None:
    tasks, _ = await _task(aws, settings, 0)
    claimed = await tasks.claim(key=KEY, now_ms=0, lease_ms=1_000, owner="a")
    assert claimed is not None
    # model_copy does not validate: a bug could hand the repository anything.
    broken = claimed.model_copy(update={"status": "lost"})
    with pytest.raises(Unprocessable):
        await tasks.save_step(before=claimed, after=broken, events=(), owner="a", next_due_ms=1)
    huge = claimed.model_copy(update={"manifest": "x" * (401 * 1024)})
    with pytest.raises(PayloadTooLarge):
        await tasks.save_step(before=claimed, after=huge, events=(), owner="a", next_due_ms=1)
    assert await tasks.get_consistent(workspace_id=WORKSPACE_ID, task_id=TASK_ID) == claimed


async def test_a_new_task_the_reader_would_refuse_is_not_created(
    aws: AwsClients, settings: Settings
) -> None:
    tasks, _ = await _task(aws, settings, 0)
    other = _new("01ht0000000000000000000001")
    with pytest.raises(Unprocessable):
        await tasks.create(task=other.model_copy(update={"stages": ()}), due_at_ms=0)
    assert await tasks.get(task_id=other.task_id) is None
