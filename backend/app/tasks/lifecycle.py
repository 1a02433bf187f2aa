"""Every status and stage change of a task, as one pure function: `advance()`.

The driver observes the current stage's job (I/O), then asks `advance(task, observation)` for
the task that follows, the pipeline events to log and when the task is due again. Nothing here
reads a clock or the network: time comes in as a `Moment`, delays as a `Policy`.

The rules, written once:
- A task's status is derived from its stages: `failed` once one fails, `completed` once all
  are, `running` once one has started, else `pending`. So a task may move to any later
  state its job's outcome implies — a first submission that finds the job already succeeded
  (a resubmission by `job_key` after a lost answer) completes the stage, and the task with it.
- Statuses only move forward (pending → running → completed | failed); a finished task never
  changes. `check_forward` enforces it on every result.
- A stage fails on the service's own `failed`, on a refused request, or when its poll budget
  runs out (`TIMEOUT`, or `INFRA_UNAVAILABLE` if the service never answered). Transient faults
  only cost a poll.
"""

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from app.clock import Moment
from app.tasks.models import (
    EVENT_MESSAGE_MAX,
    STAGES,
    EventLevel,
    Stage,
    Task,
    TaskEvent,
    TaskOptions,
    TaskStatus,
    TaskType,
    deployment_status_for,
)
from contract.jobs import (
    BuildResult,
    DeployResult,
    JobView,
    PushResult,
    ScaffoldResult,
    StageName,
)

_ORDER: Final[dict[str, int]] = {"pending": 0, "running": 1, "completed": 2, "failed": 2}


class IllegalTransition(Exception):
    """A change the lifecycle forbids (a status going back, a finished task moving): a bug."""


@dataclass(frozen=True)
class Policy:
    """Poll budget and cadence: early polls come quickly, then back off to the interval."""

    max_polls: int
    first_delay_ms: int
    interval_ms: int
    jitter: float = 1.0  # a factor near 1 the driver draws per step, so polls do not align

    def delay_ms(self, polls: int) -> int:
        delay = min(self.interval_ms, self.first_delay_ms * 2 ** max(polls - 1, 0))
        return int(delay * self.jitter)


# How the job of an observation was obtained.
#   first:       the stage had no job; it was submitted (the service may return a job it
#                already had for the key, finished or not: after a lost answer or a crash)
#   resubmitted: as `first`, after earlier submissions whose answers were lost
#   polled:      the stage's job, read by id
#   forgotten:   the service no longer knew the stage's job; it was submitted again
How = Literal["first", "resubmitted", "polled", "forgotten"]


@dataclass(frozen=True)
class JobSeen:
    job: JobView[Any]
    how: How


@dataclass(frozen=True)
class ServiceDown:
    """The service could not be reached, timed out or answered 5xx: try again later."""

    message: str
    timed_out: bool = False


@dataclass(frozen=True)
class ServiceRefused:
    """The service refused the job, or the job could not be asked for at all: final."""

    message: str


Observation = JobSeen | ServiceDown | ServiceRefused


@dataclass(frozen=True)
class Advance:
    task: Task
    events: tuple[TaskEvent, ...] = ()
    # None: the task is finished and leaves the due index. Equal to the moment: due at once
    # (the next stage can be submitted in the same step).
    next_due_ms: int | None = None


@dataclass
class _Draft:
    """The step being worked out: stages and fields change here, then become one new Task."""

    task: Task
    now: Moment
    stages: list[Stage] = field(default_factory=list)
    changes: dict[str, Any] = field(default_factory=dict)
    events: list[TaskEvent] = field(default_factory=list)

    def log(self, stage: StageName | None, level: EventLevel, message: str) -> None:
        self.events.append(
            TaskEvent.model_validate(
                {
                    "time": self.now.iso,
                    "stage": stage,
                    "level": level,
                    "message": message[:EVENT_MESSAGE_MAX],
                }
            )
        )


def new_task(
    *,
    task_id: str,
    task_type: TaskType,
    workspace_id: str,
    app_name: str,
    function_id: str | None,
    options: TaskOptions,
    now: Moment,
    **inputs: Any,
) -> Task:
    """A task as created: every stage pending, one event."""
    stages = tuple(Stage(name=name) for name in STAGES[task_type])
    return Task.model_validate(
        {
            "task_id": task_id,
            "workspace_id": workspace_id,
            "app_name": app_name,
            "function_id": function_id,
            "type": task_type,
            "status": "pending",
            "stage": stages[0].name,
            "stages": stages,
            "options": options,
            "created_at": now.iso,
            "updated_at": now.iso,
            "events": [{"time": now.iso, "message": f"{task_type} task created"}],
            **inputs,
        }
    )


def advance(task: Task, observation: Observation, *, now: Moment, policy: Policy) -> Advance:
    """The task after `observation` of its current stage's job; pure."""
    if task.is_terminal:
        return Advance(task=task)
    index = task.current()
    draft = _Draft(task=task, now=now, stages=list(task.stages))
    if index is None:  # every stage completed, the task not yet marked so
        return _finish(draft, error=None)
    stage = draft.stages[index]
    if isinstance(observation, ServiceRefused):
        return _finish(draft, error=("INFRA_REJECTED", observation.message))
    if isinstance(observation, ServiceDown):
        return _unavailable(draft, index, observation, policy)
    return _seen(draft, index, stage, observation, policy)


def fail(task: Task, *, code: str, message: str, now: Moment) -> Advance:
    """The task failed at its current stage (a step that could not be stored, say)."""
    if task.is_terminal:
        return Advance(task=task)
    return _finish(_Draft(task=task, now=now, stages=list(task.stages)), error=(code, message))


@dataclass(frozen=True)
class FunctionFollow:
    """What the task's function record takes over from the task after a step."""

    changes: dict[str, Any]
    release: bool  # the task is finished: it no longer holds the function


def function_follow(task: Task, *, previous: Task) -> FunctionFollow | None:
    """The function's changes after `previous` became `task`; None when nothing is new."""
    changes: dict[str, Any] = {"updated_at": task.updated_at}
    for name in ("wasm_path", "image_url", "manifest_path", "endpoint"):
        value = getattr(task, name)
        if value and value != getattr(previous, name):
            changes[name] = value
    if task.deployment and task.deployment != previous.deployment:
        # What the function is deployed as: what invoke calls and delete undeploys.
        changes["deployed_namespace"] = task.deployment.namespace
        changes["deployed_name"] = task.deployment.name
    deployment = deployment_status_for(task)
    if deployment and deployment != deployment_status_for(previous):
        changes["deployment_status"] = deployment
    if len(changes) == 1 and not task.is_terminal and task.status == previous.status:
        return None
    return FunctionFollow(changes=changes, release=task.is_terminal)


def _unavailable(draft: _Draft, index: int, seen: ServiceDown, policy: Policy) -> Advance:
    stage = draft.stages[index]
    stage = stage.model_copy(
        update={"polls": stage.polls + 1, "transient_failures": stage.transient_failures + 1}
    )
    draft.stages[index] = stage
    if stage.transient_failures == 1:
        draft.log(stage.name, "warning", f"service unavailable, retrying: {seen.message}")
    if stage.polls >= policy.max_polls:
        code = "TIMEOUT" if seen.timed_out else "INFRA_UNAVAILABLE"
        message = f"The {stage.name} service did not answer within its budget: {seen.message}"
        return _finish(draft, error=(code, message))
    return _continue(draft, next_due_ms=draft.now.ms + policy.delay_ms(stage.polls))


def _seen(draft: _Draft, index: int, stage: Stage, seen: JobSeen, policy: Policy) -> Advance:
    job, name = seen.job, stage.name
    update: dict[str, Any] = {"job_id": job.job_id}
    if seen.how == "forgotten":
        draft.log(name, "warning", "the service forgot the job; resubmitted")
    polls = stage.polls
    if stage.status == "pending":
        update |= {"status": "running", "started_at": draft.now.iso}
        polls = 0
        draft.log(name, "info", f"{name} started (job {job.job_id})")
    update["polls"] = polls + 1
    if stage.transient_failures:
        draft.log(name, "info", "service reachable again")
        update["transient_failures"] = 0
    if job.log_path:
        update["log_path"] = job.log_path
        if name == "build" and job.status in {"succeeded", "failed"}:
            draft.changes["build_log_path"] = job.log_path
    stage = draft.stages[index] = stage.model_copy(update=update)

    if job.status == "succeeded":
        if job.result is None:
            failure = ("INFRA_REJECTED", f"The {name} job succeeded without a result")
            return _finish(draft, error=failure)
        _complete(draft, index, job.result)
        if _all_completed(draft.stages):
            return _finish(draft, error=None)
        return _continue(draft, next_due_ms=draft.now.ms)  # the next stage, at once
    if job.status == "failed":
        code = job.error.code if job.error else f"{name.upper()}_FAILED"
        message = job.error.message if job.error else f"The {name} service reported failure"
        return _finish(draft, error=(code, message))
    if stage.polls >= policy.max_polls:
        return _finish(
            draft, error=("TIMEOUT", f"The {name} stage did not finish within its poll budget")
        )
    return _continue(draft, next_due_ms=draft.now.ms + policy.delay_ms(stage.polls))


def _complete(draft: _Draft, index: int, result: Any) -> None:
    """The stage succeeded: mark it and take over what its result produced."""
    stage = draft.stages[index]
    draft.stages[index] = stage.model_copy(
        update={"status": "completed", "finished_at": draft.now.iso}
    )
    draft.log(stage.name, "info", f"{stage.name} succeeded")
    if isinstance(result, BuildResult):
        draft.changes |= {
            "wasm_path": result.wasm_path,
            "wasm_sha256": result.sha256,
            "wasm_size": result.size,
        }
    elif isinstance(result, PushResult):
        draft.changes["image_url"] = result.image_url
    elif isinstance(result, ScaffoldResult):
        draft.changes["manifest"] = result.manifest
        if result.manifest_path:
            draft.changes["manifest_path"] = result.manifest_path
    elif isinstance(result, DeployResult):
        draft.changes["deployment"] = result
        if result.endpoint:
            draft.changes["endpoint"] = result.endpoint


def _all_completed(stages: Sequence[Stage]) -> bool:
    return all(stage.status == "completed" for stage in stages)


def _status_of(stages: Sequence[Stage]) -> TaskStatus:
    if any(stage.status == "failed" for stage in stages):
        return "failed"
    if _all_completed(stages):
        return "completed"
    if any(stage.status != "pending" for stage in stages):
        return "running"
    return "pending"


def _current_name(stages: Sequence[Stage]) -> StageName:
    for stage in stages:
        if stage.status != "completed":
            return stage.name
    return stages[-1].name


def _continue(draft: _Draft, *, next_due_ms: int) -> Advance:
    return Advance(task=_build(draft), events=tuple(draft.events), next_due_ms=next_due_ms)


def _finish(draft: _Draft, *, error: tuple[str, str] | None) -> Advance:
    if error is not None:
        for index, stage in enumerate(draft.stages):
            if stage.status != "completed":
                if stage.status != "failed":
                    draft.stages[index] = stage.model_copy(
                        update={"status": "failed", "finished_at": draft.now.iso}
                    )
                break
        draft.changes["error_code"], draft.changes["error_message"] = error
        draft.log(_failed_stage(draft.stages), "error", error[1])
    else:
        draft.log(None, "info", "task completed")
    return Advance(task=_build(draft), events=tuple(draft.events), next_due_ms=None)


def _failed_stage(stages: Sequence[Stage]) -> StageName | None:
    return next((stage.name for stage in stages if stage.status == "failed"), None)


def _build(draft: _Draft) -> Task:
    stages = tuple(draft.stages)
    task = draft.task.model_copy(
        update={
            **draft.changes,
            "stages": stages,
            "status": _status_of(stages),
            "stage": _current_name(stages),
            "updated_at": draft.now.iso,
        }
    )
    check_forward(draft.task, task)
    return task


def check_forward(before: Task, after: Task) -> None:
    """Raise IllegalTransition unless every status of `after` is the same or later."""
    if before.is_terminal and after != before:
        raise IllegalTransition(f"task {before.task_id} is {before.status} and cannot change")
    pairs = [(before.status, after.status)] + [
        (old.status, new.status) for old, new in zip(before.stages, after.stages, strict=True)
    ]
    for old, new in pairs:
        if _ORDER[new] < _ORDER[old] or (old in {"completed", "failed"} and new != old):
            raise IllegalTransition(f"status {old!r} cannot become {new!r}")
