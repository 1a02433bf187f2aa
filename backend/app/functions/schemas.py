"""Request and response models of functions."""

from typing import Annotated, Literal

from pydantic import BaseModel, Field, StringConstraints, model_validator

from app.api.fields import Description, RequestModel, Variables, optional_not_null

# The name becomes the SpinApp's name and a label `core.spinkube.dev/app.<name>.status`, whose
# name part may hold 63 characters: hence a DNS-1123 label of at most 52.
FunctionName = Annotated[
    str,
    StringConstraints(min_length=1, max_length=52, pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"),
]
Replicas = Annotated[int, Field(ge=1, le=100)]


class FunctionCreate(RequestModel):
    name: FunctionName
    runtime: Literal["python"] = "python"
    description: Description = ""
    variables: Variables = Field(default_factory=dict)
    replicas: Replicas = 2


class FunctionUpdate(RequestModel):
    """What may change after creation; the name is fixed (it names the deployed SpinApp).

    A field left out stays as it is; `variables` replaces the whole set.
    """

    description: Description = optional_not_null()
    variables: Variables = optional_not_null()
    replicas: Replicas = optional_not_null()

    @model_validator(mode="after")
    def _something_to_change(self) -> "FunctionUpdate":
        if not self.model_fields_set:
            raise ValueError("give at least one of: description, variables, replicas")
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
    # The revision serving now (GET /api/functions/{id}/revisions/{n}); None before a deploy.
    live_revision: int | None = None


class FunctionList(BaseModel):
    items: list[Function]
    next_token: str | None = None


RedeployAction = Literal["started", "none", "next_deploy"]


class Redeploy(BaseModel):
    """What a change of settings does to the deployed app (PATCH's answer says it)."""

    action: RedeployAction  # started: a task deploys the live image with the new settings
    message: str
    task_id: str | None = None
    location: str | None = None  # the task's status document, to poll


class FunctionUpdated(Function):
    """The function after a PATCH, and what happens to the app that is deployed."""

    redeploy: Redeploy
