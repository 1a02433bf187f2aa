"""Routes of functions: created and listed under a workspace, addressed by id alone."""

from fastapi import APIRouter, status

from app.api.deps import ContainerDep, FunctionDep, FunctionsDep, WorkspaceDep
from app.api.pagination import Limit, NextToken
from app.api.problems import PROBLEM_RESPONSES
from app.functions import service
from app.functions.schemas import Function, FunctionCreate, FunctionList, FunctionUpdate

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


@router.patch("/functions/{function_id}", response_model=Function)
async def update_function(
    data: FunctionUpdate, function: FunctionDep, functions: FunctionsDep
) -> Function:
    return await service.update_function(functions=functions, function=function, data=data)


@router.delete("/functions/{function_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_function(
    function: FunctionDep, functions: FunctionsDep, container: ContainerDep
) -> None:
    """Undeploy the function, then delete it (409 TASK_IN_PROGRESS while a task runs; 503 and
    the function kept when the deploy service cannot be reached)."""
    await service.delete_function(
        functions=functions,
        runtime=container.runtime,
        tasks=container.tasks,
        stats=container.invocation_stats,
        function=function,
    )
    container.invocable.forget(function.id)
    container.invocations.forget(function.id)
