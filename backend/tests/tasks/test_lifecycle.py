"""advance(): every status and stage change of a task, as a table of pure cases.

Every job status, at every stage position, by how the job was obtained (first submission, a
resubmission after lost answers, a poll, a resubmission after the service forgot the job),
then the faults (service down, request refused, budgets) and the rules around them.
"""

from typing import Any

import pytest

from app.clock import Moment
from app.tasks import lifecycle
from app.tasks.lifecycle import (
    How,
    IllegalTransition,
    JobSeen,
    Observation,
    Policy,
    ServiceDown,
    ServiceRefused,
    advance,
)
from app.tasks.models import STAGES, Stage, Task, TaskOptions, TaskType, deployment_status_for
from contract.jobs import (
    BuildResult,
    DeployResult,
    JobError,
    JobStatus,
    JobView,
    PushResult,
    ScaffoldResult,
    StageName,
)

NOW = Moment(iso="2026-01-01T00:00:10.000Z", ms=1_767_225_610_000)
POLICY = Policy(max_polls=5, first_delay_ms=100, interval_ms=1000)
RESULTS: dict[StageName, Any] = {
    "build": BuildResult(wasm_path="s3://b/build-artifacts/t/hello.wasm", sha256="ab", size=9),
    "push": PushResult(image_url="registry.test/hello@sha256:ab"),
    "scaffold": ScaffoldResult(manifest="kind: SpinApp\n", manifest_path="s3://b/m.yaml"),
    "deploy": DeployResult(namespace="ns", name="hello", ready_replicas=1, endpoint="http://e"),
}
# (name, task type, index of the current stage)
POSITIONS = [
    ("only", "build", 0),
    ("first", "build-and-deploy", 0),
    ("middle", "build-and-deploy", 1),
    ("last", "build-and-deploy", 3),
]
HOWS: list[How] = ["first", "resubmitted", "polled", "forgotten"]
JOB_STATUSES: list[JobStatus] = ["queued", "running", "succeeded", "failed"]


def task_at(task_type: TaskType, index: int, how: How | None = None) -> Task:
    """A task whose stages before `index` are completed; the current stage as `how` finds it."""
    created = lifecycle.new_task(
        task_id="t1", task_type=task_type, workspace_id="w1", app_name="hello",
        function_id=None, options=TaskOptions(), now=Moment(iso="2026-01-01T00:00:00.000Z", ms=0),
        source_code_path="s3://b/build-sources/w1/t1/app.py",
    )  # fmt: skip
    stages = list(created.stages)
    for i in range(index):
        stages[i] = stages[i].model_copy(
            update={"status": "completed", "job_id": f"job-{i}", "polls": 1}
        )
    if how in ("polled", "forgotten"):
        stages[index] = stages[index].model_copy(
            update={"status": "running", "job_id": "job-old", "polls": 1}
        )
    elif how == "resubmitted":  # earlier answers were lost: polls spent, no job id known
        stages[index] = stages[index].model_copy(update={"polls": 2, "transient_failures": 2})
    status = "running" if index or how in ("polled", "forgotten") else "pending"
    return created.model_copy(
        update={"stages": tuple(stages), "status": status, "stage": stages[index].name}
    )


def job(stage: StageName, status: JobStatus, job_id: str = "job-new") -> JobView[Any]:
    return JobView[Any](
        job_id=job_id,
        status=status,
        result=RESULTS[stage] if status == "succeeded" else None,
        error=JobError(code="BUILD_FAILED", message="app.py:1: bad")
        if status == "failed"
        else None,
        log_path="s3://b/build-logs/t1/build.log",
    )


def step(task: Task, observation: Observation) -> lifecycle.Advance:
    return advance(task, observation, now=NOW, policy=POLICY)


def seen(stage: StageName, status: JobStatus, how: How = "polled") -> JobSeen:
    return JobSeen(job=job(stage, status), how=how)


CASES = [
    (position, task_type, index, how, status)
    for position, task_type, index in POSITIONS
    for how in HOWS
    for status in JOB_STATUSES
]


@pytest.mark.parametrize(("position", "task_type", "index", "how", "status"), CASES)
def test_every_job_status_at_every_stage_position(
    position: str, task_type: TaskType, index: int, how: How, status: JobStatus
) -> None:
    before = task_at(task_type, index, how)
    name = before.stages[index].name
    job_id = "job-old" if how == "polled" else "job-new"
    outcome = advance(
        before, JobSeen(job=job(name, status, job_id), how=how), now=NOW, policy=POLICY
    )
    after, events = outcome.task, [event.message for event in outcome.events]
    stage = after.stages[index]
    last = index == len(before.stages) - 1

    assert stage.job_id == job_id
    assert after.stages[:index] == before.stages[:index]  # earlier stages stay as they were
    assert all(s.status == "pending" for s in after.stages[index + 1 :])
    assert after.updated_at == NOW.iso
    assert (f"{name} started (job {job_id})" in events) == (how in ("first", "resubmitted"))
    assert ("the service forgot the job; resubmitted" in events) == (how == "forgotten")
    assert ("service reachable again" in events) == (how == "resubmitted")
    if how in ("first", "resubmitted"):
        assert stage.started_at == NOW.iso

    if status in ("queued", "running"):
        assert (stage.status, after.status, after.stage) == ("running", "running", name)
        assert outcome.next_due_ms == NOW.ms + POLICY.delay_ms(stage.polls)
        assert after.error_code is None
    elif status == "succeeded":
        # Any later state the outcome implies: a pending stage may complete in one step.
        assert stage.status == "completed" and stage.finished_at == NOW.iso
        assert f"{name} succeeded" in events
        if last:
            assert after.status == "completed" and outcome.next_due_ms is None
            assert events[-1] == "task completed"
        else:
            assert after.status == "running" and outcome.next_due_ms == NOW.ms  # next, at once
            assert after.stage == before.stages[index + 1].name
    else:
        assert (stage.status, after.status) == ("failed", "failed")
        assert (after.error_code, after.error_message) == ("BUILD_FAILED", "app.py:1: bad")
        assert outcome.next_due_ms is None
        assert outcome.events[-1].level == "error"
    lifecycle.check_forward(before, after)


@pytest.mark.parametrize("stage", ["build", "push", "scaffold", "deploy"])
def test_a_succeeded_stage_hands_its_result_to_the_task(stage: StageName) -> None:
    index = STAGES["build-and-deploy"].index(stage)
    before = task_at("build-and-deploy", index, "polled")
    after = step(before, seen(stage, "succeeded", "polled")).task
    produced = {
        "build": {"wasm_path": RESULTS["build"].wasm_path, "wasm_sha256": "ab", "wasm_size": 9},
        "push": {"image_url": RESULTS["push"].image_url},
        "scaffold": {"manifest": "kind: SpinApp\n", "manifest_path": "s3://b/m.yaml"},
        "deploy": {"deployment": RESULTS["deploy"], "endpoint": "http://e"},
    }[stage]
    assert {field: getattr(after, field) for field in produced} == produced
    if stage == "build":
        assert after.build_log_path == "s3://b/build-logs/t1/build.log"


def test_the_first_submission_of_a_single_stage_task_may_find_its_job_already_succeeded() -> None:
    # The service returns the finished job of a job_key resubmitted after a lost answer.
    before = task_at("build", 0, "first")
    assert before.status == "pending"
    outcome = step(before, seen("build", "succeeded", "first"))
    assert outcome.task.status == "completed"
    assert outcome.task.stages[0].status == "completed"
    assert outcome.next_due_ms is None


@pytest.mark.parametrize(("position", "task_type", "index"), [p for p in POSITIONS])
@pytest.mark.parametrize("started", [False, True])
def test_an_unreachable_service_costs_a_poll_and_the_task_waits(
    position: str, task_type: TaskType, index: int, started: bool
) -> None:
    before = task_at(task_type, index, "polled" if started else "first")
    outcome = step(before, ServiceDown(message="connection refused"))
    stage = outcome.task.stages[index]
    assert stage.status == before.stages[index].status
    assert stage.polls == before.stages[index].polls + 1 and stage.transient_failures == 1
    assert outcome.task.status == before.status
    assert outcome.next_due_ms == NOW.ms + POLICY.delay_ms(stage.polls)
    assert [e.level for e in outcome.events] == ["warning"]
    # A second fault in a row is not logged again.
    again = step(outcome.task, ServiceDown(message="still down"))
    assert again.events == ()


@pytest.mark.parametrize(("timed_out", "code"), [(False, "INFRA_UNAVAILABLE"), (True, "TIMEOUT")])
def test_a_service_down_for_the_whole_budget_fails_the_stage(timed_out: bool, code: str) -> None:
    task = task_at("build-and-push", 1, "first")
    for _ in range(POLICY.max_polls - 1):
        task = step(task, ServiceDown(message="down", timed_out=timed_out)).task
    assert task.status == "running"
    outcome = step(task, ServiceDown(message="down", timed_out=timed_out))
    assert outcome.task.status == "failed" and outcome.task.error_code == code
    assert [s.status for s in outcome.task.stages] == ["completed", "failed"]
    assert outcome.next_due_ms is None


def test_a_job_that_runs_past_its_poll_budget_times_out() -> None:
    task = task_at("build", 0, "first")
    for _ in range(POLICY.max_polls - 1):
        task = step(task, seen("build", "running", "polled")).task
    assert task.status == "running"
    outcome = step(task, seen("build", "running", "polled"))
    assert (outcome.task.status, outcome.task.error_code) == ("failed", "TIMEOUT")
    assert "build" in (outcome.task.error_message or "")


@pytest.mark.parametrize(("position", "task_type", "index"), POSITIONS)
def test_a_refused_request_fails_the_task_at_its_stage(
    position: str, task_type: TaskType, index: int
) -> None:
    before = task_at(task_type, index, "first")
    outcome = step(before, ServiceRefused(message="422: bad tag"))
    assert (outcome.task.status, outcome.task.error_code) == ("failed", "INFRA_REJECTED")
    assert outcome.task.stages[index].status == "failed"
    assert outcome.next_due_ms is None


def test_a_succeeded_job_without_a_result_is_refused() -> None:
    empty = JobView[Any](job_id="j", status="succeeded")
    outcome = step(task_at("build", 0, "polled"), JobSeen(job=empty, how="polled"))
    assert (outcome.task.status, outcome.task.error_code) == ("failed", "INFRA_REJECTED")


def test_a_failed_job_without_an_error_gets_the_stages_own_code() -> None:
    bare = JobView[Any](job_id="j", status="failed")
    outcome = step(task_at("build-and-push", 1, "polled"), JobSeen(job=bare, how="polled"))
    assert outcome.task.error_code == "PUSH_FAILED"


@pytest.mark.parametrize("status", JOB_STATUSES)
def test_a_finished_task_never_changes(status: JobStatus) -> None:
    done = advance(
        task_at("build", 0, "polled"),
        JobSeen(job=job("build", "succeeded"), how="polled"),
        now=NOW,
        policy=POLICY,
    ).task
    assert done.status == "completed"
    outcome = step(done, seen("build", status, "polled"))
    assert outcome.task == done and outcome.events == () and outcome.next_due_ms is None
    assert step(done, ServiceDown(message="x")).task == done


def test_check_forward_refuses_a_status_going_back() -> None:
    running = task_at("build", 0, "polled")
    back = running.model_copy(update={"status": "pending"})
    with pytest.raises(IllegalTransition):
        lifecycle.check_forward(running, back)
    done = running.model_copy(update={"status": "completed"})
    with pytest.raises(IllegalTransition):
        lifecycle.check_forward(done, running)
    stage_back = running.model_copy(update={"stages": (Stage(name="build"),)})
    with pytest.raises(IllegalTransition):
        lifecycle.check_forward(running, stage_back)


def test_fail_ends_the_task_at_its_current_stage() -> None:
    outcome = lifecycle.fail(
        task_at("build-and-push", 1, "polled"), code="INTERNAL_ERROR", message="m", now=NOW
    )
    assert (outcome.task.status, outcome.task.error_code) == ("failed", "INTERNAL_ERROR")
    assert [s.status for s in outcome.task.stages] == ["completed", "failed"]
    assert [e.level for e in outcome.events] == ["error"]


def test_polls_back_off_from_the_first_delay_to_the_interval() -> None:
    assert [POLICY.delay_ms(n) for n in range(1, 7)] == [100, 200, 400, 800, 1000, 1000]


def test_each_type_runs_its_stages_in_order() -> None:
    assert STAGES["build-and-deploy"] == ("build", "push", "scaffold", "deploy")
    assert STAGES["build-and-push"] == ("build", "push")
    created = task_at("deploy", 0)
    assert [s.status for s in created.stages] == ["pending"] and created.status == "pending"


def test_only_deploying_tasks_change_a_functions_deployment_status() -> None:
    assert deployment_status_for(task_at("build", 0, "polled")) is None
    assert deployment_status_for(task_at("build-and-deploy", 1, "polled")) == "building"
    assert deployment_status_for(task_at("build-and-deploy", 3, "polled")) == "deploying"
    done = step(task_at("build-and-deploy", 3, "polled"), seen("deploy", "succeeded")).task
    assert deployment_status_for(done) == "deployed"
    failed = step(task_at("deploy", 0, "polled"), seen("deploy", "failed")).task
    assert deployment_status_for(failed) == "failed"


def test_the_function_follows_what_is_new_and_is_released_when_the_task_ends() -> None:
    before = task_at("build-and-deploy", 0, "polled")
    built = step(before, seen("build", "succeeded", "polled")).task
    follow = lifecycle.function_follow(built, previous=before)
    assert follow is not None and not follow.release
    assert follow.changes == {"updated_at": NOW.iso, "wasm_path": RESULTS["build"].wasm_path}
    pushed = step(built, seen("push", "succeeded", "first")).task
    follow = lifecycle.function_follow(pushed, previous=built)
    assert follow is not None and follow.changes["deployment_status"] == "deploying"
    still = step(before, seen("build", "running", "polled")).task
    assert lifecycle.function_follow(still, previous=before) is None
    failed = step(before, ServiceRefused(message="no")).task
    ended = lifecycle.function_follow(failed, previous=before)
    assert ended is not None and ended.release and ended.changes["deployment_status"] == "failed"
