"""Clean-up of what we own of a function: its objects, registry images, tasks and revisions.

Three operations:
- `undeploy`: the function's app at the deploy service (the namespace and name its live
  revision was deployed as), first step of a delete.
- `remove_function`: everything of a function, when it is deleted (after it was undeployed):
  the S3 objects under its tasks' prefixes (sources, components, build logs, manifests), the
  registry images its tasks pushed, its task items and its revision items.
- `apply_retention`: after a new revision, the artifacts of revisions older than the newest
  `revision_retention` (objects and images that no kept revision uses); their records stay,
  marked `artifacts_removed`.

Only our own S3 prefixes (app.storage.keys) in our bucket, and images in our own registry and
repository (ImageClient.own_image) are ever touched. Images go first: if the push service is
down the delete fails with 503 and nothing is lost — a retry finds everything still listed.
"""

import logging

from app.config import Settings
from app.errors import Conflict, ServiceUnavailable
from app.functions.images import ImageClient
from app.functions.models import FunctionRecord
from app.functions.revisions import Revision
from app.storage import keys
from app.storage.objects import ObjectStore
from app.storage.revisions import RevisionRepository
from app.storage.tasks import TaskRepository
from app.tasks.infra_client import InfraRejected, InfraUnavailable, RuntimeClient
from app.tasks.models import TERMINAL, Task

log = logging.getLogger(__name__)


class FunctionCleanup:
    def __init__(
        self,
        *,
        tasks: TaskRepository,
        revisions: RevisionRepository,
        objects: ObjectStore,
        images: ImageClient,
        runtime: RuntimeClient,
        settings: Settings,
    ) -> None:
        self._runtime = runtime
        self._tasks = tasks
        self._revisions = revisions
        self._objects = objects
        self._images = images
        self._retention = settings.revision_retention

    async def ensure_idle(self, *, function: FunctionRecord) -> None:
        """409 while a task of the function runs (it would deploy or push after the delete)."""
        await self._finished_tasks(function)

    async def undeploy(self, *, function: FunctionRecord) -> None:
        """Remove the function's app where its live revision was deployed (503 if the deploy
        service cannot be reached: nothing else is deleted then)."""
        if function.live_revision is None:
            return
        live = await self._revisions.get(
            workspace_id=function.workspace_id,
            function_id=function.id,
            number=function.live_revision,
        )
        if live is None or not live.namespace or not live.name:
            return
        try:
            removed = await self._runtime.undeploy(namespace=live.namespace, name=live.name)
        except (InfraUnavailable, InfraRejected) as exc:
            raise ServiceUnavailable(
                f"The deploy service could not undeploy the function ({exc}); retry the delete",
                code="INFRA_UNAVAILABLE",
            ) from exc
        log.info("function %s undeployed (%s)", function.id, "removed" if removed else "absent")

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
            if (image := self._images.own_image(url)) is not None
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
        kept_images = {image for r in kept if (image := self._images.own_image(r.image_url))}
        for old in expired:
            image = self._images.own_image(old.image_url)
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
