"""The task and its stages as typed records: what the repository stores, `advance()` changes
and the routes render (SPEC §3 attribute names).

A task runs the stages of its type in order; each stage has a job at the infrastructure
service once it has started. `status` keeps the four values the frontend switches on.
Models are frozen: a change is a new value, made by `app.tasks.lifecycle` only.
"""

from typing import Final, Literal

from pydantic import BaseModel, ConfigDict, Field

from contract.fields import Autoscaling, Resources
from contract.jobs import DeployResult, StageName

TaskStatus = Literal["pending", "running", "completed", "failed"]
TaskType = Literal[
    "build", "push", "scaffold", "deploy", "build-and-push", "build-and-deploy", "redeploy"
]
# Why a deploying task was made (it becomes its revision's `reason`).
DeployReason = Literal["deploy", "rollback", "scale", "settings"]
EventLevel = Literal["info", "warning", "error"]

ACTIVE: Final[frozenset[str]] = frozenset({"pending", "running"})
TERMINAL: Final[frozenset[str]] = frozenset({"completed", "failed"})

# Which stages each task type runs, in order.
STAGES: Final[dict[TaskType, tuple[StageName, ...]]] = {
    "build": ("build",),
    "push": ("push",),
    "scaffold": ("scaffold",),
    "deploy": ("deploy",),
    "build-and-push": ("build", "push"),
    "build-and-deploy": ("build", "push", "scaffold", "deploy"),
    # A function's live component again with new settings: no build (app.functions.redeploy).
    "redeploy": ("push", "scaffold", "deploy"),
}

# Pipeline events kept on a task (its log); later ones are dropped, the status still moves.
MAX_EVENTS: Final = 100
EVENT_MESSAGE_MAX: Final = 2000


class _Record(BaseModel):
    # Stored items may carry attributes a newer or older version wrote: they are ignored.
    model_config = ConfigDict(frozen=True, extra="ignore")


class Stage(_Record):
    name: StageName
    status: TaskStatus = "pending"
    started_at: str | None = None
    finished_at: str | None = None
    job_id: str | None = None
    log_path: str | None = None
    # Observations of the current job (the poll budget) and failed contacts in a row.
    polls: int = Field(default=0, ge=0)
    transient_failures: int = Field(default=0, ge=0)


class TaskEvent(_Record):
    """One line of the task's pipeline log."""

    time: str
    stage: StageName | None = None
    level: EventLevel = "info"
    message: str = Field(max_length=EVENT_MESSAGE_MAX)


class TaskOptions(_Record):
    """What the request asked of the later stages (absent: the settings' defaults)."""

    repository: str | None = None
    tag: str | None = None
    replicas: int | None = None
    executor: str | None = None
    resources: Resources | None = None
    variables: dict[str, str] = Field(default_factory=dict)
    image_pull_secrets: list[str] = Field(default_factory=list)
    autoscaling: Autoscaling | None = None
    namespace: str | None = None


class Task(_Record):
    """A BuildTask item (`BUILD#{task_id}`), its keys aside."""

    task_id: str
    workspace_id: str
    app_name: str
    function_id: str | None = None
    type: TaskType
    status: TaskStatus
    stage: StageName | None = None
    stages: tuple[Stage, ...] = Field(min_length=1)
    options: TaskOptions = TaskOptions()
    version: int = Field(default=0, ge=0)
    created_by: str | None = None  # the subject of the caller who asked for it
    created_at: str
    updated_at: str
    # Inputs: the upload, or the value a follow-up task starts from.
    source_code_path: str | None = None
    source_sha256: str | None = None
    source_size: int | None = None
    source_task_id: str | None = None
    # A redeploy of a function's revision (rollback, scale, settings): which one, and why.
    deploy_reason: DeployReason | None = None
    redeploys_revision: int | None = Field(default=None, ge=1)
    # What the stages produced.
    wasm_path: str | None = None
    wasm_sha256: str | None = None
    wasm_size: int | None = None
    image_url: str | None = None
    manifest: str | None = None
    manifest_path: str | None = None
    deployment: DeployResult | None = None
    endpoint: str | None = None
    build_log_path: str | None = None
    error_code: str | None = None
    error_message: str | None = None
    # The pipeline log (GET /api/v1/tasks/{id}/logs; the status document leaves it out).
    events: tuple[TaskEvent, ...] = ()

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL

    def current(self) -> int | None:
        """Index of the first stage not completed, or None when all are."""
        for index, stage in enumerate(self.stages):
            if stage.status != "completed":
                return index
        return None


def deployment_status_for(task: Task) -> str | None:
    """What the function's `deployment_status` becomes; None when the task does not deploy."""
    if "deploy" not in STAGES[task.type]:
        return None
    if task.status == "failed":
        return "failed"
    if task.status == "completed":
        return "deployed"
    if task.type == "redeploy" or task.stage in {"scaffold", "deploy"}:
        return "deploying"  # a redeploy builds nothing: it pushes the live component again
    return "building"
