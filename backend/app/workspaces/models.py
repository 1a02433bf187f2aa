"""The stored workspace: what WorkspaceRepository reads and writes, and the API renders."""

from pydantic import ConfigDict

from app.workspaces.schemas import Workspace


class WorkspaceRecord(Workspace):
    """A workspace item (`WS#{id}` / `META`): the API's Workspace and what only storage keeps."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    # Raised and lowered by the task transactions (the workspace's active-task limit).
    active_tasks: int = 0
