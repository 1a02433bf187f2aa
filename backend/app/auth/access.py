"""What a caller may touch: the workspaces they are a member of, and what lives in them.

Every workspace-scoped read and write goes through `Access`. A resource in a workspace the caller
may not use answers exactly like one that does not exist (404), so ids leak nothing; 403 is only
for members asking for an owner's action.
"""

from app.auth.principal import Principal
from app.auth.role_cache import RoleCache
from app.errors import Forbidden, NotFound
from app.functions.models import FunctionRecord
from app.ids import is_id
from app.invoke.cache import FunctionCache
from app.logging_setup import task_context
from app.storage.functions import FunctionRepository, function_not_found
from app.storage.members import MemberRepository
from app.storage.tasks import TaskRepository
from app.storage.workspaces import WorkspaceRepository
from app.tasks.models import Task
from app.workspaces.models import WorkspaceRecord


def workspace_not_found(workspace_id: str) -> NotFound:
    return NotFound(f"Workspace {workspace_id} not found", code="WORKSPACE_NOT_FOUND")


def task_not_found(task_id: str) -> NotFound:
    return NotFound(f"Task {task_id} not found", code="TASK_NOT_FOUND")


class Access:
    def __init__(
        self,
        *,
        caller: Principal,
        members: MemberRepository,
        workspaces: WorkspaceRepository,
        functions: FunctionRepository,
        tasks: TaskRepository,
        roles: RoleCache,
    ) -> None:
        self.caller = caller
        self._roles = roles
        self._members = members
        self._workspaces = workspaces
        self._functions = functions
        self._tasks = tasks

    async def role_in(self, workspace_id: str) -> str | None:
        """The caller's role in a workspace, or None when they may not use it."""
        if not is_id(workspace_id):
            return None
        if self.caller.is_key:
            return "member" if self.caller.workspace_id == workspace_id else None
        subject = self.caller.subject

        async def load() -> str | None:
            member = await self._members.get(workspace_id=workspace_id, subject=subject)
            return member.role if member else None

        return await self._roles.lookup(workspace_id, subject, load)

    async def workspace(self, workspace_id: str, *, owner: bool = False) -> WorkspaceRecord:
        """The workspace, if the caller may use it (and owns it, when `owner`)."""
        role = await self.role_in(workspace_id)
        record = await self._workspaces.get(workspace_id=workspace_id) if role else None
        if record is None:
            raise workspace_not_found(workspace_id)
        if owner and role != "owner":
            raise Forbidden("Only the workspace's owner may do this", code="OWNER_REQUIRED")
        return record

    async def function(self, function_id: str, *, cached: FunctionCache | None = None) -> (
        FunctionRecord
    ):  # fmt: skip
        """The function, if the caller may use its workspace; `cached`: a record read a moment
        ago will do (the invoke route), membership is checked all the same."""
        record = cached.get(function_id) if cached is not None else None
        if record is None and is_id(function_id):
            record = await self._functions.get(function_id=function_id)
            if record is not None and cached is not None:
                cached.put(record)
        if record is None or not await self.role_in(record.workspace_id):
            raise function_not_found(function_id)
        return record

    async def task(self, task_id: str, *, events: bool = True) -> Task:
        """The task, if the caller may see it (without `events`: its event log left out); it
        names the log context from here on."""
        record = await self._tasks.get(task_id=task_id, events=events) if is_id(task_id) else None
        if record is None or not await self.role_in(record.workspace_id):
            raise task_not_found(task_id)
        task_context.set(task_id)
        return record
