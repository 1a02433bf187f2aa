"""The stored function: what FunctionRepository reads and writes, and the API renders."""

from pydantic import ConfigDict, Field

from app.functions.schemas import Function


class FunctionRecord(Function):
    """A function item (`FN#{id}`): the API's Function and what only storage keeps."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    # The task that holds the function (one pipeline at a time); absent when none does.
    active_task_id: str | None = None
    # How many revisions were recorded: the next one is numbered revision_count + 1.
    revision_count: int = Field(default=0, ge=0)
    # What the last completed deploy made: the app (namespace, name) at the deploy service,
    # which invoke calls through `endpoint` and delete undeploys. Cleared on undeploy.
    deployed_namespace: str | None = None
    deployed_name: str | None = None
