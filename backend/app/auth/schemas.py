"""Models of members and API keys."""

from typing import Literal

from pydantic import BaseModel

from app.api.fields import DisplayName, RequestModel

Role = Literal["owner", "member"]


class Member(BaseModel):
    subject: str
    role: Role
    joined_at: str


class MemberList(BaseModel):
    items: list[Member]


class MemberUpdate(RequestModel):
    role: Role = "member"


class ApiKeyCreate(RequestModel):
    name: DisplayName


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
