"""One step of one task: observe the current stage's job, `advance()`, write the outcome.

The poller calls `step` with a task it holds the lease on. The driver only does I/O: it
submits the current stage's job if the stage has none (idempotent by `job_key`) or reads it,
hands the observation to `app.tasks.lifecycle.advance` — which decides everything — and writes
the result through TaskRepository.save_step (lease and version checked). A finished stage
hands over to the next one in the same step. The task's function follows it.
"""

import logging
import random
from collections.abc import Callable, Sequence

from pydantic import ValidationError

from app.clock import moment
from app.config import Settings
from app.errors import DomainError
from app.observability import metrics
from app.storage.functions import FunctionRepository
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
from app.tasks.models import Task, TaskEvent

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
    ) -> None:
        self._tasks = tasks
        self._functions = functions
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
            return await self._save(task, task, (), next_due_ms=None), None
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
        saved = await self._save(task, current, events, next_due_ms=due)
        if saved is not None:
            metrics.record_step(before=task, after=saved)
            if self.on_saved is not None:
                self.on_saved(saved)
        for event in events if saved is not None else ():
            log.log(_LEVELS[event.level], "%s: %s", event.stage or "task", event.message)
        if saved is not None and saved.function_id:
            await self._follow(saved, previous=task)
        return saved, due if saved is None or not saved.is_terminal else None

    async def _save(
        self, before: Task, after: Task, events: Sequence[TaskEvent], *, next_due_ms: int | None
    ) -> Task | None:
        save = self._tasks.save_step
        try:
            return await save(
                before=before,
                after=after,
                events=events,
                owner=self._owner,
                next_due_ms=next_due_ms,
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
            return await save(
                before=before,
                after=failed.task,
                events=failed.events,
                owner=self._owner,
                next_due_ms=None,
            )

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
