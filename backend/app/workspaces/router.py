"""Routes of /api/workspaces."""

from typing import Annotated

from fastapi import APIRouter, Query, status

from app.api.deps import FunctionsDep, ObjectsDep, OwnerDep, WorkspacesDep
from app.api.pagination import Limit, NextToken
from app.workspaces import service
from app.workspaces.schemas import Workspace, WorkspaceCreate, WorkspaceList, WorkspaceUpdate

router = APIRouter(prefix="/api/workspaces", tags=["workspaces"])


@router.post("", status_code=status.HTTP_201_CREATED, response_model=Workspace)
async def create_workspace(
    data: WorkspaceCreate, workspaces: WorkspacesDep, owner: OwnerDep
) -> Workspace:
    return await service.create_workspace(workspaces=workspaces, owner=owner, data=data)


@router.get("", response_model=WorkspaceList)
async def list_workspaces(
    workspaces: WorkspacesDep, owner: OwnerDep, limit: Limit = 20, next_token: NextToken = None
) -> WorkspaceList:
    return await service.list_workspaces(
        workspaces=workspaces, owner=owner, limit=limit, next_token=next_token
    )


@router.get("/{workspace_id}", response_model=Workspace)
async def get_workspace(workspace_id: str, workspaces: WorkspacesDep) -> Workspace:
    return await service.get_workspace(workspaces=workspaces, workspace_id=workspace_id)


@router.patch("/{workspace_id}", response_model=Workspace)
async def update_workspace(
    workspace_id: str, data: WorkspaceUpdate, workspaces: WorkspacesDep
) -> Workspace:
    return await service.update_workspace(
        workspaces=workspaces, workspace_id=workspace_id, data=data
    )


@router.delete("/{workspace_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_workspace(
    workspace_id: str,
    workspaces: WorkspacesDep,
    functions: FunctionsDep,
    objects: ObjectsDep,
    cascade: Annotated[
        bool, Query(description="Also delete the workspace's functions, tasks and sources.")
    ] = False,
) -> None:
    await service.delete_workspace(
        workspaces=workspaces,
        functions=functions,
        objects=objects,
        workspace_id=workspace_id,
        cascade=cascade,
    )
