"""Request and response models of workspaces."""

from pydantic import BaseModel, Field, model_validator

from app.api.fields import Description, DisplayName, RequestModel, optional_not_null

WorkspaceName = DisplayName


class WorkspaceCreate(RequestModel):
    name: WorkspaceName
    description: Description = ""


class WorkspaceUpdate(RequestModel):
    """Give one or both; a field left out stays as it is."""

    name: WorkspaceName = optional_not_null()
    description: Description = optional_not_null()

    @model_validator(mode="after")
    def _something_to_change(self) -> "WorkspaceUpdate":
        if not self.model_fields_set:
            raise ValueError("give at least one of: name, description")
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
