"""What deleting a function removes besides its record, one step per function.

Each step runs before the record is deleted, so a step that fails (the deploy service is
down: 503) leaves the function in place to be deleted again later, never a running app that
no record names.
"""

import logging

from app.errors import Conflict
from app.functions.models import FunctionRecord
from app.storage.functions import FunctionRepository
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


async def undeploy(*, runtime: RuntimeClient, function: FunctionRecord) -> None:
    """Stop the function's deployed app at the deploy service (idempotent; 503 when down)."""
    if not (function.deployed_namespace and function.deployed_name):
        return
    deleted = await runtime.undeploy(
        namespace=function.deployed_namespace, name=function.deployed_name
    )
    log.info(
        "function %s undeployed from %s/%s (%s)",
        function.id,
        function.deployed_namespace,
        function.deployed_name,
        "was running" if deleted else "nothing was there",
    )


async def undeploy_workspace(
    *, runtime: RuntimeClient, functions: FunctionRepository, workspace_id: str
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
        await undeploy(runtime=runtime, function=function)
