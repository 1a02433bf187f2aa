"""A function's revisions: what each successful deploy ran, recorded once and never changed.

A revision is made from the task that deployed it (`revision_of`, pure): its image with the
digest, the SpinApp manifest as applied, the source and component it came from, the variables
and replicas the manifest sets, the task, who asked and when. Rollback, scale and new settings
deploy a revision's image again and make a new revision (`reason` says which, and
`source_revision` which one it started from): the list is the function's deploy history, and
the live one is always the newest. Only `artifacts_removed` ever changes (retention).
"""

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from app.api.fields import RequestModel
from app.functions.manifest import settings_of
from app.tasks.models import DeployReason, Task

RevisionNumber = Annotated[int, Field(ge=1, le=99_999_999)]
# In JSON bodies a number must be a JSON number: "1", 1.0 or true are refused, not coerced.
_StrictRevision = Annotated[int, Field(ge=1, le=99_999_999, strict=True)]
ScaleReplicas = Annotated[int, Field(ge=0, le=100, strict=True)]


class Revision(BaseModel):
    """One revision as stored (`REV#{function_id}#{n:08d}`) and shown."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    revision: RevisionNumber
    function_id: str
    workspace_id: str
    reason: DeployReason = "deploy"
    # Rollback: the revision returned to; scale and settings: the live one that was changed.
    source_revision: int | None = None
    image_url: str
    manifest: str
    manifest_path: str | None = None
    source_code_path: str | None = None
    source_sha256: str | None = None
    wasm_path: str | None = None
    build_log_path: str | None = None
    variables: dict[str, str] = Field(default_factory=dict)
    replicas: int | None = None  # None: autoscaled
    namespace: str | None = None
    name: str | None = None
    endpoint: str | None = None
    task_id: str
    deployed_by: str | None = None
    created_at: str
    # Retention removed its objects and registry image: it can no longer be deployed again.
    artifacts_removed: bool = False


class RevisionView(Revision):
    """A revision as the API shows it: with whether it is the one serving now."""

    live: bool = False


class RevisionList(BaseModel):
    items: list[RevisionView]
    next_token: str | None = None


class RollbackRequest(RequestModel):
    """`POST /api/functions/{id}/rollback`: the revision to return to (default: the previous)."""

    revision: _StrictRevision | None = None


class ScaleRequest(RequestModel):
    """`POST /api/functions/{id}/scale`: 0 stops the app but keeps it deployed."""

    replicas: ScaleReplicas


def revision_of(task: Task, *, number: int) -> Revision | None:
    """The revision a completed deploying task made; None when it deployed no manifest."""
    if task.function_id is None or not task.manifest or task.status != "completed":
        return None
    deployed = settings_of(task.manifest)
    image = task.image_url or deployed.image
    if not image:
        return None
    deployment = task.deployment
    return Revision(
        revision=number,
        function_id=task.function_id,
        workspace_id=task.workspace_id,
        reason=task.deploy_reason or "deploy",
        source_revision=task.redeploys_revision,
        image_url=image,
        manifest=task.manifest,
        manifest_path=task.manifest_path,
        source_code_path=task.source_code_path,
        source_sha256=task.source_sha256,
        wasm_path=task.wasm_path,
        build_log_path=task.build_log_path,
        variables=deployed.variables,
        replicas=deployed.replicas,
        namespace=deployment.namespace if deployment else task.options.namespace,
        name=deployment.name if deployment else deployed.name,
        endpoint=task.endpoint,
        task_id=task.task_id,
        deployed_by=task.created_by,
        created_at=task.updated_at,
    )


def view(revision: Revision, *, live: int | None) -> RevisionView:
    return RevisionView.model_validate({**revision.model_dump(), "live": revision.revision == live})
