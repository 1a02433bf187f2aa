"""Request and response models of workspaces."""

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

WorkspaceName = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)
]
Description = Annotated[str, StringConstraints(max_length=1000)]


class WorkspaceCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: WorkspaceName
    description: Description = ""


class WorkspaceUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: WorkspaceName | None = None
    description: Description | None = None

    @model_validator(mode="after")
    def _something_to_change(self) -> "WorkspaceUpdate":
        if not self.model_fields_set:
            raise ValueError("give at least one of: name, description")
        if "name" in self.model_fields_set and self.name is None:
            raise ValueError("name cannot be null")
        return self


class Workspace(BaseModel):
    id: str
    name: str
    description: str = ""
    owner: str
    created_at: str
    updated_at: str


class WorkspaceList(BaseModel):
    items: list[Workspace]
    next_token: str | None = Field(
        default=None, description="Pass as `next_token` to get the next page; absent on the last."
    )
