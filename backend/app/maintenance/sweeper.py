"""The sweeper: what an interrupted upload left behind is removed, on start-up and periodically.

A backend killed mid-upload leaves an unfinished multipart upload (its parts are stored, and
billed, until aborted), or a complete source object whose task was never written. Both are
recognised by age: anything younger than the grace period may belong to an upload in progress
on some replica, and is left alone (an unfinished upload is old once it began, and its last part
arrived, before the grace period). The bucket's lifecycle rules (infra/cloudformation) are the
second net: they abort unfinished uploads after two days and expire old sources.
"""

import asyncio
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from app.container import Container
from app.storage import keys
from app.storage.objects import ObjectStore
from app.storage.tasks import TaskRepository

log = logging.getLogger(__name__)

# Task ids already seen to exist are remembered (a task is never deleted without its
# sources); bounded, so that a long-lived replica's memory stays flat.
_KNOWN_TASKS_LIMIT = 100_000


@dataclass(frozen=True)
class SweepReport:
    aborted_uploads: int
    removed_sources: int


class Sweeper:
    def __init__(
        self,
        *,
        objects: ObjectStore,
        tasks: TaskRepository,
        grace_seconds: float,
        interval_seconds: float,
    ) -> None:
        self._objects = objects
        self._tasks = tasks
        self._grace = timedelta(seconds=grace_seconds)
        self._interval = interval_seconds
        self._known_tasks: set[str] = set()

    async def run(self) -> None:
        """Sweep now, then every interval, until cancelled; a failed sweep is logged."""
        while True:
            try:
                report = await self.sweep()
                if report.aborted_uploads or report.removed_sources:
                    log.info(
                        "sweep: aborted %d unfinished upload(s), removed %d orphaned source(s)",
                        report.aborted_uploads,
                        report.removed_sources,
                    )
            except Exception:
                log.exception("sweep failed; trying again in %.0f s", self._interval)
            await asyncio.sleep(self._interval)

    async def sweep(self) -> SweepReport:
        """One pass over the backend's prefix."""
        cutoff = datetime.now(UTC) - self._grace
        aborted = await self._abort_unfinished_uploads(cutoff)
        removed = await self._remove_orphaned_sources(cutoff)
        return SweepReport(aborted_uploads=aborted, removed_sources=removed)

    async def _abort_unfinished_uploads(self, cutoff: datetime) -> int:
        stale = [
            (key, upload_id)
            async for key, upload_id, initiated in self._objects.list_incomplete_uploads(
                prefix=keys.SOURCES_PREFIX
            )
            if initiated <= cutoff
        ]
        aborted = 0
        for key, upload_id in stale:
            # An upload whose parts still arrive is in progress, however long ago it began.
            last = await self._objects.last_part_uploaded(key=key, upload_id=upload_id)
            if last is not None and last > cutoff:
                continue
            await self._objects.abort_upload(key=key, upload_id=upload_id)
            log.info("aborted the unfinished upload of %s", key)
            aborted += 1
        return aborted

    async def _remove_orphaned_sources(self, cutoff: datetime) -> int:
        orphans: list[str] = []
        async for key, modified in self._objects.list_objects(prefix=keys.SOURCES_PREFIX):
            if modified > cutoff:
                continue
            owner = keys.parse_source_key(key)
            if owner is None or not await self._task_exists(*owner):
                orphans.append(key)
        if orphans:
            await self._objects.delete_keys(keys=orphans)
            for key in orphans:
                log.info("removed %s: no task refers to it", key)
        return len(orphans)

    async def _task_exists(self, workspace_id: str, task_id: str) -> bool:
        if task_id in self._known_tasks:
            return True
        task = await self._tasks.get_consistent(workspace_id=workspace_id, task_id=task_id)
        if task is None:
            return False
        if len(self._known_tasks) >= _KNOWN_TASKS_LIMIT:
            self._known_tasks.clear()
        self._known_tasks.add(task_id)
        return True


def start_sweeper(container: Container) -> asyncio.Task[None]:
    """The sweeper as a named task of the lifespan (which cancels it)."""
    sweeper = Sweeper(
        objects=container.objects,
        tasks=container.tasks,
        grace_seconds=container.settings.sweep_grace_seconds,
        interval_seconds=container.settings.sweep_interval_seconds,
    )
    return asyncio.create_task(sweeper.run(), name="sweeper")
