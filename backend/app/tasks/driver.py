"""One step of one task: observe the current stage's job, `advance()`, write the outcome.

The poller calls `step` with a task it holds the lease on. The driver only does I/O: it
submits the current stage's job if the stage has none (idempotent by `job_key`) or reads it,
hands the observation to `app.tasks.lifecycle.advance` — which decides everything — and writes
the result through TaskRepository.save_step (lease and version checked). A finished stage
hands over to the next one in the same step. The task's function follows it.
"""

import logging
import random
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from pydantic import ValidationError

from app.clock import moment
from app.config import Settings
from app.errors import DomainError
from app.functions.revisions import Revision, revision_of
from app.observability import metrics
from app.storage.functions import FunctionRepository
from app.storage.revisions import RevisionRepository
from app.storage.tasks import TaskRepository
from app.tasks import lifecycle
from app.tasks.infra_client import InfraClient, InfraRejected, InfraUnavailable
from app.tasks.jobs import JobDefaults, MissingInput, job_request
from app.tasks.lifecycle import (
    How,
    JobSeen,
    Observation,
    Policy,
    ServiceDown,
    ServiceRefused,
)
from app.tasks.models import STAGES, Task, TaskEvent

log = logging.getLogger(__name__)

_LEVELS = {"info": logging.INFO, "warning": logging.WARNING, "error": logging.ERROR}


class TaskDriver:
    def __init__(
        self,
        *,
        tasks: TaskRepository,
        functions: FunctionRepository,
        infra: InfraClient,
        settings: Settings,
        owner: str,
        revisions: RevisionRepository,
        retention: Callable[[Revision], Awaitable[None]] | None = None,
    ) -> None:
        self._tasks = tasks
        self._functions = functions
        self._revisions = revisions
        # Called after a revision is recorded: prunes the artifacts of revisions past retention.
        self._retention = retention
        self._infra = infra
        self._settings = settings
        self._defaults = JobDefaults.of(settings)
        self._owner = owner
        # Told of every step this replica stored (the live event streams show it at once; other
        # replicas learn of it from the table's change stream).
        self.on_saved: Callable[[Task], None] | None = None

    def _policy(self) -> Policy:
        settings = self._settings
        return Policy(
            max_polls=settings.poll_max_attempts,
            first_delay_ms=int(settings.poll_first_delay_seconds * 1000),
            interval_ms=int(settings.poll_interval_seconds * 1000),
            jitter=random.uniform(0.9, 1.1),
        )

    async def step(self, task: Task) -> tuple[Task | None, int | None]:
        """Advance a claimed task by one step and write the outcome.

        Returns the task as stored (None if the write lost the lease) and when it is due next.
        """
        if task.is_terminal:  # finished, but still in the due index: only leave it
            return (await self._save(task, task, (), next_due_ms=None))[0], None
        current, events, due = task, list[TaskEvent](), None
        policy = self._policy()
        for _ in task.stages:  # a finished stage hands over to the next at once
            observation = await self._observe(current)
            now = moment()
            outcome = lifecycle.advance(current, observation, now=now, policy=policy)
            current, due = outcome.task, outcome.next_due_ms
            events.extend(outcome.events)
            if due is None or due > now.ms:
                break
        revision = await self._revision_follow(current, previous=task)
        extras = revision[0] if revision else []
        saved, written = await self._save(task, current, events, next_due_ms=due, extras=extras)
        if saved is not None:
            metrics.record_step(before=task, after=saved)
            if self.on_saved is not None:
                self.on_saved(saved)
        for event in events if saved is not None else ():
            log.log(_LEVELS[event.level], "%s: %s", event.stage or "task", event.message)
        if saved is not None and revision is not None and written:
            await self._recorded(revision[1])
        elif saved is not None and saved.function_id:
            if revision is not None:
                log.warning("task %s: its function moved on; no revision recorded", task.task_id)
            await self._follow(saved, previous=task)
        return saved, due if saved is None or not saved.is_terminal else None

    async def _save(
        self,
        before: Task,
        after: Task,
        events: Sequence[TaskEvent],
        *,
        next_due_ms: int | None,
        extras: Sequence[dict[str, Any]] = (),
    ) -> tuple[Task | None, bool]:
        """Write the step (with `extras` if it is the last); the task and whether they were."""
        save = self._tasks.save_step
        try:
            return await self._tasks.save_last_step(
                before=before,
                after=after,
                events=events,
                owner=self._owner,
                next_due_ms=next_due_ms,
                extras=extras,
            )
        except DomainError as exc:  # the step's outcome cannot be stored: fail the task instead
            if before.is_terminal or exc.status >= 500:
                raise
            log.error("task %s: its step could not be stored (%s); failing it", before.task_id, exc)
            failed = lifecycle.fail(
                before,
                code="INTERNAL_ERROR",
                message=f"The task's result could not be stored: {exc.detail}",
                now=moment(),
            )
            stored = await save(
                before=before,
                after=failed.task,
                events=failed.events,
                owner=self._owner,
                next_due_ms=None,
            )
            return stored, False

    async def _observe(self, task: Task) -> Observation:
        """Submit the stage's job if it has none (or the service forgot it), else read it."""
        index = task.current()
        assert index is not None  # advance() finishes a task whose stages all completed
        stage = task.stages[index]
        try:
            if stage.job_id:
                job = await self._infra.status(stage=stage.name, job_id=stage.job_id)
                if job is not None:
                    return JobSeen(job=job, how="polled")
            how: How = "forgotten" if stage.job_id else "resubmitted" if stage.polls else "first"
            request = job_request(task, stage.name, self._defaults)
            job = await self._infra.submit(stage=stage.name, request=request)
            return JobSeen(job=job, how=how)
        except InfraUnavailable as exc:
            return ServiceDown(message=str(exc), timed_out=exc.timed_out)
        except (InfraRejected, MissingInput) as exc:
            return ServiceRefused(message=str(exc))
        except ValidationError as exc:  # the stage's request breaks the contract
            return ServiceRefused(message=f"the {stage.name} request is not valid: {exc}")

    async def _follow(self, task: Task, *, previous: Task) -> None:
        """Mirror the task's outcome on its function."""
        follow = lifecycle.function_follow(task, previous=previous)
        if follow is None or task.function_id is None:
            return
        await self._functions.follow_task(
            workspace_id=task.workspace_id,
            function_id=task.function_id,
            task_id=task.task_id,
            changes=follow.changes,
            release=follow.release,
        )

    async def _revision_follow(
        self, task: Task, *, previous: Task
    ) -> tuple[list[dict[str, Any]], Revision] | None:
        """For a deploy that just succeeded: the function's follow and its new revision, as
        actions to write with the task's last step (so that a client who sees the task
        completed sees its revision too); None for any other step."""
        if not (task.function_id and task.status == "completed" and previous.status != task.status):
            return None
        follow = lifecycle.function_follow(task, previous=previous)
        if follow is None or "deploy" not in STAGES[task.type]:
            return None
        function = await self._functions.get_consistent(
            workspace_id=task.workspace_id, function_id=task.function_id
        )
        if function is None or function.active_task_id != task.task_id:
            return None
        number = function.revision_count + 1
        try:
            return self._revision_actions(task, follow.changes, number, function.revision_count)
        except (DomainError, ValidationError) as exc:  # a hand-written manifest, say
            log.warning("task %s: no revision recorded (%s)", task.task_id, exc)
            return None

    def _revision_actions(
        self, task: Task, changes: dict[str, Any], number: int, count: int
    ) -> tuple[list[dict[str, Any]], Revision] | None:
        revision = revision_of(task, number=number)
        if revision is None or task.function_id is None:
            return None
        changes = {**changes, "live_revision": number, "revision_count": number}
        # What runs now, whether this task made it or redeployed it (a rollback's inputs).
        changes["image_url"] = revision.image_url
        changes |= {
            name: value
            for name in ("wasm_path", "manifest_path")
            if (value := getattr(revision, name)) is not None
        }
        changes["variables"] = revision.variables
        if revision.replicas is not None:
            changes["replicas"] = revision.replicas
        actions = self._functions.follow_actions(
            workspace_id=task.workspace_id,
            function_id=task.function_id,
            task_id=task.task_id,
            changes=changes,
            release=True,
            revision=(self._revisions.item(revision), count),
        )
        return actions, revision

    async def _recorded(self, revision: Revision) -> None:
        """A revision was recorded: prune what retention no longer keeps."""
        log.info("revision %d of function %s recorded", revision.revision, revision.function_id)
        if self._retention is None:
            return
        try:
            await self._retention(revision)
        except Exception:  # tidying only: the next deploy's retention tries again
            log.exception("retention after revision %d failed", revision.revision)
