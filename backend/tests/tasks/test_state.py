"""The task state machine."""

import pytest

from app.tasks import state


@pytest.mark.parametrize(
    ("current", "new"),
    [
        ("pending", "running"),
        ("pending", "failed"),
        ("running", "completed"),
        ("running", "failed"),
    ],
)
def test_forward_transitions_are_allowed(current: str, new: str) -> None:
    state.check_transition(current, new)


@pytest.mark.parametrize(
    ("current", "new"),
    [
        ("completed", "running"),
        ("completed", "failed"),
        ("failed", "running"),
        ("failed", "completed"),
        ("running", "pending"),
        ("pending", "completed"),
    ],
)
def test_a_finished_task_never_goes_back(current: str, new: str) -> None:
    with pytest.raises(state.IllegalTransition):
        state.check_transition(current, new)


def test_each_type_runs_its_stages_in_order() -> None:
    assert [s["name"] for s in state.initial_stages("build-and-deploy")] == [
        "build",
        "push",
        "scaffold",
        "deploy",
    ]
    assert [s["name"] for s in state.initial_stages("build-and-push")] == ["build", "push"]
    assert all(s["status"] == "pending" for s in state.initial_stages("deploy"))


def test_current_stage_is_the_first_not_completed() -> None:
    stages = state.initial_stages("build-and-push")
    assert state.current_stage(stages)["name"] == "build"
    stages[0]["status"] = "completed"
    assert state.current_stage(stages)["name"] == "push"
    stages[1]["status"] = "completed"
    assert state.current_stage(stages) is None


def test_only_deploying_tasks_change_a_functions_deployment_status() -> None:
    assert state.deployment_status_for("build", "running", "build") is None
    assert state.deployment_status_for("build-and-deploy", "running", "push") == "building"
    assert state.deployment_status_for("build-and-deploy", "running", "deploy") == "deploying"
    assert state.deployment_status_for("build-and-deploy", "completed", "deploy") == "deployed"
    assert state.deployment_status_for("deploy", "failed", "deploy") == "failed"
