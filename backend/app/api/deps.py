"""`Annotated` dependency aliases: what a route may ask for."""

from typing import Annotated

from fastapi import Depends, Request

from app.config import Settings
from app.container import Container
from app.storage.functions import FunctionRepository
from app.storage.objects import ObjectStore
from app.storage.workspaces import WorkspaceRepository
from app.tasks.service import TaskRepos

# Until authentication lands every caller is this one principal (development only).
ANONYMOUS_OWNER = "anonymous"


def get_container(request: Request) -> Container:
    return request.app.state.container


ContainerDep = Annotated[Container, Depends(get_container)]


def get_settings_dep(container: ContainerDep) -> Settings:
    return container.settings


def get_workspaces(container: ContainerDep) -> WorkspaceRepository:
    return container.workspaces


def get_functions(container: ContainerDep) -> FunctionRepository:
    return container.functions


def get_objects(container: ContainerDep) -> ObjectStore:
    return container.objects


def get_task_repos(container: ContainerDep) -> TaskRepos:
    return container.task_repos


def get_owner() -> str:
    """The principal the request acts for."""
    return ANONYMOUS_OWNER


SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
WorkspacesDep = Annotated[WorkspaceRepository, Depends(get_workspaces)]
FunctionsDep = Annotated[FunctionRepository, Depends(get_functions)]
ObjectsDep = Annotated[ObjectStore, Depends(get_objects)]
OwnerDep = Annotated[str, Depends(get_owner)]
TaskReposDep = Annotated[TaskRepos, Depends(get_task_repos)]
