"""Request and response models of builds and tasks (names fixed with the frontend team)."""

from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, StringConstraints, model_validator

from app.api.fields import Identifier, Manifest, Reference, RequestModel, Variables
from app.functions.schemas import FunctionName

TaskStatus = Literal["pending", "running", "completed", "failed"]
TaskType = Literal["build", "push", "scaffold", "deploy", "build-and-push", "build-and-deploy"]
StageName = Literal["build", "push", "scaffold", "deploy"]

WorkspaceId = Annotated[str, StringConstraints(min_length=1, max_length=64)]
OciTag = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")]
OciRepository = Annotated[
    str,
    StringConstraints(
        max_length=255,
        pattern=r"^[a-z0-9]+([._-][a-z0-9]+)*(/[a-z0-9]+([._-][a-z0-9]+)*)*$",
    ),
]
Namespace = Annotated[
    str, StringConstraints(max_length=63, pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
]
Quantity = Annotated[
    str, StringConstraints(max_length=32, pattern=r"^[0-9]+(\.[0-9]+)?(m|Ki|Mi|Gi|Ti|k|M|G|T)?$")
]
SecretName = Annotated[
    str, StringConstraints(max_length=253, pattern=r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")
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


class BuildResponse(TaskStatusResponse):
    """The task an upload created (202)."""


class TaskList(BaseModel):
    items: list[TaskStatusResponse]
    next_token: str | None = None


class Resources(RequestModel):
    limits: dict[Literal["cpu", "memory"], Quantity] = Field(default_factory=dict)
    requests: dict[Literal["cpu", "memory"], Quantity] = Field(default_factory=dict)


class Autoscaling(RequestModel):
    min_replicas: int = Field(default=2, ge=1, le=100)
    max_replicas: int = Field(default=3, ge=1, le=100)
    target_cpu_utilization: int = Field(default=60, ge=1, le=100)
    target_memory_utilization: int = Field(default=60, ge=1, le=100)

    @model_validator(mode="after")
    def _ordered(self) -> "Autoscaling":
        if self.max_replicas < self.min_replicas:
            raise ValueError("max_replicas must be ≥ min_replicas")
        return self


class ScaffoldOptions(RequestModel):
    """How the SpinApp is shaped (SPEC §4 scaffold inputs)."""

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


class ScaffoldResponse(TaskStatusResponse):
    """The scaffold task (202); its `result.manifest` holds the YAML once completed."""


class DeployRequest(RequestModel):
    """Apply a SpinApp manifest (or a completed scaffold task's manifest) to the cluster."""

    workspace_id: WorkspaceId
    app_name: FunctionName | None = None
    manifest: Manifest | None = None
    task_id: Identifier | None = None
    function_id: Identifier | None = None
    namespace: Namespace | None = None

    @model_validator(mode="after")
    def _one_source(self) -> "DeployRequest":
        if (self.task_id is None) == (self.manifest is None):
            raise ValueError("give exactly one of task_id or manifest")
        if self.manifest is not None and self.app_name is None:
            raise ValueError("app_name is required with manifest")
        return self


class DeployResponse(TaskStatusResponse):
    """The deploy task (202); completed means the SpinApp reports ready replicas."""


class BuildAndPushRequest(BaseModel):
    """The form fields of `POST /api/v1/build-and-push` besides the file."""

    workspace_id: WorkspaceId
    app_name: FunctionName
    function_id: str | None = None
    repository: OciRepository | None = None
    tag: OciTag | None = None


class LogEntry(BaseModel):
    time: str
    source: Literal["pipeline", "build"]
    task_id: str
    stage: str | None = None
    level: str = "info"
    message: str


class LogPage(BaseModel):
    items: list[LogEntry]
    next_token: str | None = None
