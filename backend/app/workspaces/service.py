"""Workspace operations (the caller's access is already checked by the route's dependency)."""

from typing import Any

from app.auth.principal import Principal
from app.clock import now_iso
from app.errors import Conflict, Forbidden
from app.functions import cleanup
from app.functions.cleanup import FunctionCleanup
from app.ids import new_id
from app.storage import keys
from app.storage.functions import FunctionRepository
from app.storage.members import MemberRepository
from app.storage.objects import ObjectStore
from app.storage.tasks import TaskRepository
from app.storage.workspaces import WorkspaceRepository
from app.tasks.infra_client import RuntimeClient
from app.workspaces.models import WorkspaceRecord
from app.workspaces.namespaces import NamespaceClient, remove_workspace_namespace
from app.workspaces.schemas import Workspace, WorkspaceCreate, WorkspaceList, WorkspaceUpdate


def render(workspace: WorkspaceRecord) -> Workspace:
    """The stored workspace as the API shows it."""
    return Workspace.model_validate(workspace.model_dump())


async def create_workspace(
    *, workspaces: WorkspaceRepository, caller: Principal, data: WorkspaceCreate
) -> Workspace:
    """Create a workspace; the caller becomes its owner."""
    if caller.is_key:
        raise Forbidden("API keys cannot create workspaces", code="FORBIDDEN")
    now = now_iso()
    record = WorkspaceRecord(
        id=new_id(),
        name=data.name,
        description=data.description,
        owner=caller.subject,
        created_at=now,
        updated_at=now,
    )
    await workspaces.create(workspace=record)
    return render(record)


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
        return WorkspaceList(items=[render(record) for record in own], next_token=None)
    page = await members.workspaces_of(subject=caller.subject, limit=limit, next_token=next_token)
    records = await workspaces.get_many(
        workspace_ids=[membership.workspace_id for membership in page.items]
    )
    return WorkspaceList(items=[render(record) for record in records], next_token=page.next_token)


async def update_workspace(
    *, workspaces: WorkspaceRepository, workspace: WorkspaceRecord, data: WorkspaceUpdate
) -> Workspace:
    """Change name and/or description."""
    changes: dict[str, Any] = data.model_dump(exclude_unset=True)
    changes["updated_at"] = now_iso()
    return render(await workspaces.update(workspace=workspace, changes=changes))


async def delete_workspace(
    *,
    workspaces: WorkspaceRepository,
    functions: FunctionRepository,
    objects: ObjectStore,
    runtime: RuntimeClient,
    tasks: TaskRepository,
    artifacts: FunctionCleanup,
    namespaces: NamespaceClient,
    workspace: WorkspaceRecord,
    cascade: bool,
) -> None:
    """Delete a workspace; with functions in it only when `cascade` is set.

    Each function is undeployed and cleaned up as its own delete does (objects, images, tasks,
    revisions) before the workspace's items go.
    """
    if not cascade and await functions.any_in_workspace(workspace_id=workspace.id):
        raise Conflict(
            "The workspace still has functions; delete them first or pass cascade=true",
            code="WORKSPACE_NOT_EMPTY",
        )
    # A running app of a function about to vanish would be an orphan no one can stop.
    await cleanup.undeploy_workspace(
        runtime=runtime, functions=functions, tasks=tasks, workspace_id=workspace.id
    )
    token: str | None = None
    while True:  # then what we own of each: objects, images, tasks, revisions
        page = await functions.list_in_workspace(
            workspace_id=workspace.id, limit=100, next_token=token
        )
        for function in page.items:
            await artifacts.remove_function(function=function)
        token = page.next_token
        if token is None:
            break
    # Then the namespace, with whatever else runs there (apps deployed without a function):
    # the deploy service unavailable (503) keeps the workspace whole, to be deleted again.
    await remove_workspace_namespace(namespaces=namespaces, workspace_id=workspace.id)
    # Everything but the workspace item first: a crash half-way leaves a workspace that can
    # be deleted again, never orphaned items without their workspace.
    await workspaces.delete_contents(workspace_id=workspace.id)
    await objects.delete_prefix(prefix=keys.workspace_sources(workspace.id))
    await workspaces.delete(workspace_id=workspace.id)
