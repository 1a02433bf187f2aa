"""Constrained field types of the job requests (docs/contract.md), shared by both sides."""

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

JobKey = Annotated[str, StringConstraints(min_length=1, max_length=256)]
TaskId = Annotated[str, StringConstraints(min_length=1, max_length=128)]
WorkspaceId = Annotated[str, StringConstraints(min_length=1, max_length=64)]
# A DNS-1123 label of at most 52 characters: it names the SpinApp and a label built from it.
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
Quantity = Annotated[
    str, StringConstraints(max_length=32, pattern=r"^[0-9]+(\.[0-9]+)?(m|Ki|Mi|Gi|Ti|k|M|G|T)?$")
]
SecretName = Annotated[
    str, StringConstraints(max_length=253, pattern=r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")
]
Namespace = Annotated[
    str, StringConstraints(max_length=63, pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
]
# A Kubernetes label value: what the ids on the platform's labels (faas.dev/workspace, …) must be.
LabelValue = Annotated[
    str,
    StringConstraints(max_length=63, pattern=r"^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$"),
]
ExecutorName = Annotated[
    str, StringConstraints(max_length=63, pattern=r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")
]
# Spin variable names are lowercase snake_case (SPIN_VARIABLE_<UPPER> in the pod).
VariableName = Annotated[str, StringConstraints(max_length=128, pattern=r"^[a-z][a-z0-9_]*$")]
VariableValue = Annotated[str, StringConstraints(max_length=4096)]
Manifest = Annotated[str, StringConstraints(min_length=1, max_length=65536)]


class Resources(BaseModel):
    """CPU and memory of each replica, as Kubernetes quantities."""

    model_config = ConfigDict(extra="forbid")

    limits: dict[Literal["cpu", "memory"], Quantity] = Field(default_factory=dict)
    requests: dict[Literal["cpu", "memory"], Quantity] = Field(default_factory=dict)


class Autoscaling(BaseModel):
    """A HorizontalPodAutoscaler instead of a fixed replica count."""

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
