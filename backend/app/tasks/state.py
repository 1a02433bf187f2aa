"""The task state machine, written once: which stages a task runs and which status may follow which.

A task's `status` keeps the four values the frontend switches on; each stage has the same four.
Every transition the pollers or the API make is checked here before it is written.
"""

from typing import Final, Literal

TaskStatus = Literal["pending", "running", "completed", "failed"]
StageName = Literal["build", "push", "scaffold", "deploy"]
TaskType = Literal["build", "push", "scaffold", "deploy", "build-and-push", "build-and-deploy"]

PENDING: Final = "pending"
RUNNING: Final = "running"
COMPLETED: Final = "completed"
FAILED: Final = "failed"

ACTIVE_STATUSES: Final = frozenset({PENDING, RUNNING})
TERMINAL_STATUSES: Final = frozenset({COMPLETED, FAILED})

# Which stages each task type runs, in order.
STAGES: Final[dict[str, tuple[StageName, ...]]] = {
    "build": ("build",),
    "push": ("push",),
    "scaffold": ("scaffold",),
    "deploy": ("deploy",),
    "build-and-push": ("build", "push"),
    "build-and-deploy": ("build", "push", "scaffold", "deploy"),
}

# status → the statuses that may follow it (a finished task never goes back).
ALLOWED: Final[dict[str, frozenset[str]]] = {
    PENDING: frozenset({RUNNING, FAILED}),
    RUNNING: frozenset({RUNNING, COMPLETED, FAILED}),
    COMPLETED: frozenset(),
    FAILED: frozenset(),
}


class IllegalTransition(Exception):
    """A transition the state machine forbids (a bug or a stale writer)."""


def check_transition(current: str, new: str) -> None:
    """Raise IllegalTransition unless `current → new` is allowed."""
    if new not in ALLOWED.get(current, frozenset()):
        raise IllegalTransition(f"task status {current!r} cannot become {new!r}")


def initial_stages(task_type: str) -> list[dict[str, object]]:
    """The stage list of a new task: every stage pending."""
    return [
        {"name": name, "status": PENDING, "started_at": None, "finished_at": None}
        for name in STAGES[task_type]
    ]


def current_stage(stages: list[dict]) -> dict | None:
    """The first stage not yet completed, or None when all are."""
    for stage in stages:
        if stage["status"] != COMPLETED:
            return stage
    return None


def is_last_stage(stages: list[dict], name: str) -> bool:
    return stages[-1]["name"] == name


def deployment_status_for(task_type: str, status: str, stage: str | None) -> str | None:
    """What a function's `deployment_status` becomes; None when the task does not deploy."""
    if "deploy" not in STAGES[task_type]:
        return None
    if status == FAILED:
        return "failed"
    if status == COMPLETED:
        return "deployed"
    return "deploying" if stage in {"scaffold", "deploy"} else "building"
