"""Request and response models of functions."""

import re
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

# The name becomes the SpinApp's name and a label `core.spinkube.dev/app.<name>.status`, whose
# name part may hold 63 characters: hence a DNS-1123 label of at most 52.
FunctionName = Annotated[
    str,
    StringConstraints(min_length=1, max_length=52, pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"),
]
Description = Annotated[str, StringConstraints(max_length=1000)]
Replicas = Annotated[int, Field(ge=1, le=100)]

# Spin variable names are lower-case snake_case (they become SPIN_VARIABLE_<UPPER>).
_VARIABLE_NAME = r"^[a-z][a-z0-9_]{0,62}$"
MAX_VARIABLES = 50


def _check_variables(value: dict[str, str] | None) -> dict[str, str] | None:
    if value is None:
        return value
    if len(value) > MAX_VARIABLES:
        raise ValueError(f"at most {MAX_VARIABLES} variables")
    for name, text in value.items():
        if not re.match(_VARIABLE_NAME, name):
            raise ValueError(f"variable name {name!r} must be lower-case snake_case (a-z, 0-9, _)")
        if len(text) > 4096:
            raise ValueError(f"variable {name!r} is longer than 4096 characters")
    return value


class FunctionCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: FunctionName
    runtime: Literal["python"] = "python"
    description: Description = ""
    variables: dict[str, str] = Field(default_factory=dict)
    replicas: Replicas = 2

    _variables = field_validator("variables")(_check_variables)


class FunctionUpdate(BaseModel):
    """What may change after creation; the name is fixed (it names the deployed SpinApp)."""

    model_config = ConfigDict(extra="forbid")

    description: Description | None = None
    variables: dict[str, str] | None = None
    replicas: Replicas | None = None

    _variables = field_validator("variables")(_check_variables)

    @model_validator(mode="after")
    def _something_to_change(self) -> "FunctionUpdate":
        if not self.model_fields_set:
            raise ValueError("give at least one of: description, variables, replicas")
        for name in self.model_fields_set:
            if getattr(self, name) is None:
                raise ValueError(f"{name} cannot be null")
        return self


DeploymentStatus = Literal["not_deployed", "building", "deploying", "deployed", "failed"]


class Function(BaseModel):
    id: str
    workspace_id: str
    name: str
    runtime: str = "python"
    description: str = ""
    variables: dict[str, str] = Field(default_factory=dict)
    replicas: int = 2
    created_at: str
    updated_at: str
    latest_task_id: str | None = None
    wasm_path: str | None = None
    image_url: str | None = None
    manifest_path: str | None = None
    deployment_status: DeploymentStatus = "not_deployed"
    endpoint: str | None = None


class FunctionList(BaseModel):
    items: list[Function]
    next_token: str | None = None
