"""Models of members and API keys."""

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, StringConstraints

Role = Literal["owner", "member"]


class Member(BaseModel):
    subject: str
    role: Role
    joined_at: str


class MemberList(BaseModel):
    items: list[Member]


class MemberUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: Role = "member"


class ApiKeyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]


class ApiKey(BaseModel):
    id: str
    workspace_id: str
    name: str
    created_at: str
    created_by: str


class ApiKeyCreated(ApiKey):
    key: str  # shown once, never stored


class ApiKeyList(BaseModel):
    items: list[ApiKey]
