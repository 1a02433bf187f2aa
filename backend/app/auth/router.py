"""Routes of a workspace's members and API keys."""

from fastapi import APIRouter, Path, status

from app.api.deps import (
    ApiKeysDep,
    CallerDep,
    ContainerDep,
    MembersDep,
    OwnedWorkspaceDep,
    WorkspaceDep,
)
from app.api.problems import PROBLEM_RESPONSES
from app.auth import service
from app.auth.schemas import (
    ApiKeyCreate,
    ApiKeyCreated,
    ApiKeyList,
    Member,
    MemberList,
    MemberUpdate,
)

router = APIRouter(
    prefix="/api/workspaces/{workspace_id}", tags=["access"], responses=PROBLEM_RESPONSES
)


@router.get("/members", response_model=MemberList)
async def list_members(workspace: WorkspaceDep, members: MembersDep) -> MemberList:
    """Who may use this workspace."""
    return await service.list_members(members=members, workspace=workspace)


@router.put("/members/{subject}", response_model=Member)
async def set_member(
    data: MemberUpdate,
    workspace: OwnedWorkspaceDep,
    members: MembersDep,
    container: ContainerDep,
    subject: str = Path(max_length=200),
) -> Member:
    """Add a user (by their token subject, e.g. `user:<sub>`) or change their role (owners only)."""
    return await service.set_member(
        members=members, roles=container.roles, workspace=workspace, subject=subject, data=data
    )


@router.delete("/members/{subject}", status_code=status.HTTP_204_NO_CONTENT)
async def remove_member(
    workspace: OwnedWorkspaceDep,
    members: MembersDep,
    container: ContainerDep,
    subject: str = Path(max_length=200),
) -> None:
    """Remove a user from the workspace (owners only; the last owner stays)."""
    await service.remove_member(
        members=members, roles=container.roles, workspace=workspace, subject=subject
    )


@router.post("/api-keys", status_code=status.HTTP_201_CREATED, response_model=ApiKeyCreated)
async def create_api_key(
    data: ApiKeyCreate, workspace: OwnedWorkspaceDep, keys: ApiKeysDep, caller: CallerDep
) -> ApiKeyCreated:
    """A key for CI-style access to this workspace; `key` is shown this once (owners only)."""
    return await service.create_api_key(keys=keys, workspace=workspace, caller=caller, data=data)


@router.get("/api-keys", response_model=ApiKeyList)
async def list_api_keys(workspace: WorkspaceDep, keys: ApiKeysDep) -> ApiKeyList:
    return await service.list_api_keys(keys=keys, workspace=workspace)


@router.delete("/api-keys/{key_id}", status_code=status.HTTP_204_NO_CONTENT)
async def revoke_api_key(key_id: str, workspace: OwnedWorkspaceDep, keys: ApiKeysDep) -> None:
    """Revoke a key: it is refused from now on (owners only)."""
    await service.revoke_api_key(keys=keys, workspace=workspace, key_id=key_id)
