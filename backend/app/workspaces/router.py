"""Routes of /api/workspaces."""

from typing import Annotated

from fastapi import APIRouter, Query, status

from app.api.deps import (
    CallerDep,
    ContainerDep,
    FunctionsDep,
    MembersDep,
    NamespacesDep,
    ObjectsDep,
    OwnedWorkspaceDep,
    WorkspaceDep,
    WorkspacesDep,
)
from app.api.pagination import Limit, NextToken
from app.api.problems import PROBLEM_RESPONSES
from app.workspaces import service
from app.workspaces.schemas import Workspace, WorkspaceCreate, WorkspaceList, WorkspaceUpdate

router = APIRouter(prefix="/api/workspaces", tags=["workspaces"], responses=PROBLEM_RESPONSES)


@router.post("", status_code=status.HTTP_201_CREATED, response_model=Workspace)
async def create_workspace(
    data: WorkspaceCreate, workspaces: WorkspacesDep, caller: CallerDep
) -> Workspace:
    """Create a workspace; you become its owner."""
    return await service.create_workspace(workspaces=workspaces, caller=caller, data=data)


@router.get("", response_model=WorkspaceList)
async def list_workspaces(
    workspaces: WorkspacesDep,
    members: MembersDep,
    caller: CallerDep,
    limit: Limit = 20,
    next_token: NextToken = None,
) -> WorkspaceList:
    """The workspaces you are a member of."""
    return await service.list_workspaces(
        workspaces=workspaces, members=members, caller=caller, limit=limit, next_token=next_token
    )


@router.get("/{workspace_id}", response_model=Workspace)
async def get_workspace(workspace: WorkspaceDep) -> Workspace:
    return service.render(workspace)


@router.patch("/{workspace_id}", response_model=Workspace)
async def update_workspace(
    data: WorkspaceUpdate, workspace: OwnedWorkspaceDep, workspaces: WorkspacesDep
) -> Workspace:
    """Rename or describe a workspace (owners only)."""
    return await service.update_workspace(workspaces=workspaces, workspace=workspace, data=data)


@router.delete("/{workspace_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_workspace(
    workspace: OwnedWorkspaceDep,
    workspaces: WorkspacesDep,
    functions: FunctionsDep,
    objects: ObjectsDep,
    container: ContainerDep,
    namespaces: NamespacesDep,
    cascade: Annotated[
        bool, Query(description="Also delete the workspace's functions, tasks and sources.")
    ] = False,
) -> None:
    """Delete a workspace (owners only), and the namespace its functions run in."""
    await service.delete_workspace(
        workspaces=workspaces,
        functions=functions,
        objects=objects,
        runtime=container.runtime,
        tasks=container.tasks,
        artifacts=container.cleanup,
        namespaces=namespaces,
        workspace=workspace,
        cascade=cascade,
    )
