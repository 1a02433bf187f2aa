"""Reading tasks back: the status document, a workspace's tasks, a task's or function's logs.

Tasks are created in app.tasks.creation.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from pydantic_core import to_json

from app.config import Settings
from app.functions.models import FunctionRecord
from app.storage.functions import FunctionRepository
from app.storage.objects import ObjectStore
from app.storage.tasks import TaskRepository, WorkspaceLimits
from app.tasks import logs
from app.tasks.infra_client import RuntimeClient
from app.tasks.models import Task
from app.tasks.schemas import (
    BuildTaskResult,
    LogEntry,
    LogPage,
    LogQuery,
    Stage,
    TaskList,
    TaskStatusResponse,
)
from app.workspaces.models import WorkspaceRecord


@dataclass(frozen=True)
class TaskRepos:
    functions: FunctionRepository
    tasks: TaskRepository
    objects: ObjectStore
    limits: WorkspaceLimits
    settings: Settings
    wake: Callable[[], None]  # a task was created: let this process's poller pick it up now


_STAGE_FIELDS: Final = tuple(Stage.model_fields)
_RESULT_FIELDS: Final = tuple(BuildTaskResult.model_fields)
# What the document takes from the task as it is, in the document's order (stages and result
# are built from the task's fields).
_TOP_FIELDS: Final = tuple(TaskStatusResponse.model_fields)
_DUMPED: Final = set(_TOP_FIELDS) | set(_RESULT_FIELDS)


def status_json(task: Task) -> bytes:
    """The task's status document, `TaskStatusResponse.of(task)` serialised, byte for byte.

    The hottest route: the task is dumped once (its event log and options left out) and the
    document assembled from it and encoded by pydantic's serialiser, instead of dumping the
    whole task, validating the response model and dumping that again. The document is the
    same (tests/tasks/test_status_document.py compares the two).
    """
    stored = task.model_dump(mode="json", include=_DUMPED)
    document: dict[str, Any] = {}
    for name in _TOP_FIELDS:
        if name == "stages":
            document[name] = [
                {field: stage[field] for field in _STAGE_FIELDS} for stage in stored["stages"]
            ]
        elif name == "result":
            document[name] = {field: stored[field] for field in _RESULT_FIELDS}
        else:
            document[name] = stored[name]
    return to_json(document)


async def list_tasks(
    *,
    repos: TaskRepos,
    workspace: WorkspaceRecord,
    status: str | None,
    limit: int,
    next_token: str | None,
) -> TaskList:
    """One page of a workspace's tasks, newest first."""
    page = await repos.tasks.list_in_workspace(
        workspace_id=workspace.id, status=status, limit=limit, next_token=next_token
    )
    return TaskList(
        items=[TaskStatusResponse.of(task) for task in page.items], next_token=page.next_token
    )


async def task_logs(*, repos: TaskRepos, task: Task, query: LogQuery) -> LogPage:
    """The task's pipeline events and its build log, one page."""
    full = await repos.tasks.get_consistent(workspace_id=task.workspace_id, task_id=task.task_id)
    entries = await logs.task_entries(objects=repos.objects, task=full or task)
    return logs.page(entries, query)


async def function_logs(
    *, repos: TaskRepos, runtime: RuntimeClient, function: FunctionRecord, query: LogQuery
) -> LogPage:
    """Build logs and pipeline events of the function's recent tasks, and its runtime lines,
    one page."""
    entries: list[LogEntry] = []
    if query.source != "runtime":
        entries = await logs.function_entries(
            tasks=repos.tasks, objects=repos.objects, function=function
        )
    if query.source in (None, "runtime"):
        entries = logs.merged(
            entries,
            await logs.runtime_entries(
                runtime=runtime, function=function, query=query, required=query.source is not None
            ),
        )
    return logs.page(entries, query)
