"""Function operations."""

from app.clock import now_iso
from app.errors import NotFound
from app.functions.schemas import Function, FunctionCreate, FunctionList, FunctionUpdate
from app.ids import is_id, new_id
from app.storage.functions import FunctionRepository
from app.storage.workspaces import WorkspaceRepository
from app.workspaces.service import get_workspace


def _not_found(function_id: str) -> NotFound:
    return NotFound(f"Function {function_id} not found", code="FUNCTION_NOT_FOUND")


async def create_function(
    *, functions: FunctionRepository, workspace_id: str, data: FunctionCreate
) -> Function:
    """Create a function; its name must be free in the workspace (409 otherwise)."""
    if not is_id(workspace_id):
        raise NotFound(f"Workspace {workspace_id} not found", code="WORKSPACE_NOT_FOUND")
    now = now_iso()
    function = Function(
        id=new_id(),
        workspace_id=workspace_id,
        created_at=now,
        updated_at=now,
        **data.model_dump(),
    )
    await functions.create(function=function.model_dump())
    return function


async def get_function(*, functions: FunctionRepository, function_id: str) -> Function:
    """The function, or 404."""
    record = await functions.get(function_id=function_id) if is_id(function_id) else None
    if record is None:
        raise _not_found(function_id)
    return Function.model_validate(record)


async def list_functions(
    *,
    workspaces: WorkspaceRepository,
    functions: FunctionRepository,
    workspace_id: str,
    limit: int,
    next_token: str | None,
) -> FunctionList:
    """One page of a workspace's functions, oldest first."""
    await get_workspace(workspaces=workspaces, workspace_id=workspace_id)
    page = await functions.list_in_workspace(
        workspace_id=workspace_id, limit=limit, next_token=next_token
    )
    return FunctionList(
        items=[Function.model_validate(item) for item in page.items], next_token=page.next_token
    )


async def update_function(
    *, functions: FunctionRepository, function_id: str, data: FunctionUpdate
) -> Function:
    """Change description, variables or replicas."""
    current = await get_function(functions=functions, function_id=function_id)
    changes = data.model_dump(exclude_unset=True)
    changes["updated_at"] = now_iso()
    record = await functions.update(
        workspace_id=current.workspace_id, function_id=function_id, changes=changes
    )
    return Function.model_validate(record)


async def delete_function(*, functions: FunctionRepository, function_id: str) -> None:
    """Delete a function and free its name."""
    current = await get_function(functions=functions, function_id=function_id)
    await functions.delete(
        workspace_id=current.workspace_id, function_id=function_id, name=current.name
    )
