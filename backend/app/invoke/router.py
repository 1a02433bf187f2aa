"""Routes of invocations: the invoke proxy (any method), test invocations, figures."""

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response

from app.api.deps import AccessDep, ContainerDep, FunctionDep
from app.api.problems import PROBLEM_RESPONSES
from app.functions.models import FunctionRecord
from app.invoke import service
from app.invoke.proxy import ProxyLimits
from app.invoke.schemas import InvocationStats, TestRequest, TestResponse

router = APIRouter(
    prefix="/api/functions/{function_id}", tags=["invoke"], responses=PROBLEM_RESPONSES
)

METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


async def invocable_function(
    function_id: str, access: AccessDep, container: ContainerDep
) -> FunctionRecord:
    """The path's function, as FunctionDep, from a record read up to a moment ago."""
    return await access.function(function_id, cached=container.invocable)


async def invoke_function(
    function: Annotated[FunctionRecord, Depends(invocable_function)],
    request: Request,
    container: ContainerDep,
    path: str = "",
) -> Response:
    """Call the deployed function: the rest of the path, the query, headers and body go to it;
    its status, headers and body come back, with X-Invocation-Id and X-Duration-Ms."""
    return await service.invoke(
        http=container.invoke_http,
        recorder=container.invocations,
        limits=ProxyLimits.of(container.settings),
        function=function,
        path=path,
        request=request,
    )


for _method in METHODS:
    for _path, _suffix in (("/invoke", "root"), ("/invoke/{path:path}", "path")):
        router.add_api_route(
            _path,
            invoke_function,
            methods=[_method],
            operation_id=f"invoke_function_{_suffix}_{_method.lower()}",
            summary="Invoke the deployed function",
            response_class=Response,
            responses={200: {"description": "The function's own answer, as it gave it."}},
        )


@router.post("/test", response_model=TestResponse)
async def test_function(
    data: TestRequest, function: FunctionDep, container: ContainerDep
) -> TestResponse:
    """Run a build (default: the latest) once in the sandbox, without deploying it."""
    return await service.test_build(
        runtime=container.runtime, tasks=container.tasks, function=function, data=data
    )


@router.get("/stats", response_model=InvocationStats)
async def function_stats(function: FunctionDep, container: ContainerDep) -> InvocationStats:
    """Invocations through the invoke route: count, errors, p50/p95, last invoked."""
    return await container.invocations.stats(function)
