"""Function operations (the caller's access is already checked by the route's dependency)."""

from typing import Any

from app.clock import now_iso
from app.functions.schemas import Function, FunctionCreate, FunctionList, FunctionUpdate
from app.ids import new_id
from app.storage.functions import FunctionRepository


async def create_function(
    *, functions: FunctionRepository, workspace: dict[str, Any], data: FunctionCreate
) -> Function:
    """Create a function; its name must be free in the workspace (409 otherwise)."""
    now = now_iso()
    function = Function(
        id=new_id(),
        workspace_id=workspace["id"],
        created_at=now,
        updated_at=now,
        **data.model_dump(),
    )
    await functions.create(function=function.model_dump())
    return function


async def list_functions(
    *, functions: FunctionRepository, workspace: dict[str, Any], limit: int, next_token: str | None
) -> FunctionList:
    """One page of a workspace's functions, oldest first."""
    page = await functions.list_in_workspace(
        workspace_id=workspace["id"], limit=limit, next_token=next_token
    )
    return FunctionList(
        items=[Function.model_validate(item) for item in page.items], next_token=page.next_token
    )


async def update_function(
    *, functions: FunctionRepository, function: dict[str, Any], data: FunctionUpdate
) -> Function:
    """Change description, variables or replicas."""
    changes = data.model_dump(exclude_unset=True)
    changes["updated_at"] = now_iso()
    record = await functions.update(
        workspace_id=function["workspace_id"], function_id=function["id"], changes=changes
    )
    return Function.model_validate(record)


async def delete_function(*, functions: FunctionRepository, function: dict[str, Any]) -> None:
    """Delete a function and free its name."""
    await functions.delete(
        workspace_id=function["workspace_id"], function_id=function["id"], name=function["name"]
    )
