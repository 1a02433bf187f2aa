"""Function operations (the caller's access is already checked by the route's dependency)."""

from typing import Any

from app.auth.access import Access
from app.clock import now_iso
from app.functions import cleanup
from app.functions import redeploy as redeploys
from app.functions.cleanup import FunctionCleanup
from app.functions.models import FunctionRecord
from app.functions.revisions import RevisionList, RevisionView, view
from app.functions.schemas import (
    Function,
    FunctionCreate,
    FunctionList,
    FunctionUpdate,
    FunctionUpdated,
    Redeploy,
)
from app.ids import new_id
from app.storage.functions import FunctionRepository
from app.storage.invocation_stats import InvocationStatsRepository
from app.storage.revisions import RevisionRepository, revision_not_found
from app.storage.tasks import TaskRepository
from app.tasks.infra_client import RuntimeClient
from app.tasks.service import TaskRepos
from app.workspaces.models import WorkspaceRecord


def render(function: FunctionRecord) -> Function:
    """The stored function as the API shows it."""
    return Function.model_validate(function.model_dump())


async def create_function(
    *, functions: FunctionRepository, workspace: WorkspaceRecord, data: FunctionCreate
) -> Function:
    """Create a function; its name must be free in the workspace (409 otherwise)."""
    now = now_iso()
    function = FunctionRecord(
        id=new_id(), workspace_id=workspace.id, created_at=now, updated_at=now, **data.model_dump()
    )
    await functions.create(function=function)
    return render(function)


async def list_functions(
    *,
    functions: FunctionRepository,
    workspace: WorkspaceRecord,
    limit: int,
    next_token: str | None,
) -> FunctionList:
    """One page of a workspace's functions, oldest first."""
    page = await functions.list_in_workspace(
        workspace_id=workspace.id, limit=limit, next_token=next_token
    )
    return FunctionList(items=[render(item) for item in page.items], next_token=page.next_token)


async def update_function(
    *,
    access: Access,
    repos: TaskRepos,
    revisions: RevisionRepository,
    function: FunctionRecord,
    data: FunctionUpdate,
    redeploy: bool = True,
) -> FunctionUpdated:
    """Change description, variables or replicas; a deployed function is redeployed with them.

    The redeploy task is created first (it claims the function: 409 while another task runs),
    so a refused change stores nothing.
    """
    changes: dict[str, Any] = data.model_dump(exclude_unset=True)
    plan = await _redeploy_for(
        access=access, repos=repos, revisions=revisions, function=function, changes=changes,
        redeploy=redeploy,
    )  # fmt: skip
    changes["updated_at"] = now_iso()
    updated = await repos.functions.update(function=function, changes=changes)
    return FunctionUpdated.model_validate({**render(updated).model_dump(), "redeploy": plan})


async def _redeploy_for(
    *,
    access: Access,
    repos: TaskRepos,
    revisions: RevisionRepository,
    function: FunctionRecord,
    changes: dict[str, Any],
    redeploy: bool,
) -> Redeploy:
    if "variables" not in changes and "replicas" not in changes:
        return Redeploy(action="none", message="Only the description changed: nothing to deploy.")
    if not redeploy and function.live_revision is not None:
        return Redeploy(
            action="next_deploy",
            message=f"Stored only (redeploy=false): revision {function.live_revision} keeps "
            "running with its settings until the function is deployed again.",
        )
    if function.live_revision is None:
        return Redeploy(
            action="next_deploy",
            message="The function is not deployed: its next deploy uses these settings.",
        )
    live = await redeploys.live_revision(revisions=revisions, function=function)
    variables = changes.get("variables", live.variables)
    replicas = changes.get("replicas", live.replicas)
    if variables == live.variables and replicas == live.replicas:
        return Redeploy(
            action="none", message=f"Revision {live.revision} already runs with these settings."
        )
    created = await redeploys.apply_settings(
        access=access, repos=repos, live=live, function=function, variables=variables,
        replicas=replicas,
    )  # fmt: skip
    task = created.task
    return Redeploy(
        action="started",
        message=(
            f"Task {task.task_id} deploys revision {live.revision}'s image with the new "
            "settings (no build); when it completes it is the new live revision."
        ),
        task_id=task.task_id,
        location=created.headers()["Location"],
    )


async def delete_function(
    *,
    functions: FunctionRepository,
    runtime: RuntimeClient,
    tasks: TaskRepository,
    stats: InvocationStatsRepository,
    artifacts: FunctionCleanup,
    function: FunctionRecord,
) -> None:
    """Undeploy a function, remove its objects, images, tasks and revisions, then delete it
    and free its name (409 while a task runs)."""
    cleanup.refuse_while_busy(function)
    await artifacts.ensure_idle(function=function)
    await cleanup.undeploy(runtime=runtime, tasks=tasks, function=function)
    await artifacts.remove_function(function=function)
    await functions.delete(function=function)
    await stats.delete(workspace_id=function.workspace_id, function_id=function.id)


async def list_revisions(
    *,
    revisions: RevisionRepository,
    function: FunctionRecord,
    limit: int,
    next_token: str | None,
) -> RevisionList:
    """One page of the function's revisions, newest first."""
    page = await revisions.list_newest_first(
        workspace_id=function.workspace_id,
        function_id=function.id,
        limit=limit,
        next_token=next_token,
    )
    items = [view(item, live=function.live_revision) for item in page.items]
    return RevisionList(items=items, next_token=page.next_token)


async def get_revision(
    *, revisions: RevisionRepository, function: FunctionRecord, number: int
) -> RevisionView:
    found = await revisions.get(
        workspace_id=function.workspace_id, function_id=function.id, number=number
    )
    if found is None:
        raise revision_not_found(function.id, number)
    return view(found, live=function.live_revision)
