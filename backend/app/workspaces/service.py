"""Workspace operations (the caller's access is already checked by the route's dependency)."""

from typing import Any

from app.auth.principal import Principal
from app.clock import now_iso
from app.errors import Conflict, Forbidden
from app.ids import new_id
from app.storage import keys
from app.storage.functions import FunctionRepository
from app.storage.members import MemberRepository
from app.storage.objects import ObjectStore
from app.storage.workspaces import WorkspaceRepository
from app.workspaces.schemas import Workspace, WorkspaceCreate, WorkspaceList, WorkspaceUpdate


async def create_workspace(
    *, workspaces: WorkspaceRepository, caller: Principal, data: WorkspaceCreate
) -> Workspace:
    """Create a workspace; the caller becomes its owner."""
    if caller.is_key:
        raise Forbidden("API keys cannot create workspaces", code="FORBIDDEN")
    now = now_iso()
    record = {
        "id": new_id(),
        "name": data.name,
        "description": data.description,
        "owner": caller.subject,
        "created_at": now,
        "updated_at": now,
    }
    await workspaces.create(workspace=record)
    return Workspace.model_validate(record)


async def list_workspaces(
    *,
    workspaces: WorkspaceRepository,
    members: MemberRepository,
    caller: Principal,
    limit: int,
    next_token: str | None,
) -> WorkspaceList:
    """One page of the workspaces the caller may use, in the order they joined them."""
    if caller.is_key:
        own = await workspaces.get_many(workspace_ids=[caller.workspace_id or ""])
        return WorkspaceList(items=[Workspace.model_validate(r) for r in own], next_token=None)
    page = await members.workspaces_of(subject=caller.subject, limit=limit, next_token=next_token)
    records = await workspaces.get_many(
        workspace_ids=[membership["workspace_id"] for membership in page.items]
    )
    return WorkspaceList(
        items=[Workspace.model_validate(r) for r in records], next_token=page.next_token
    )


async def update_workspace(
    *, workspaces: WorkspaceRepository, workspace: dict[str, Any], data: WorkspaceUpdate
) -> Workspace:
    """Change name and/or description."""
    changes = data.model_dump(exclude_unset=True)
    changes["updated_at"] = now_iso()
    record = await workspaces.update(workspace_id=workspace["id"], changes=changes)
    return Workspace.model_validate(record)


async def delete_workspace(
    *,
    workspaces: WorkspaceRepository,
    functions: FunctionRepository,
    objects: ObjectStore,
    workspace: dict[str, Any],
    cascade: bool,
) -> None:
    """Delete a workspace; with functions in it only when `cascade` is set."""
    workspace_id = workspace["id"]
    if not cascade and await functions.any_in_workspace(workspace_id=workspace_id):
        raise Conflict(
            "The workspace still has functions; delete them first or pass cascade=true",
            code="WORKSPACE_NOT_EMPTY",
        )
    # Everything but the workspace item first: a crash half-way leaves a workspace that can
    # be deleted again, never orphaned items without their workspace.
    item_keys = await workspaces.partition_keys(workspace_id=workspace_id)
    others = [key for key in item_keys if key[keys.SK]["S"] != keys.META]
    await workspaces.delete_items(item_keys=others)
    await objects.delete_prefix(prefix=f"build-sources/{workspace_id}/")
    await workspaces.delete(workspace_id=workspace_id)
