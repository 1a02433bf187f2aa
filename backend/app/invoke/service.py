"""Invocations of a function: through its endpoint, or of a build in the sandbox."""

import logging
import time

import httpx
from starlette.requests import Request
from starlette.responses import Response

from app.errors import Conflict, DomainError, NotFound
from app.functions.models import FunctionRecord
from app.invoke.proxy import ProxyLimits, forward, invocation_id, not_deployed
from app.invoke.schemas import TestRequest, TestResponse
from app.invoke.stats import InvocationRecorder
from app.storage.tasks import TaskRepository
from app.tasks.infra_client import RuntimeClient
from app.tasks.models import Task
from contract.runtime import TestInvocationRequest

log = logging.getLogger(__name__)

# How far back a test without task_id looks for the function's latest build.
BUILDS_SEARCHED = 200


async def invoke(
    *,
    http: httpx.AsyncClient,
    recorder: InvocationRecorder,
    limits: ProxyLimits,
    function: FunctionRecord,
    path: str,
    request: Request,
) -> Response:
    """Forward the request to the function's endpoint and answer what it answered."""
    invocation = invocation_id(request)
    if not function.endpoint:
        raise not_deployed(function.id)
    started = time.perf_counter()
    try:
        response, outcome = await forward(
            http=http,
            endpoint=function.endpoint,
            path=path,
            request=request,
            invocation=invocation,
            limits=limits,
        )
    except DomainError as exc:
        exc.headers.setdefault("X-Invocation-Id", invocation)
        if exc.status >= 500:  # ours, not the caller's: an error of the function's figures
            recorder.record(function, status=exc.status, duration_s=time.perf_counter() - started)
        raise
    recorder.record(function, status=outcome.status, duration_s=outcome.duration_s)
    return response


def _is_build(task: Task) -> bool:
    """The task holds a finished build: a wasm_path from a completed build stage."""
    build = next((stage for stage in task.stages if stage.name == "build"), None)
    return bool(task.wasm_path) and (
        build.status == "completed" if build else task.status == "completed"
    )


async def build_to_test(
    *, tasks: TaskRepository, function: FunctionRecord, task_id: str | None
) -> Task:
    """The given task (of this function, a finished build), or the function's latest build."""
    if task_id is not None:
        task = await tasks.get(task_id=task_id)
        if task is None or (task.workspace_id, task.function_id) != (
            function.workspace_id,
            function.id,
        ):
            raise NotFound(
                f"Task {task_id} not found among function {function.id}'s tasks",
                code="TASK_NOT_FOUND",
            )
        if not _is_build(task):
            raise Conflict(
                f"Task {task_id} has no finished build (it is {task.status}); "
                "test a task whose build completed.",
                code="BUILD_NOT_READY",
            )
        return task
    page = await tasks.list_in_workspace(
        workspace_id=function.workspace_id,
        status=None,
        function_id=function.id,
        limit=BUILDS_SEARCHED,
        next_token=None,
    )
    latest = next((task for task in page.items if _is_build(task)), None)
    if latest is None:
        raise Conflict(
            f"Function {function.id} has no finished build yet; deploy or build it first.",
            code="NO_BUILD",
        )
    return latest


async def test_build(
    *,
    runtime: RuntimeClient,
    tasks: TaskRepository,
    function: FunctionRecord,
    data: TestRequest,
) -> TestResponse:
    """Run a build of the function once in the deploy service's sandbox, with its variables."""
    task = await build_to_test(tasks=tasks, function=function, task_id=data.task_id)
    assert task.wasm_path is not None  # _is_build
    result = await runtime.test_invocation(
        request=TestInvocationRequest(
            app_name=function.name,
            wasm_path=task.wasm_path,
            variables=function.variables,
            request=data.invocation(),
        )
    )
    return TestResponse(**result.model_dump(), task_id=task.task_id)
