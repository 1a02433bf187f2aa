"""Routes of builds and tasks: /api/v1/*, a workspace's tasks, a function's deploy and logs."""

from typing import Annotated

from fastapi import APIRouter, File, Form, Header, Query, Response, UploadFile, status

from app.api.deps import AccessDep, ContainerDep, FunctionDep, TaskDep, TaskReposDep, WorkspaceDep
from app.api.pagination import Limit, NextToken
from app.api.problems import PROBLEM_RESPONSES
from app.functions.schemas import FunctionName
from app.tasks import intake, logs, service
from app.tasks.schemas import (
    BuildResponse,
    DeployRequest,
    DeployResponse,
    LogPage,
    OciRepository,
    OciTag,
    PushRequest,
    ScaffoldOptions,
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

_ACCEPTED = {"description": "The task, created (or the first one, for a retried key)"}


def _answer(response: Response, task: dict, replayed: bool) -> TaskStatusResponse:
    response.headers["Location"] = f"/api/v1/tasks/{task['task_id']}"
    if replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return service.to_response(task)


async def _upload(
    *,
    access: AccessDep,
    container: ContainerDep,
    repos: service.TaskRepos,
    file: UploadFile,
    task_type: str,
    workspace_id: str,
    app_name: str | None,
    function_id: str | None,
    options: dict,
    idempotency_key: str | None,
) -> tuple[dict, bool]:
    await access.workspace(workspace_id)  # before the file is read: strangers learn nothing
    source = await intake.receive_source(file, container.settings)
    task, replayed = await service.create_upload_task(
        repos=repos,
        source=source,
        task_type=task_type,
        workspace_id=workspace_id,
        app_name=app_name,
        function_id=function_id,
        options=options,
        idempotency_key=idempotency_key,
    )
    if not replayed:
        container.wake_pollers()
    return task, replayed


@router.post(
    "/api/v1/build",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=BuildResponse,
    responses={202: _ACCEPTED},
)
async def build(
    response: Response,
    access: AccessDep,
    container: ContainerDep,
    repos: TaskReposDep,
    file: UploadedFile,
    workspace_id: Annotated[str, Form(min_length=1, max_length=64)],
    app_name: Annotated[FunctionName, Form()],
    function_id: Annotated[str | None, Form(max_length=64)] = None,
    idempotency_key: IdempotencyKey = None,
) -> TaskStatusResponse:
    """Upload a function's source and build it into a WebAssembly component."""
    task, replayed = await _upload(
        access=access, container=container, repos=repos, file=file, task_type="build",
        workspace_id=workspace_id, app_name=app_name, function_id=function_id, options={},
        idempotency_key=idempotency_key,
    )  # fmt: skip
    return _answer(response, task, replayed)


@router.post(
    "/api/v1/build-and-push",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=BuildResponse,
)
async def build_and_push(
    response: Response,
    access: AccessDep,
    container: ContainerDep,
    repos: TaskReposDep,
    file: UploadedFile,
    workspace_id: Annotated[str, Form(min_length=1, max_length=64)],
    app_name: Annotated[FunctionName, Form()],
    function_id: Annotated[str | None, Form(max_length=64)] = None,
    repository: Annotated[OciRepository | None, Form()] = None,
    tag: Annotated[OciTag | None, Form()] = None,
    idempotency_key: IdempotencyKey = None,
) -> TaskStatusResponse:
    """Upload, build and push to the registry in one task (BuildAndPushRequest fields)."""
    options = {"repository": repository, "tag": tag}
    task, replayed = await _upload(
        access=access, container=container, repos=repos, file=file, task_type="build-and-push",
        workspace_id=workspace_id, app_name=app_name, function_id=function_id,
        options={k: v for k, v in options.items() if v}, idempotency_key=idempotency_key,
    )  # fmt: skip
    return _answer(response, task, replayed)


@router.post(
    "/api/functions/{function_id}/deploy",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=DeployResponse,
    tags=["functions"],
)
async def deploy_function(
    function: FunctionDep,
    response: Response,
    access: AccessDep,
    container: ContainerDep,
    repos: TaskReposDep,
    file: UploadedFile,
    namespace: Annotated[str | None, Form(max_length=63)] = None,
    idempotency_key: IdempotencyKey = None,
) -> TaskStatusResponse:
    """The whole pipeline for a function: upload → build → push → scaffold → deploy."""
    options = {
        "replicas": function.get("replicas", 2),
        "variables": function.get("variables") or {},
        "namespace": namespace,
    }
    task, replayed = await _upload(
        access=access, container=container, repos=repos, file=file, task_type="build-and-deploy",
        workspace_id=function["workspace_id"], app_name=function["name"],
        function_id=function["id"], options={k: v for k, v in options.items() if v is not None},
        idempotency_key=idempotency_key,
    )  # fmt: skip
    return _answer(response, task, replayed)


async def _follow_up(
    *,
    access: AccessDep,
    container: ContainerDep,
    repos: service.TaskRepos,
    response: Response,
    data: PushRequest | ScaffoldRequest | DeployRequest,
    task_type: str,
    input_field: str,
    options: dict,
    idempotency_key: str | None,
) -> TaskStatusResponse:
    """Create a push / scaffold / deploy task from a value or an earlier task's output."""
    await access.workspace(data.workspace_id)
    task, replayed = await service.create_follow_up_task(
        repos=repos, settings=container.settings, task_type=task_type,
        workspace_id=data.workspace_id, app_name=data.app_name, function_id=data.function_id,
        from_task_id=data.task_id, input_field=input_field,
        input_value=getattr(data, input_field), options=options,
        idempotency_key=idempotency_key,
    )  # fmt: skip
    if not replayed:
        container.wake_pollers()
    return _answer(response, task, replayed)


@router.post("/api/v1/push", status_code=status.HTTP_202_ACCEPTED, response_model=BuildResponse)
async def push(
    data: PushRequest,
    response: Response,
    access: AccessDep,
    container: ContainerDep,
    repos: TaskReposDep,
    idempotency_key: IdempotencyKey = None,
) -> TaskStatusResponse:
    """Push a built component to the registry as an OCI artifact."""
    return await _follow_up(
        access=access, container=container, repos=repos, response=response, data=data,
        task_type="push", input_field="wasm_path",
        options=data.model_dump(include={"repository", "tag"}, exclude_none=True),
        idempotency_key=idempotency_key,
    )  # fmt: skip


@router.post(
    "/api/v1/scaffold", status_code=status.HTTP_202_ACCEPTED, response_model=ScaffoldResponse
)
async def scaffold(
    data: ScaffoldRequest,
    response: Response,
    access: AccessDep,
    container: ContainerDep,
    repos: TaskReposDep,
    idempotency_key: IdempotencyKey = None,
) -> TaskStatusResponse:
    """Generate the SpinApp manifest for an image."""
    options = data.model_dump(include=set(ScaffoldOptions.model_fields), exclude_none=True)
    return await _follow_up(
        access=access, container=container, repos=repos, response=response, data=data,
        task_type="scaffold", input_field="image_url", options=options,
        idempotency_key=idempotency_key,
    )  # fmt: skip


@router.post("/api/v1/deploy", status_code=status.HTTP_202_ACCEPTED, response_model=DeployResponse)
async def deploy(
    data: DeployRequest,
    response: Response,
    access: AccessDep,
    container: ContainerDep,
    repos: TaskReposDep,
    idempotency_key: IdempotencyKey = None,
) -> TaskStatusResponse:
    """Apply a SpinApp manifest to the cluster and wait until it has ready replicas."""
    return await _follow_up(
        access=access, container=container, repos=repos, response=response, data=data,
        task_type="deploy", input_field="manifest",
        options=data.model_dump(include={"namespace"}, exclude_none=True),
        idempotency_key=idempotency_key,
    )  # fmt: skip


@router.get("/api/v1/tasks/{task_id}", response_model=TaskStatusResponse)
async def get_task(task: TaskDep) -> Response:
    """The task's status (polled by the frontend)."""
    # The hottest route: the model is built (and validated) once and serialised directly,
    # instead of FastAPI validating it a second time against `response_model`.
    body = service.to_response(task).model_dump_json()
    return Response(content=body, media_type="application/json")


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


@router.get("/api/v1/tasks/{task_id}/logs", response_model=LogPage)
async def task_logs(
    task: TaskDep,
    repos: TaskReposDep,
    since: Annotated[str | None, Query(description="ISO 8601; only entries after it")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
    tail: Annotated[int | None, Query(ge=1, le=1000, description="Only the last N")] = None,
    next_token: NextToken = None,
) -> LogPage:
    """The task's pipeline events and its build log."""
    full = await repos.tasks.get_consistent(
        workspace_id=task["workspace_id"], task_id=task["task_id"]
    )
    entries = await logs.task_entries(objects=repos.objects, task=full or task)
    return logs.page(entries, since=since, limit=limit, tail=tail, next_token=next_token)


@router.get("/api/functions/{function_id}/logs", response_model=LogPage, tags=["functions"])
async def function_logs(
    function: FunctionDep,
    repos: TaskReposDep,
    since: Annotated[str | None, Query(description="ISO 8601; only entries after it")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
    tail: Annotated[int | None, Query(ge=1, le=1000, description="Only the last N")] = None,
    next_token: NextToken = None,
) -> LogPage:
    """Build logs and pipeline events of the function's recent tasks, oldest first."""
    entries = await logs.function_entries(
        tasks=repos.tasks, objects=repos.objects, function=function
    )
    return logs.page(entries, since=since, limit=limit, tail=tail, next_token=next_token)
