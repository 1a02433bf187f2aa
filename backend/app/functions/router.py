"""Routes of functions: created and listed under a workspace, addressed by id alone; their
revisions, rollback and scale (SPEC §9)."""

from typing import Annotated, Any

from fastapi import APIRouter, Body, Path, Query, Response, status

from app.api.deps import (
    AccessDep,
    ContainerDep,
    FunctionDep,
    FunctionsDep,
    RevisionsDep,
    TaskReposDep,
    WorkspaceDep,
)
from app.api.pagination import Limit, NextToken
from app.api.problems import PROBLEM_RESPONSES, problem_response
from app.functions import redeploy, service
from app.functions.revisions import (
    RevisionList,
    RevisionNumber,
    RevisionView,
    RollbackRequest,
    ScaleRequest,
)
from app.functions.schemas import (
    Function,
    FunctionCreate,
    FunctionList,
    FunctionUpdate,
    FunctionUpdated,
)
from app.tasks.router import IdempotencyKey
from app.tasks.schemas import TaskStatusResponse

router = APIRouter(prefix="/api", tags=["functions"], responses=PROBLEM_RESPONSES)


@router.post(
    "/workspaces/{workspace_id}/functions",
    status_code=status.HTTP_201_CREATED,
    response_model=Function,
)
async def create_function(
    data: FunctionCreate, workspace: WorkspaceDep, functions: FunctionsDep
) -> Function:
    return await service.create_function(functions=functions, workspace=workspace, data=data)


@router.get("/workspaces/{workspace_id}/functions", response_model=FunctionList)
async def list_functions(
    workspace: WorkspaceDep,
    functions: FunctionsDep,
    limit: Limit = 20,
    next_token: NextToken = None,
) -> FunctionList:
    return await service.list_functions(
        functions=functions, workspace=workspace, limit=limit, next_token=next_token
    )


@router.get("/functions/{function_id}", response_model=Function)
async def get_function(function: FunctionDep) -> Function:
    return service.render(function)


@router.patch("/functions/{function_id}", response_model=FunctionUpdated)
async def update_function(
    data: FunctionUpdate,
    function: FunctionDep,
    access: AccessDep,
    repos: TaskReposDep,
    revisions: RevisionsDep,
    redeploy: Annotated[
        bool,
        Query(
            description="Redeploy a deployed function's live image with new variables or "
            "replicas (default). false: only store them for the next deploy."
        ),
    ] = True,
) -> FunctionUpdated:
    """Change settings; a deployed function's new variables or replicas start a redeploy task
    of its live image (`redeploy` in the answer says what happens)."""
    return await service.update_function(
        access=access, repos=repos, revisions=revisions, function=function, data=data,
        redeploy=redeploy,
    )  # fmt: skip


@router.delete("/functions/{function_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_function(
    function: FunctionDep, functions: FunctionsDep, container: ContainerDep
) -> None:
    """Undeploy the function, then delete it with its sources, artifacts, manifests, logs,
    registry images, tasks and revisions (409 TASK_IN_PROGRESS while a task runs; 503 and the
    function kept when the deploy or push service cannot be reached)."""
    await service.delete_function(
        functions=functions,
        runtime=container.runtime,
        tasks=container.tasks,
        stats=container.invocation_stats,
        artifacts=container.cleanup,
        function=function,
    )
    container.invocable.forget(function.id)
    container.invocations.forget(function.id)


@router.get("/functions/{function_id}/revisions", response_model=RevisionList)
async def list_revisions(
    function: FunctionDep,
    revisions: RevisionsDep,
    limit: Limit = 20,
    next_token: NextToken = None,
) -> RevisionList:
    """What each successful deploy ran, newest first; `live` marks the one serving."""
    return await service.list_revisions(
        revisions=revisions, function=function, limit=limit, next_token=next_token
    )


@router.get("/functions/{function_id}/revisions/{number}", response_model=RevisionView)
async def get_revision(
    function: FunctionDep, revisions: RevisionsDep, number: Annotated[RevisionNumber, Path()]
) -> RevisionView:
    return await service.get_revision(revisions=revisions, function=function, number=number)


_ACCEPTED: dict[int | str, dict[str, Any]] = {
    202: {"description": "The deploy task (or the first one, for a retried key)"}
}


@router.post(
    "/functions/{function_id}/rollback",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=TaskStatusResponse,
    responses={
        **_ACCEPTED,
        410: problem_response("The revision's artifacts were removed (retention)"),
    },
)
async def rollback_function(
    function: FunctionDep,
    access: AccessDep,
    repos: TaskReposDep,
    revisions: RevisionsDep,
    response: Response,
    data: Annotated[RollbackRequest, Body()],
    idempotency_key: IdempotencyKey = None,
) -> TaskStatusResponse:
    """Deploy an earlier revision's image and manifest again (default: the previous
    revision); no build. Its success records a new revision pointing at that image."""
    created = await redeploy.rollback(
        access=access, repos=repos, revisions=revisions, function=function,
        revision=data.revision, idempotency_key=idempotency_key,
    )  # fmt: skip
    response.headers.update(created.headers())
    return created.response()


@router.post(
    "/functions/{function_id}/scale",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=TaskStatusResponse,
    responses=_ACCEPTED,
)
async def scale_function(
    data: ScaleRequest,
    function: FunctionDep,
    access: AccessDep,
    repos: TaskReposDep,
    revisions: RevisionsDep,
    response: Response,
    idempotency_key: IdempotencyKey = None,
) -> TaskStatusResponse:
    """Deploy the live revision again with `replicas` (0 stops the app, which stays deployed:
    invoking it answers FUNCTION_SCALED_TO_ZERO)."""
    created = await redeploy.scale(
        access=access, repos=repos, revisions=revisions, function=function,
        replicas=data.replicas, idempotency_key=idempotency_key,
    )  # fmt: skip
    response.headers.update(created.headers())
    return created.response()
