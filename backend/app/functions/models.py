"""The stored function: what FunctionRepository reads and writes, and the API renders."""

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

DeploymentStatus = Literal["not_deployed", "building", "deploying", "deployed", "failed"]


class FunctionRecord(BaseModel):
    """A function item (`FN#{id}`), its keys aside; it follows its latest task."""

    model_config = ConfigDict(frozen=True, extra="ignore")

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
    # The task that holds the function (one pipeline at a time); absent when none does.
    active_task_id: str | None = None
