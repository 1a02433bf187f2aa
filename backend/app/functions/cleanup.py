"""What deleting a function removes besides its record, one step per function.

Each step runs before the record is deleted, so a step that fails (the deploy service is
down: 503) leaves the function in place to be deleted again later, never a running app that
no record names.
"""

import logging

from app.errors import Conflict
from app.functions.models import FunctionRecord
from app.storage.functions import FunctionRepository
from app.storage.tasks import TaskRepository
from app.tasks.infra_client import RuntimeClient

log = logging.getLogger(__name__)


def refuse_while_busy(function: FunctionRecord) -> None:
    """409 TASK_IN_PROGRESS while a task holds the function (it may be deploying it)."""
    if function.active_task_id:
        raise Conflict(
            f"Task {function.active_task_id} of function {function.name!r} is still running; "
            "delete the function once it has finished.",
            code="TASK_IN_PROGRESS",
        )


async def deployed_app(
    *, function: FunctionRecord, tasks: TaskRepository
) -> tuple[str, str] | None:
    """(namespace, name) of the function's app at the deploy service, None if it has none.

    A function deployed before its record kept them has an endpoint but no names: they are
    read from its latest task's deploy result instead.
    """
    if function.deployed_namespace and function.deployed_name:
        return function.deployed_namespace, function.deployed_name
    if not (function.endpoint and function.latest_task_id):
        return None
    task = await tasks.get(task_id=function.latest_task_id)
    deployment = task.deployment if task is not None else None
    return (deployment.namespace, deployment.name) if deployment else None


async def undeploy(
    *, runtime: RuntimeClient, tasks: TaskRepository, function: FunctionRecord
) -> None:
    """Stop the function's deployed app at the deploy service (idempotent; 503 when down)."""
    app = await deployed_app(function=function, tasks=tasks)
    if app is None:
        return
    namespace, name = app
    deleted = await runtime.undeploy(namespace=namespace, name=name)
    log.info(
        "function %s undeployed from %s/%s (%s)",
        function.id,
        namespace,
        name,
        "was running" if deleted else "nothing was there",
    )


async def undeploy_workspace(
    *,
    runtime: RuntimeClient,
    functions: FunctionRepository,
    tasks: TaskRepository,
    workspace_id: str,
) -> None:
    """Undeploy every function of a workspace; 409 first if any of them is busy."""
    everything: list[FunctionRecord] = []
    token: str | None = None
    while True:
        page = await functions.list_in_workspace(
            workspace_id=workspace_id, limit=100, next_token=token
        )
        everything.extend(page.items)
        token = page.next_token
        if token is None:
            break
    for function in everything:
        refuse_while_busy(function)
    for function in everything:
        await undeploy(runtime=runtime, tasks=tasks, function=function)
