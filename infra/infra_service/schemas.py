"""Request and response models of the four services (SPEC §4)."""

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

JobKey = Annotated[str, StringConstraints(min_length=1, max_length=256)]
AppName = Annotated[
    str, StringConstraints(max_length=52, pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
]
S3Path = Annotated[str, StringConstraints(min_length=6, max_length=1024, pattern=r"^s3://")]
Repository = Annotated[
    str,
    StringConstraints(
        max_length=255, pattern=r"^[a-z0-9]+([._-][a-z0-9]+)*(/[a-z0-9]+([._-][a-z0-9]+)*)*$"
    ),
]
Tag = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")]
ImageUrl = Annotated[str, StringConstraints(min_length=1, max_length=512, pattern=r"^[^\s]+$")]
Quantity = Annotated[str, StringConstraints(pattern=r"^[0-9]+(\.[0-9]+)?(m|Ki|Mi|Gi|Ti|k|M|G|T)?$")]
SecretName = Annotated[
    str, StringConstraints(max_length=253, pattern=r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")
]
Namespace = Annotated[
    str, StringConstraints(max_length=63, pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
]
ExecutorName = Annotated[
    str, StringConstraints(max_length=63, pattern=r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")
]
# Spin variable names are lowercase snake_case (SPIN_VARIABLE_<UPPER> in the pod).
VariableName = Annotated[str, StringConstraints(max_length=128, pattern=r"^[a-z][a-z0-9_]*$")]


class _Request(BaseModel):
    model_config = ConfigDict(extra="ignore")

    job_key: JobKey


class BuildRequest(_Request):
    workspace_id: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    app_name: AppName
    source: S3Path
    artifact: S3Path


class PushRequest(_Request):
    wasm_path: S3Path
    app_name: AppName
    repository: Repository
    tag: Tag
    # Names of the app variables the SpinApp will set (SPIN_VARIABLE_<NAME>): Spin only hands a
    # variable to the component when the locked app declares it.
    variables: list[VariableName] = Field(default_factory=list, max_length=50)


class Resources(BaseModel):
    model_config = ConfigDict(extra="forbid")

    limits: dict[Literal["cpu", "memory"], Quantity] = Field(default_factory=dict)
    requests: dict[Literal["cpu", "memory"], Quantity] = Field(default_factory=dict)


class Autoscaling(BaseModel):
    model_config = ConfigDict(extra="forbid")

    min_replicas: int = Field(default=2, ge=1, le=100)
    max_replicas: int = Field(default=3, ge=1, le=100)
    target_cpu_utilization: int = Field(default=60, ge=1, le=100)
    target_memory_utilization: int = Field(default=60, ge=1, le=100)

    @model_validator(mode="after")
    def _ordered(self) -> "Autoscaling":
        if self.max_replicas < self.min_replicas:
            raise ValueError("max_replicas must be ≥ min_replicas")
        return self


class ScaffoldRequest(_Request):
    image_url: ImageUrl
    app_name: AppName
    replicas: int = Field(default=2, ge=1, le=100)
    executor: ExecutorName = "containerd-shim-spin"
    resources: Resources | None = None
    variables: dict[VariableName, Annotated[str, StringConstraints(max_length=4096)]] = Field(
        default_factory=dict, max_length=100
    )
    image_pull_secrets: list[SecretName] = Field(default_factory=list, max_length=10)
    autoscaling: Autoscaling | None = None

    @model_validator(mode="after")
    def _autoscaling_needs_limits(self) -> "ScaffoldRequest":
        # HPA utilisation targets are relative to the pod's resources (as `spin kube scaffold`).
        limits = self.resources.limits if self.resources else {}
        if self.autoscaling is not None and not {"cpu", "memory"} <= set(limits):
            raise ValueError("autoscaling needs resources.limits for both cpu and memory")
        return self


class DeployRequest(_Request):
    namespace: Namespace = "default"
    manifest: Annotated[str, StringConstraints(min_length=1, max_length=65536)]


class JobError(BaseModel):
    code: str
    message: str


class JobView(BaseModel):
    """A job as POST and GET answer it."""

    job_id: str
    job_key: str
    status: Literal["queued", "running", "succeeded", "failed"]
    result: dict[str, Any] | None = None
    error: JobError | None = None
    log_path: str | None = None
    created_at: str
    started_at: str | None = None
    finished_at: str | None = None
