"""Workspace operations."""

from app.clock import now_iso
from app.errors import Conflict, NotFound
from app.ids import is_id, new_id
from app.storage import keys
from app.storage.dynamo import Page
from app.storage.functions import FunctionRepository
from app.storage.objects import ObjectStore
from app.storage.workspaces import WorkspaceRepository
from app.workspaces.schemas import Workspace, WorkspaceCreate, WorkspaceList, WorkspaceUpdate


def _not_found(workspace_id: str) -> NotFound:
    return NotFound(f"Workspace {workspace_id} not found", code="WORKSPACE_NOT_FOUND")


async def create_workspace(
    *, workspaces: WorkspaceRepository, owner: str, data: WorkspaceCreate
) -> Workspace:
    """Create a workspace owned by `owner`."""
    now = now_iso()
    record = {
        "id": new_id(),
        "name": data.name,
        "description": data.description,
        "owner": owner,
        "created_at": now,
        "updated_at": now,
    }
    await workspaces.create(workspace=record)
    return Workspace.model_validate(record)


async def get_workspace(*, workspaces: WorkspaceRepository, workspace_id: str) -> Workspace:
    """The workspace, or 404."""
    record = await workspaces.get(workspace_id=workspace_id) if is_id(workspace_id) else None
    if record is None:
        raise _not_found(workspace_id)
    return Workspace.model_validate(record)


async def list_workspaces(
    *, workspaces: WorkspaceRepository, owner: str, limit: int, next_token: str | None
) -> WorkspaceList:
    """One page of the owner's workspaces, oldest first."""
    page: Page = await workspaces.list_for_owner(owner=owner, limit=limit, next_token=next_token)
    return WorkspaceList(
        items=[Workspace.model_validate(item) for item in page.items], next_token=page.next_token
    )


async def update_workspace(
    *, workspaces: WorkspaceRepository, workspace_id: str, data: WorkspaceUpdate
) -> Workspace:
    """Change name and/or description."""
    if not is_id(workspace_id):
        raise _not_found(workspace_id)
    changes = data.model_dump(exclude_unset=True)
    changes["updated_at"] = now_iso()
    record = await workspaces.update(workspace_id=workspace_id, changes=changes)
    return Workspace.model_validate(record)


async def delete_workspace(
    *,
    workspaces: WorkspaceRepository,
    functions: FunctionRepository,
    objects: ObjectStore,
    workspace_id: str,
    cascade: bool,
) -> None:
    """Delete a workspace; with functions in it only when `cascade` is set."""
    await get_workspace(workspaces=workspaces, workspace_id=workspace_id)
    if not cascade:
        if await functions.any_in_workspace(workspace_id=workspace_id):
            raise Conflict(
                "The workspace still has functions; delete them first or pass cascade=true",
                code="WORKSPACE_NOT_EMPTY",
            )
        await workspaces.delete(workspace_id=workspace_id)
        return
    # Everything but the workspace item first: a crash half-way leaves a workspace that can
    # be deleted again, never orphaned items without their workspace.
    item_keys = await workspaces.partition_keys(workspace_id=workspace_id)
    meta = keys.workspace_key(workspace_id)
    others = [key for key in item_keys if key["SK"]["S"] != meta[keys.SK]]
    await workspaces.delete_items(item_keys=others)
    await objects.delete_prefix(prefix=f"build-sources/{workspace_id}/")
    await workspaces.delete(workspace_id=workspace_id)
