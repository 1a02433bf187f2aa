"""Routes of builds and tasks: /api/v1/*, a workspace's tasks, a function's deploy and logs.

The six task-creating routes are built from one table (`CREATE_ROUTES`) of what differs
between them: path, request (a multipart form or a JSON body, which names the task it asks
for), response model and description. Each parses, calls `service.create_task`, and answers.
"""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from enum import Enum
from typing import Annotated, Any, Protocol, cast

from fastapi import APIRouter, Depends, File, Form, Header, Query, Response, UploadFile, status

from app.api.deps import (
    AccessDep,
    ContainerDep,
    FunctionDep,
    PolledTaskDep,
    TaskDep,
    TaskReposDep,
    WorkspaceDep,
)
from app.api.pagination import Limit, NextToken
from app.api.problems import PROBLEM_RESPONSES
from app.errors import Unprocessable
from app.functions.schemas import FunctionName
from app.tasks import creation, logs, service
from app.tasks.models import TaskOptions
from app.tasks.schemas import (
    BuildResponse,
    DeployRequest,
    DeployResponse,
    LogPage,
    LogQuery,
    LogSource,
    NewTask,
    OciRepository,
    OciTag,
    PushRequest,
    ScaffoldRequest,
    ScaffoldResponse,
    TaskList,
    TaskStatus,
    TaskStatusResponse,
)

router = APIRouter(tags=["builds and tasks"], responses=PROBLEM_RESPONSES)

IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        max_length=255,
        description="Retries with the same key return the first task instead of a new one.",
    ),
]
UploadedFile = Annotated[UploadFile, File(description="The function's source: `.py` or `.zip`.")]
WorkspaceField = Annotated[str, Form(min_length=1, max_length=64)]
FunctionIdField = Annotated[str | None, Form(max_length=64)]


# -- the multipart forms of the three upload routes -----------------------------------------


class BuildForm:
    def __init__(
        self,
        file: UploadedFile,
        workspace_id: WorkspaceField,
        app_name: Annotated[FunctionName, Form()],
        function_id: FunctionIdField = None,
    ) -> None:
        self.order = NewTask(
            task_type="build", workspace_id=workspace_id, app_name=app_name,
            function_id=function_id, options=TaskOptions(), upload=file,
        )  # fmt: skip

    def new_task(self) -> NewTask:
        return self.order


class BuildAndPushForm(BuildForm):
    """The BuildAndPushRequest fields, besides the file."""

    def __init__(
        self,
        file: UploadedFile,
        workspace_id: WorkspaceField,
        app_name: Annotated[FunctionName, Form()],
        function_id: FunctionIdField = None,
        repository: Annotated[OciRepository | None, Form()] = None,
        tag: Annotated[OciTag | None, Form()] = None,
    ) -> None:
        self.order = NewTask(
            task_type="build-and-push", workspace_id=workspace_id, app_name=app_name,
            function_id=function_id, options=TaskOptions(repository=repository or None,
            tag=tag or None), upload=file,
        )  # fmt: skip


class FunctionDeployForm(BuildForm):
    def __init__(
        self,
        function: FunctionDep,
        file: UploadedFile,
        namespace: Annotated[str | None, Form(max_length=63)] = None,
    ) -> None:
        # A function scaled to zero is started with one replica by a deploy of new code.
        options = TaskOptions(
            replicas=max(function.replicas, 1), variables=function.variables, namespace=namespace
        )
        self.order = NewTask(
            task_type="build-and-deploy", workspace_id=function.workspace_id,
            app_name=function.name, function_id=function.id, options=options, upload=file,
        )  # fmt: skip


class _Orders(Protocol):
    def new_task(self) -> NewTask: ...


# -- the table ------------------------------------------------------------------------------


@dataclass(frozen=True)
class CreateRoute:
    """One task-creating route: what differs between the six."""

    name: str  # the operation's name (its OpenAPI operationId and summary derive from it)
    path: str
    request: type[Any]  # a form (read by Depends) or a JSON body model; has `new_task()`
    response_model: type[TaskStatusResponse]
    description: str
    form: bool = False
    tags: list[str | Enum] = field(default_factory=list)
    responses: dict[int | str, dict[str, Any]] = field(default_factory=dict)


_ACCEPTED = {"description": "The task, created (or the first one, for a retried key)"}

CREATE_ROUTES = (
    CreateRoute(
        "build", "/api/v1/build", BuildForm, BuildResponse,
        "Upload a function's source and build it into a WebAssembly component.",
        form=True, responses={202: _ACCEPTED},
    ),
    CreateRoute(
        "build_and_push", "/api/v1/build-and-push", BuildAndPushForm, BuildResponse,
        "Upload, build and push to the registry in one task (BuildAndPushRequest fields).",
        form=True,
    ),
    CreateRoute(
        "deploy_function", "/api/functions/{function_id}/deploy", FunctionDeployForm,
        DeployResponse,
        "The whole pipeline for a function: upload → build → push → scaffold → deploy.",
        form=True, tags=["functions"],
    ),
    CreateRoute(
        "push", "/api/v1/push", PushRequest, BuildResponse,
        "Push a built component to the registry as an OCI artifact.",
    ),
    CreateRoute(
        "scaffold", "/api/v1/scaffold", ScaffoldRequest, ScaffoldResponse,
        "Generate the SpinApp manifest for an image.",
    ),
    CreateRoute(
        "deploy", "/api/v1/deploy", DeployRequest, DeployResponse,
        "Apply a SpinApp manifest to the cluster and wait until it has ready replicas.",
    ),
)  # fmt: skip


def _endpoint(route: CreateRoute) -> Callable[..., Awaitable[TaskStatusResponse]]:
    request_type = Annotated[route.request, Depends()] if route.form else route.request

    async def create(
        body: request_type,  # type: ignore[valid-type]
        response: Response,
        access: AccessDep,
        repos: TaskReposDep,
        idempotency_key: IdempotencyKey = None,
    ) -> TaskStatusResponse:
        order = cast(_Orders, body).new_task()
        created = await creation.create_task(
            access=access, repos=repos, order=order, idempotency_key=idempotency_key
        )
        response.headers.update(created.headers())
        return created.response()

    return create


for _route in CREATE_ROUTES:
    router.add_api_route(
        _route.path,
        _endpoint(_route),
        methods=["POST"],
        name=_route.name,
        status_code=status.HTTP_202_ACCEPTED,
        response_model=_route.response_model,
        description=_route.description,
        tags=_route.tags or None,
        responses=_route.responses or None,
    )


# -- reads ----------------------------------------------------------------------------------


@router.get("/api/v1/tasks/{task_id}", response_model=TaskStatusResponse)
async def get_task(task: PolledTaskDep) -> Response:
    """The task's status (polled by the frontend)."""
    # The hottest route: the body is built (and validated) once and sent as is, instead of
    # FastAPI validating it a second time against `response_model`.
    return Response(content=service.status_json(task), media_type="application/json")


@router.get("/api/workspaces/{workspace_id}/tasks", response_model=TaskList, tags=["workspaces"])
async def list_tasks(
    workspace: WorkspaceDep,
    repos: TaskReposDep,
    status_filter: Annotated[TaskStatus | None, Query(alias="status")] = None,
    limit: Limit = 20,
    next_token: NextToken = None,
) -> TaskList:
    """A workspace's tasks, newest first, optionally only those in one status."""
    return await service.list_tasks(
        repos=repos, workspace=workspace, status=status_filter, limit=limit,
        next_token=next_token,
    )  # fmt: skip


async def log_query(
    since: Annotated[str | None, Query(description="ISO 8601; only entries after it")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
    tail: Annotated[int | None, Query(ge=1, le=1000, description="Only the last N")] = None,
    next_token: NextToken = None,
    source: Annotated[
        LogSource | None,
        Query(description="Only lines of one source: build, pipeline or runtime (default: all)"),
    ] = None,
) -> LogQuery:
    if since is not None:
        try:
            logs.parse_time(since)
        except ValueError as exc:
            raise Unprocessable(
                f"since must be an ISO 8601 time, not {since[:64]!r}", code="INVALID_SINCE"
            ) from exc
    return LogQuery(since=since, limit=limit, tail=tail, next_token=next_token, source=source)


LogQueryDep = Annotated[LogQuery, Depends(log_query)]


@router.get("/api/v1/tasks/{task_id}/logs", response_model=LogPage)
async def task_logs(task: TaskDep, repos: TaskReposDep, query: LogQueryDep) -> LogPage:
    """The task's pipeline events and its build log."""
    return await service.task_logs(repos=repos, task=task, query=query)


@router.get("/api/functions/{function_id}/logs", response_model=LogPage, tags=["functions"])
async def function_logs(
    function: FunctionDep, repos: TaskReposDep, query: LogQueryDep, container: ContainerDep
) -> LogPage:
    """Build logs and pipeline events of the function's recent tasks, and the runtime lines of
    its deployment (what the function printed), oldest first."""
    return await service.function_logs(
        repos=repos, runtime=container.runtime, function=function, query=query
    )
