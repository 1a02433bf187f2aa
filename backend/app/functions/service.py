"""Function operations (the caller's access is already checked by the route's dependency)."""

from typing import Any

from app.clock import now_iso
from app.functions import cleanup
from app.functions.models import FunctionRecord
from app.functions.schemas import Function, FunctionCreate, FunctionList, FunctionUpdate
from app.ids import new_id
from app.storage.functions import FunctionRepository
from app.storage.invocation_stats import InvocationStatsRepository
from app.storage.tasks import TaskRepository
from app.tasks.infra_client import RuntimeClient
from app.workspaces.models import WorkspaceRecord


def render(function: FunctionRecord) -> Function:
    """The stored function as the API shows it."""
    return Function.model_validate(function.model_dump())


async def create_function(
    *, functions: FunctionRepository, workspace: WorkspaceRecord, data: FunctionCreate
) -> Function:
    """Create a function; its name must be free in the workspace (409 otherwise)."""
    now = now_iso()
    function = FunctionRecord(
        id=new_id(), workspace_id=workspace.id, created_at=now, updated_at=now, **data.model_dump()
    )
    await functions.create(function=function)
    return render(function)


async def list_functions(
    *,
    functions: FunctionRepository,
    workspace: WorkspaceRecord,
    limit: int,
    next_token: str | None,
) -> FunctionList:
    """One page of a workspace's functions, oldest first."""
    page = await functions.list_in_workspace(
        workspace_id=workspace.id, limit=limit, next_token=next_token
    )
    return FunctionList(items=[render(item) for item in page.items], next_token=page.next_token)


async def update_function(
    *, functions: FunctionRepository, function: FunctionRecord, data: FunctionUpdate
) -> Function:
    """Change description, variables or replicas."""
    changes: dict[str, Any] = data.model_dump(exclude_unset=True)
    changes["updated_at"] = now_iso()
    return render(await functions.update(function=function, changes=changes))


async def delete_function(
    *,
    functions: FunctionRepository,
    runtime: RuntimeClient,
    tasks: TaskRepository,
    stats: InvocationStatsRepository,
    function: FunctionRecord,
) -> None:
    """Undeploy a function, then delete it and free its name (409 while a task runs)."""
    cleanup.refuse_while_busy(function)
    await cleanup.undeploy(runtime=runtime, tasks=tasks, function=function)
    await functions.delete(function=function)
    await stats.delete(workspace_id=function.workspace_id, function_id=function.id)
