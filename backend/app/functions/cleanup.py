"""What deleting a function removes besides its record, and what retention prunes.

Every step runs before the record is deleted, so a step that fails (the deploy or push
service is down: 503) leaves the function in place to be deleted again later, never a running
app or stored artifacts that no record names. In order: `refuse_while_busy`, `undeploy` (the
app at the deploy service), then `FunctionCleanup.remove_function`.

`FunctionCleanup` has two operations:
- `remove_function`: everything of a function, when it is deleted (after it was undeployed):
  the S3 objects under its tasks' prefixes (sources, components, build logs, manifests), the
  registry images its tasks pushed, its task items and its revision items.
- `apply_retention`: after a new revision, the artifacts of revisions older than the newest
  `revision_retention` (objects and images that no kept revision uses); their records stay,
  marked `artifacts_removed`.

Only our own S3 prefixes (app.storage.keys) in our bucket, and images in our own registry under
the function's workspace's repositories (ImageClient.own_image) are ever touched. Images go
first: if the push service is down the delete fails with 503 and nothing is lost — a retry
finds everything still listed.
"""

import logging

from app.config import Settings
from app.errors import Conflict
from app.functions.images import ImageClient
from app.functions.models import FunctionRecord
from app.functions.revisions import Revision
from app.storage import keys
from app.storage.functions import FunctionRepository
from app.storage.objects import ObjectStore
from app.storage.revisions import RevisionRepository
from app.storage.tasks import TaskRepository
from app.tasks.infra_client import RuntimeClient
from app.tasks.models import TERMINAL, Task

log = logging.getLogger(__name__)


def refuse_while_busy(function: FunctionRecord) -> None:
    """409 TASK_IN_PROGRESS while a task holds the function (it may be deploying it)."""
    if function.active_task_id:
        raise Conflict(
            f"Task {function.active_task_id} of function {function.name!r} is still running; "
            "delete the function once it has finished.",
            code="TASK_IN_PROGRESS",
        )


async def deployed_app(
    *, function: FunctionRecord, tasks: TaskRepository
) -> tuple[str, str] | None:
    """(namespace, name) of the function's app at the deploy service, None if it has none.

    A function deployed before its record kept them has an endpoint but no names: they are
    read from its latest task's deploy result instead.
    """
    if function.deployed_namespace and function.deployed_name:
        return function.deployed_namespace, function.deployed_name
    if not (function.endpoint and function.latest_task_id):
        return None
    task = await tasks.get(task_id=function.latest_task_id)
    deployment = task.deployment if task is not None else None
    return (deployment.namespace, deployment.name) if deployment else None


async def undeploy(
    *, runtime: RuntimeClient, tasks: TaskRepository, function: FunctionRecord
) -> None:
    """Stop the function's deployed app at the deploy service (idempotent; 503 when down)."""
    app = await deployed_app(function=function, tasks=tasks)
    if app is None:
        return
    namespace, name = app
    deleted = await runtime.undeploy(namespace=namespace, name=name)
    log.info(
        "function %s undeployed from %s/%s (%s)",
        function.id,
        namespace,
        name,
        "was running" if deleted else "nothing was there",
    )


async def undeploy_workspace(
    *,
    runtime: RuntimeClient,
    functions: FunctionRepository,
    tasks: TaskRepository,
    workspace_id: str,
) -> None:
    """Undeploy every function of a workspace; 409 first if any of them is busy."""
    everything: list[FunctionRecord] = []
    token: str | None = None
    while True:
        page = await functions.list_in_workspace(
            workspace_id=workspace_id, limit=100, next_token=token
        )
        everything.extend(page.items)
        token = page.next_token
        if token is None:
            break
    for function in everything:
        refuse_while_busy(function)
    for function in everything:
        await undeploy(runtime=runtime, tasks=tasks, function=function)


class FunctionCleanup:
    def __init__(
        self,
        *,
        tasks: TaskRepository,
        revisions: RevisionRepository,
        objects: ObjectStore,
        images: ImageClient,
        settings: Settings,
    ) -> None:
        self._tasks = tasks
        self._revisions = revisions
        self._objects = objects
        self._images = images
        self._retention = settings.revision_retention

    async def ensure_idle(self, *, function: FunctionRecord) -> None:
        """409 while a task of the function runs (it would deploy or push after the delete)."""
        await self._finished_tasks(function)

    async def _finished_tasks(self, function: FunctionRecord) -> list[Task]:
        tasks = await self._tasks.all_of_function(
            workspace_id=function.workspace_id, function_id=function.id
        )
        if any(task.status not in TERMINAL for task in tasks):
            raise Conflict(
                "The function has a task in progress; wait for it to finish, then delete",
                code="TASK_IN_PROGRESS",
            )
        return tasks

    async def remove_function(self, *, function: FunctionRecord) -> None:
        """Delete every object, image, task and revision of the function (not the function)."""
        workspace_id, function_id = function.workspace_id, function.id
        tasks = await self._finished_tasks(function)
        revisions = await self._revisions.all_of(workspace_id=workspace_id, function_id=function_id)
        images = {
            image
            for url in [task.image_url for task in tasks] + [r.image_url for r in revisions]
            if (image := self._images.own_image(url, workspace_id=workspace_id)) is not None
        }
        for repository, reference in sorted(images):
            await self._images.delete(repository=repository, reference=reference)
        removed = 0
        for task in tasks:
            for prefix in keys.task_prefixes(workspace_id, task.task_id):
                removed += await self._objects.delete_prefix(prefix=prefix)
        for revision in revisions:
            await self._revisions.delete(revision=revision)
        for task in tasks:
            await self._tasks.delete_finished(task=task)
        log.info(
            "function %s cleaned up: %d objects, %d images, %d tasks, %d revisions",
            function_id, removed, len(images), len(tasks), len(revisions),
        )  # fmt: skip

    async def apply_retention(self, revision: Revision) -> None:
        """Remove the artifacts of the function's revisions older than the newest N."""
        revisions = await self._revisions.all_of(
            workspace_id=revision.workspace_id, function_id=revision.function_id
        )
        newest = max([r.revision for r in revisions] + [revision.revision])
        cutoff = newest - self._retention
        # The new revision is kept whatever the (eventually consistent) listing showed: it may
        # be a rollback to the oldest kept image.
        kept = [r for r in revisions if r.revision > cutoff] + [revision]
        expired = [r for r in revisions if r.revision <= cutoff and not r.artifacts_removed]
        if not expired:
            return
        kept_objects = {key for r in kept for key in self._object_keys(r)}
        workspace_id = revision.workspace_id
        kept_images = {
            image
            for r in kept
            if (image := self._images.own_image(r.image_url, workspace_id=workspace_id))
        }
        for old in expired:
            image = self._images.own_image(old.image_url, workspace_id=workspace_id)
            if image is not None and image not in kept_images:
                await self._images.delete(repository=image[0], reference=image[1])
            objects = [key for key in self._object_keys(old) if key not in kept_objects]
            await self._objects.delete_keys(keys=objects)
            await self._revisions.mark_artifacts_removed(revision=old)
            log.info(
                "revision %d of function %s: artifacts removed (retention %d)",
                old.revision, old.function_id, self._retention,
            )  # fmt: skip

    def _object_keys(self, revision: Revision) -> set[str]:
        bucket = self._objects.bucket
        paths = (
            revision.source_code_path,
            revision.wasm_path,
            revision.manifest_path,
            revision.build_log_path,
        )
        return {key for path in paths if (key := keys.own_object_key(bucket, path))}
