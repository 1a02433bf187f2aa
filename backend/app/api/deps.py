"""`Annotated` dependency aliases: what a route may ask for.

All are `async def`: FastAPI runs a plain `def` dependency in a worker thread, a hand-off per
dependency per request that showed up in the status-polling profile.
"""

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from app.auth.access import Access
from app.auth.principal import Principal
from app.config import Settings
from app.container import Container
from app.functions.models import FunctionRecord
from app.storage.api_keys import ApiKeyRepository
from app.storage.functions import FunctionRepository
from app.storage.members import MemberRepository
from app.storage.objects import ObjectStore
from app.storage.revisions import RevisionRepository
from app.storage.workspaces import WorkspaceRepository
from app.tasks.models import Task
from app.tasks.service import TaskRepos
from app.workspaces.models import WorkspaceRecord
from app.workspaces.namespaces import NamespaceClient

# Declared for the OpenAPI description; the token itself is checked by the
# AuthenticationMiddleware before the body is read.
_bearer = HTTPBearer(
    auto_error=False,
    description="An OIDC access token (auth mode jwt), an API key (`faas_…`), or the admin key.",
)


async def get_container(request: Request) -> Container:
    container: Container = request.app.state.container
    return container


ContainerDep = Annotated[Container, Depends(get_container)]


async def get_caller(
    request: Request,
    _: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """The authenticated caller of this request."""
    caller: Principal = request.state.caller
    return caller


CallerDep = Annotated[Principal, Depends(get_caller)]


def access_of(container: Container, caller: Principal) -> Access:
    return Access(
        caller=caller,
        members=container.members,
        workspaces=container.workspaces,
        functions=container.functions,
        tasks=container.tasks,
        roles=container.roles,
    )


async def get_access(container: ContainerDep, caller: CallerDep) -> Access:
    return access_of(container, caller)


AccessDep = Annotated[Access, Depends(get_access)]


async def workspace_in_path(workspace_id: str, access: AccessDep) -> WorkspaceRecord:
    """The path's workspace, if the caller is a member (404 otherwise)."""
    return await access.workspace(workspace_id)


async def owned_workspace_in_path(workspace_id: str, access: AccessDep) -> WorkspaceRecord:
    """The path's workspace, if the caller owns it (404 for strangers, 403 for members)."""
    return await access.workspace(workspace_id, owner=True)


async def function_in_path(function_id: str, access: AccessDep) -> FunctionRecord:
    return await access.function(function_id)


async def task_in_path(task_id: str, access: AccessDep) -> Task:
    return await access.task(task_id)


async def polled_task_in_path(
    task_id: str,
    request: Request,
    _: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Task:
    """`task_in_path` in one dependency instead of five (container, caller, access): the
    status route is polled, and FastAPI's per-dependency work showed in its profile. The same
    caller, the same access check; the task's event log is not parsed."""
    access = access_of(request.app.state.container, request.state.caller)
    return await access.task(task_id, events=False)  # the status document leaves them out


WorkspaceDep = Annotated[WorkspaceRecord, Depends(workspace_in_path)]
OwnedWorkspaceDep = Annotated[WorkspaceRecord, Depends(owned_workspace_in_path)]
FunctionDep = Annotated[FunctionRecord, Depends(function_in_path)]
TaskDep = Annotated[Task, Depends(task_in_path)]
PolledTaskDep = Annotated[Task, Depends(polled_task_in_path)]


async def get_settings_dep(container: ContainerDep) -> Settings:
    return container.settings


async def get_workspaces(container: ContainerDep) -> WorkspaceRepository:
    return container.workspaces


async def get_functions(container: ContainerDep) -> FunctionRepository:
    return container.functions


async def get_members(container: ContainerDep) -> MemberRepository:
    return container.members


async def get_api_keys(container: ContainerDep) -> ApiKeyRepository:
    return container.api_keys


async def get_objects(container: ContainerDep) -> ObjectStore:
    return container.objects


async def get_namespaces(container: ContainerDep) -> NamespaceClient:
    return container.namespaces


async def get_task_repos(container: ContainerDep) -> TaskRepos:
    return container.task_repos


async def get_revisions(container: ContainerDep) -> RevisionRepository:
    return container.revisions


SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
WorkspacesDep = Annotated[WorkspaceRepository, Depends(get_workspaces)]
FunctionsDep = Annotated[FunctionRepository, Depends(get_functions)]
MembersDep = Annotated[MemberRepository, Depends(get_members)]
ApiKeysDep = Annotated[ApiKeyRepository, Depends(get_api_keys)]
ObjectsDep = Annotated[ObjectStore, Depends(get_objects)]
TaskReposDep = Annotated[TaskRepos, Depends(get_task_repos)]
RevisionsDep = Annotated[RevisionRepository, Depends(get_revisions)]
NamespacesDep = Annotated[NamespaceClient, Depends(get_namespaces)]
