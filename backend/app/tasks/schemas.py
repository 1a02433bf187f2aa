"""Request and response models of builds and tasks (names fixed with the frontend team).

Responses render the stored task (app.tasks.models.Task); the request models say what each
task-creating route accepts and which `TaskOptions` it asks of the later stages.
"""

from dataclasses import dataclass
from typing import Annotated, Any, Literal

from fastapi import UploadFile
from pydantic import BaseModel, Field, StringConstraints, model_validator

from app.api.fields import Identifier, Manifest, Reference, RequestModel, Variables
from app.functions.schemas import FunctionName
from app.tasks.models import Task, TaskOptions, TaskStatus, TaskType
from contract.fields import Autoscaling, Namespace, Resources, SecretName, Tag
from contract.jobs import StageName

__all__ = ["Autoscaling", "Resources", "StageName", "TaskStatus", "TaskType"]

WorkspaceId = Annotated[str, StringConstraints(min_length=1, max_length=64)]
OciTag = Tag
OciRepository = Annotated[
    str,
    StringConstraints(
        max_length=255,
        pattern=r"^[a-z0-9]+([._-][a-z0-9]+)*(/[a-z0-9]+([._-][a-z0-9]+)*)*$",
    ),
]


class Stage(BaseModel):
    name: StageName
    status: TaskStatus
    started_at: str | None = None
    finished_at: str | None = None
    job_id: str | None = None
    log_path: str | None = None


class BuildTaskResult(BaseModel):
    source_code_path: str | None = None
    source_sha256: str | None = None
    wasm_path: str | None = None
    image_url: str | None = None
    manifest: str | None = None
    manifest_path: str | None = None
    deployment: dict[str, Any] | None = None
    endpoint: str | None = None
    build_log_path: str | None = None


class TaskStatusResponse(BaseModel):
    """What `GET /api/v1/tasks/{task_id}` answers (SPEC §2 Task status)."""

    task_id: str
    workspace_id: str
    app_name: str
    function_id: str | None = None
    type: TaskType
    status: TaskStatus
    stage: StageName | None = None
    stages: list[Stage]
    result: BuildTaskResult
    error_code: str | None = None
    error_message: str | None = None
    created_at: str
    updated_at: str

    @classmethod
    def of(cls, task: Task) -> "TaskStatusResponse":
        """The stored task, as the API shows it (its event log and options aside)."""
        stored = task.model_dump(mode="json")
        return cls.model_validate(
            {
                **stored,
                "stages": [{k: stage[k] for k in Stage.model_fields} for stage in stored["stages"]],
                "result": {k: stored[k] for k in BuildTaskResult.model_fields},
            }
        )


InputField = Literal["wasm_path", "image_url", "manifest"]


@dataclass(frozen=True)
class NewTask:
    """What a task-creating request asks for, whichever of the six routes it came by.

    An upload brings the source (`upload`); a follow-up names its input: a value, or the
    earlier task (`from_task_id`) that produced it.
    """

    task_type: TaskType
    workspace_id: str
    app_name: str | None
    function_id: str | None
    options: TaskOptions
    upload: UploadFile | None = None
    input_field: InputField | None = None
    input_value: str | None = None
    from_task_id: str | None = None
    created_by: str | None = None  # the caller's subject (set by app.tasks.creation)


class BuildResponse(TaskStatusResponse):
    """The task an upload created (202)."""


class TaskList(BaseModel):
    items: list[TaskStatusResponse]
    next_token: str | None = None


class ScaffoldOptions(RequestModel):
    """How the SpinApp is shaped (docs/contract.md, scaffold)."""

    replicas: int = Field(default=2, ge=1, le=100)
    executor: Namespace = "containerd-shim-spin"  # a SpinAppExecutor's name: a DNS label
    resources: Resources | None = None
    variables: Variables = Field(default_factory=dict)
    image_pull_secrets: list[SecretName] = Field(default_factory=list, max_length=10)
    autoscaling: Autoscaling | None = None


class PushRequest(RequestModel):
    """Push a built component: by a completed build's `task_id`, or by its `wasm_path`."""

    workspace_id: WorkspaceId
    app_name: FunctionName | None = None
    task_id: Identifier | None = None
    wasm_path: Reference | None = None
    function_id: Identifier | None = None
    repository: OciRepository | None = None
    tag: OciTag | None = None

    @model_validator(mode="after")
    def _one_source(self) -> "PushRequest":
        if (self.task_id is None) == (self.wasm_path is None):
            raise ValueError("give exactly one of task_id or wasm_path")
        if self.wasm_path is not None and self.app_name is None:
            raise ValueError("app_name is required with wasm_path")
        return self

    def new_task(self) -> NewTask:
        options = TaskOptions(repository=self.repository, tag=self.tag)
        return _follow_up(self, "push", "wasm_path", self.wasm_path, options)


class ScaffoldRequest(ScaffoldOptions):
    """Generate a SpinApp manifest for an image (or a completed push task's image)."""

    workspace_id: WorkspaceId
    app_name: FunctionName | None = None
    image_url: Annotated[Reference, StringConstraints(max_length=512)] | None = None
    task_id: Identifier | None = None
    function_id: Identifier | None = None

    @model_validator(mode="after")
    def _one_source(self) -> "ScaffoldRequest":
        if (self.task_id is None) == (self.image_url is None):
            raise ValueError("give exactly one of task_id or image_url")
        if self.image_url is not None and self.app_name is None:
            raise ValueError("app_name is required with image_url")
        return self

    def new_task(self) -> NewTask:
        options = TaskOptions.model_validate(
            self.model_dump(include=set(ScaffoldOptions.model_fields))
        )
        return _follow_up(self, "scaffold", "image_url", self.image_url, options)


class ScaffoldResponse(TaskStatusResponse):
    """The scaffold task (202); its `result.manifest` holds the YAML once completed."""


class DeployRequest(RequestModel):
    """Apply a SpinApp manifest (or a completed scaffold task's manifest) to the cluster."""

    workspace_id: WorkspaceId
    app_name: FunctionName | None = None
    manifest: Manifest | None = None
    task_id: Identifier | None = None
    function_id: Identifier | None = None
    namespace: Namespace | None = Field(
        default=None,
        description="Kept for compatibility: only the workspace's own namespace "
        "(`faas-<workspace id>`) is accepted; every deploy goes there.",
    )

    @model_validator(mode="after")
    def _one_source(self) -> "DeployRequest":
        if (self.task_id is None) == (self.manifest is None):
            raise ValueError("give exactly one of task_id or manifest")
        if self.manifest is not None and self.app_name is None:
            raise ValueError("app_name is required with manifest")
        return self

    def new_task(self) -> NewTask:
        options = TaskOptions(namespace=self.namespace)
        return _follow_up(self, "deploy", "manifest", self.manifest, options)


def _follow_up(
    request: "PushRequest | ScaffoldRequest | DeployRequest",
    task_type: TaskType,
    field: InputField,
    value: str | None,
    options: TaskOptions,
) -> NewTask:
    return NewTask(
        task_type=task_type,
        workspace_id=request.workspace_id,
        app_name=request.app_name,
        function_id=request.function_id,
        options=options,
        input_field=field,
        input_value=value,
        from_task_id=request.task_id,
    )


class DeployResponse(TaskStatusResponse):
    """The deploy task (202); completed means the SpinApp reports ready replicas."""


class BuildAndPushRequest(BaseModel):
    """The form fields of `POST /api/v1/build-and-push` besides the file."""

    workspace_id: WorkspaceId
    app_name: FunctionName
    function_id: str | None = None
    repository: OciRepository | None = None
    tag: OciTag | None = None


LogSource = Literal["pipeline", "build", "runtime"]


class LogEntry(BaseModel):
    time: str
    source: LogSource
    # The task a pipeline or build line belongs to (runtime lines belong to none).
    task_id: str | None = None
    stage: str | None = None
    level: str = "info"
    message: str
    # Runtime lines: which replica printed it, on which stream, serving which invocation.
    replica: str | None = None
    stream: Literal["stdout", "stderr"] | None = None
    invocation_id: str | None = None


@dataclass(frozen=True)
class LogQuery:
    """Which log entries a request asks for (the query of both log routes)."""

    since: str | None
    limit: int
    tail: int | None
    next_token: str | None
    source: LogSource | None = None  # None: every source


class LogPage(BaseModel):
    items: list[LogEntry]
    next_token: str | None = None
