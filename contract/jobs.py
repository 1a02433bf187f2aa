"""The four job collections (docs/contract.md, "Job calls"): requests, results and the job view.

Every collection takes `POST /v1/{collection}` (a job request, idempotent by `job_key`) and
answers `GET /v1/{collection}/{job_id}` with a `JobView` whose `result`, once the job has
succeeded, is the stage's result model. Requests name their targets explicitly (where the
artifact, the build log, the manifest go): the service never derives a path from `job_key`.
"""

from typing import Any, Final, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, model_validator

from contract.fields import (
    AppName,
    Autoscaling,
    ExecutorName,
    ImageUrl,
    JobKey,
    LabelValue,
    Manifest,
    Namespace,
    Repository,
    Resources,
    S3Path,
    SecretName,
    Tag,
    TaskId,
    VariableName,
    VariableValue,
    WorkspaceId,
)

StageName = Literal["build", "push", "scaffold", "deploy"]
STAGE_NAMES: Final[tuple[StageName, ...]] = ("build", "push", "scaffold", "deploy")

# Stage → the collection that runs its jobs.
COLLECTIONS: Final[dict[StageName, str]] = {
    "build": "builds",
    "push": "pushes",
    "scaffold": "scaffolds",
    "deploy": "deployments",
}
STAGE_OF_COLLECTION: Final[dict[str, StageName]] = {
    path: name for name, path in COLLECTIONS.items()
}

JobStatus = Literal["queued", "running", "succeeded", "failed"]
FINISHED: Final[frozenset[str]] = frozenset({"succeeded", "failed"})


def collection_path(stage: StageName, job_id: str | None = None) -> str:
    """`/v1/builds`, or `/v1/builds/{job_id}` for one job."""
    path = f"/v1/{COLLECTIONS[stage]}"
    return f"{path}/{job_id}" if job_id else path


# --- requests ------------------------------------------------------------------------------


class JobRequest(BaseModel):
    """What every job request carries. Unknown fields are ignored (newer clients)."""

    model_config = ConfigDict(extra="ignore")

    job_key: JobKey = Field(description="Idempotency key: the same key returns the same job.")
    task_id: TaskId | None = Field(
        default=None, description="The control plane's task this job serves (for logs)."
    )


class BuildRequest(JobRequest):
    workspace_id: WorkspaceId
    app_name: AppName
    source: S3Path = Field(description="The uploaded source (`.py` or `.zip`).")
    artifact: S3Path = Field(description="Where the built `.wasm` goes.")
    log_path: S3Path | None = Field(
        default=None,
        description="Where the build log goes; the service picks a path of its own without it.",
    )


class PushRequest(JobRequest):
    wasm_path: S3Path
    app_name: AppName
    repository: Repository
    tag: Tag
    # Names of the app variables the SpinApp will set (SPIN_VARIABLE_<NAME>): Spin only hands a
    # variable to the component when the locked app declares it.
    variables: list[VariableName] = Field(default_factory=list, max_length=50)


class OwnerFields(BaseModel):
    """Who a cluster object belongs to: the ids on its `faas.dev/workspace` and
    `faas.dev/function` labels (optional: a request without them gets no such labels, or the
    app's name as its function label)."""

    workspace_id: LabelValue | None = Field(
        default=None, description="The workspace the app belongs to (label faas.dev/workspace)."
    )
    function_id: LabelValue | None = Field(
        default=None, description="The function the app is (label faas.dev/function)."
    )


class ScaffoldRequest(OwnerFields, JobRequest):
    image_url: ImageUrl
    app_name: AppName
    replicas: int = Field(default=2, ge=1, le=100)
    executor: ExecutorName = "containerd-shim-spin"
    resources: Resources | None = None
    variables: dict[VariableName, VariableValue] = Field(default_factory=dict, max_length=100)
    image_pull_secrets: list[SecretName] = Field(default_factory=list, max_length=10)
    autoscaling: Autoscaling | None = None
    manifest_path: S3Path | None = Field(
        default=None,
        description="Where the manifest is stored; the service picks a path of its own without it.",
    )

    @model_validator(mode="after")
    def _autoscaling_needs_limits(self) -> "ScaffoldRequest":
        # HPA utilisation targets are relative to the pod's resources (as `spin kube scaffold`).
        limits = self.resources.limits if self.resources else {}
        if self.autoscaling is not None and not {"cpu", "memory"} <= set(limits):
            raise ValueError("autoscaling needs resources.limits for both cpu and memory")
        return self


class DeployRequest(OwnerFields, JobRequest):
    namespace: Namespace = "default"
    manifest: Manifest


REQUESTS: Final[dict[StageName, type[JobRequest]]] = {
    "build": BuildRequest,
    "push": PushRequest,
    "scaffold": ScaffoldRequest,
    "deploy": DeployRequest,
}


# --- results and the job view --------------------------------------------------------------


class _Result(BaseModel):
    # A service may report more than the contract names; it is kept, not refused.
    model_config = ConfigDict(extra="allow")


class BuildResult(_Result):
    wasm_path: str
    sha256: str
    size: int
    cached: bool = False
    source_sha256: str | None = None


class PushResult(_Result):
    image_url: str = Field(description="`registry/repository@sha256:…`: the pushed digest.")
    tag_url: str | None = None
    digest: str | None = None


class ScaffoldResult(_Result):
    manifest: str = Field(description="The SpinApp (and HPA) as YAML text.")
    manifest_path: str | None = None


class DeployResult(_Result):
    namespace: str
    name: str
    ready_replicas: int
    endpoint: str | None = None


AnyResult = BuildResult | PushResult | ScaffoldResult | DeployResult
RESULTS: Final[dict[StageName, type[AnyResult]]] = {
    "build": BuildResult,
    "push": PushResult,
    "scaffold": ScaffoldResult,
    "deploy": DeployResult,
}

ResultT = TypeVar("ResultT", BuildResult, PushResult, ScaffoldResult, DeployResult)


class JobError(BaseModel):
    code: str
    message: str


class JobView(BaseModel, Generic[ResultT]):
    """A job as POST (202, or 200 for a known `job_key`) and GET answer it."""

    job_id: str
    status: JobStatus
    result: ResultT | None = None
    error: JobError | None = None
    log_path: str | None = None
    started_at: str | None = None
    finished_at: str | None = None
    # Sent by the reference service; a service may leave them out.
    job_key: str | None = None
    created_at: str | None = None


def view_of(job: object) -> dict[str, Any]:
    """The job view's fields, read off any record of a job (the service's, a fake's)."""
    return {name: getattr(job, name) for name in JobView.model_fields}


VIEWS: Final[dict[StageName, type[JobView[Any]]]] = {
    "build": JobView[BuildResult],
    "push": JobView[PushResult],
    "scaffold": JobView[ScaffoldResult],
    "deploy": JobView[DeployResult],
}
