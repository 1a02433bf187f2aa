"""The stored workspace: what WorkspaceRepository reads and writes, and the API renders."""

from pydantic import BaseModel, ConfigDict


class WorkspaceRecord(BaseModel):
    """A workspace item (`WS#{id}` / `META`), its keys aside."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    id: str
    name: str
    description: str = ""
    owner: str
    created_at: str
    updated_at: str
    # Raised and lowered by the task transactions (the workspace's active-task limit).
    active_tasks: int = 0
