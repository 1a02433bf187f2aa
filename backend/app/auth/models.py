"""The stored members and API keys: what their repositories read and write."""

from typing import Literal

from pydantic import BaseModel, ConfigDict

Role = Literal["owner", "member"]


class MemberRecord(BaseModel):
    """A member item (`MEMBER#{subject}`), its keys aside."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    workspace_id: str
    subject: str
    role: Role
    joined_at: str


class ApiKeyRecord(BaseModel):
    """An API key item (`APIKEY#{id}`): metadata and the secret's hash, never the secret."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    id: str
    workspace_id: str
    name: str
    created_at: str
    created_by: str
    secret_hash: str
