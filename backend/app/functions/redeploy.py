"""Deploying a function's stored revision again: rollback, scale, and new settings.

None of these builds: each is a task of the function (the function's claim makes a second one
409 while one runs), polled like any other, and its success records a new revision.
- rollback: a `deploy` task of the chosen revision's manifest as it was applied (its image
  digest, replicas and variables); the new revision points at that revision's image.
- scale: a `deploy` task of the live revision's manifest with `spec.replicas` replaced.
- new settings (PATCH variables or replicas): new values of the same variables and/or another
  replica count re-render the live manifest (`deploy`); variables added or removed must be
  declared in the image's locked app, so the live component is pushed again with them and
  scaffolded (`redeploy`: push → scaffold → deploy, no build).
"""

from typing import Any

from app.auth.access import Access
from app.errors import Conflict, Gone
from app.functions.manifest import with_settings
from app.functions.models import FunctionRecord
from app.functions.revisions import Revision
from app.storage.revisions import RevisionRepository, revision_not_found
from app.tasks.creation import CreatedTask, FunctionTaskOrder, create_function_task
from app.tasks.models import DeployReason, TaskOptions
from app.tasks.service import TaskRepos


def not_deployed(function: FunctionRecord) -> Conflict:
    return Conflict(
        f"Function {function.name} has no live revision: deploy it first",
        code="FUNCTION_NOT_DEPLOYED",
    )


async def live_revision(*, revisions: RevisionRepository, function: FunctionRecord) -> Revision:
    """The revision serving now (409 FUNCTION_NOT_DEPLOYED when there is none)."""
    if function.live_revision is None:
        raise not_deployed(function)
    live = await revisions.get(
        workspace_id=function.workspace_id, function_id=function.id, number=function.live_revision
    )
    if live is None:
        raise not_deployed(function)
    return live


def _deploy_of(
    revision: Revision, *, manifest: str, reason: DeployReason, replicas: int | None
) -> FunctionTaskOrder:
    """A deploy task of `manifest`, carrying the revision's image and source for the record."""
    inputs: dict[str, Any] = {
        "manifest": manifest,
        "image_url": revision.image_url,
        "wasm_path": revision.wasm_path,
        "source_code_path": revision.source_code_path,
        "source_sha256": revision.source_sha256,
        "deploy_reason": reason,
        "redeploys_revision": revision.revision,
    }
    if manifest == revision.manifest:
        inputs["manifest_path"] = revision.manifest_path
    options = TaskOptions(
        namespace=revision.namespace, replicas=replicas, variables=revision.variables
    )
    return FunctionTaskOrder(task_type="deploy", options=options, inputs=inputs)


async def rollback(
    *,
    access: Access,
    repos: TaskRepos,
    revisions: RevisionRepository,
    function: FunctionRecord,
    revision: int | None,
    idempotency_key: str | None,
) -> CreatedTask:
    """Deploy `revision` (default: the one before the live one) again, as it was."""

    async def prepare() -> FunctionTaskOrder:
        live = await live_revision(revisions=revisions, function=function)
        number = revision if revision is not None else live.revision - 1
        if number < 1:
            raise Conflict(
                f"Function {function.name} has only one revision: there is none to go back to",
                code="NO_PREVIOUS_REVISION",
            )
        if number == live.revision:
            raise Conflict(f"Revision {number} is already live", code="REVISION_ALREADY_LIVE")
        target = await revisions.get(
            workspace_id=function.workspace_id, function_id=function.id, number=number
        )
        if target is None:
            raise revision_not_found(function.id, number)
        if target.artifacts_removed:
            raise Gone(
                f"Revision {number} is past the retention setting: its image and artifacts "
                "were removed, so it cannot be deployed again",
                code="REVISION_ARTIFACTS_REMOVED",
            )
        return _deploy_of(
            target, manifest=target.manifest, reason="rollback", replicas=target.replicas
        )

    return await create_function_task(
        access=access, repos=repos, function=function,
        request={"action": "rollback", "revision": revision}, prepare=prepare,
        idempotency_key=idempotency_key,
    )  # fmt: skip


async def scale(
    *,
    access: Access,
    repos: TaskRepos,
    revisions: RevisionRepository,
    function: FunctionRecord,
    replicas: int,
    idempotency_key: str | None,
) -> CreatedTask:
    """Deploy the live revision again with `replicas` (0: stopped, still deployed)."""

    async def prepare() -> FunctionTaskOrder:
        live = await live_revision(revisions=revisions, function=function)
        manifest = with_settings(live.manifest, replicas=replicas)
        return _deploy_of(live, manifest=manifest, reason="scale", replicas=replicas)

    return await create_function_task(
        access=access, repos=repos, function=function,
        request={"action": "scale", "replicas": replicas}, prepare=prepare,
        idempotency_key=idempotency_key,
    )  # fmt: skip


async def apply_settings(
    *,
    access: Access,
    repos: TaskRepos,
    live: Revision,
    function: FunctionRecord,
    variables: dict[str, str],
    replicas: int | None,
) -> CreatedTask:
    """Deploy the live revision's component with new variables and/or replicas."""

    async def prepare() -> FunctionTaskOrder:
        if set(variables) == set(live.variables) or live.wasm_path is None:
            if set(variables) != set(live.variables):
                raise Conflict(
                    "The live revision was deployed from a manifest without a component "
                    "of ours; deploy the function's source to change its variables",
                    code="REDEPLOY_NEEDS_BUILD",
                )
            manifest = with_settings(live.manifest, replicas=replicas, variables=variables)
            return _deploy_of(live, manifest=manifest, reason="settings", replicas=replicas)
        # Other variable names: the locked app must declare them, so push again (no build).
        options = TaskOptions(namespace=live.namespace, replicas=replicas, variables=variables)
        inputs: dict[str, Any] = {
            "wasm_path": live.wasm_path,
            "source_code_path": live.source_code_path,
            "source_sha256": live.source_sha256,
            "deploy_reason": "settings",
            "redeploys_revision": live.revision,
        }
        return FunctionTaskOrder(task_type="redeploy", options=options, inputs=inputs)

    return await create_function_task(
        access=access, repos=repos, function=function,
        request={"action": "settings", "variables": variables, "replicas": replicas},
        prepare=prepare, idempotency_key=None,
    )  # fmt: skip
