"""The status route's document, built directly, is byte for byte the response model's."""

from decimal import Decimal

import pytest

from app.clock import Moment
from app.tasks import lifecycle
from app.tasks.models import Task, TaskOptions
from app.tasks.schemas import TaskStatusResponse
from app.tasks.service import status_json


def _created(task_type: str = "build-and-deploy") -> Task:
    return lifecycle.new_task(
        task_id="01JTASK0000000000000000000", task_type=task_type,  # type: ignore[arg-type]
        workspace_id="01JWORKSPACE00000000000000", app_name="héllo", function_id=None,
        options=TaskOptions(variables={"A": "1"}), now=Moment(iso="2026-12-02T01:00:00Z", ms=0),
        source_code_path="s3://b/build-sources/w/t/app.py", source_sha256="ab" * 32,
    )  # fmt: skip


# A service may report more than the contract names: odd values must encode the same too.
DEPLOYMENT = {
    "namespace": "faas-1", "name": "app", "ready_replicas": 2,
    "endpoint": "http://x/", "extra_float": 1e20, "ratio": 0.1, "big": 10**20,
    "decimal": Decimal("1.5"), "nested": {"a": [1, None, True]},
    "text": "tab\t nl\n ctl\x01 quote\" slash/ é ☃",
}  # fmt: skip


def _variants() -> list[Task]:
    created = _created()
    stages = list(created.stages)
    stages[0] = stages[0].model_copy(
        update={"status": "completed", "started_at": "s", "finished_at": "f", "job_id": "j1",
                "log_path": "s3://logs/1", "polls": 3}
    )  # fmt: skip
    stages[1] = stages[1].model_copy(update={"status": "running", "job_id": "j2"})
    running = created.model_copy(
        update={"status": "running", "stage": stages[1].name, "stages": tuple(stages),
                "wasm_path": "s3://w/app.wasm", "wasm_sha256": "cd" * 32, "wasm_size": 12,
                "image_url": "registry/x:1", "version": 4}
    )  # fmt: skip
    deployed = Task.model_validate(
        {
            **_created("deploy").model_dump(),
            "status": "failed",
            "stage": None,
            "deployment": DEPLOYMENT,
            "endpoint": "http://x/",
            "manifest": "apiVersion: v1\nkind: SpinApp\n",
            "error_code": "DEPLOY_FAILED",
            "error_message": 'it "failed" \u2014 badly',
            "created_by": "user:a",
        }
    )
    others = [_created(task_type) for task_type in ("scaffold", "push", "build-and-push")]
    return [created, running, deployed, *others]


@pytest.mark.parametrize("task", _variants(), ids=lambda task: f"{task.type}-{task.status}")
def test_the_status_document_is_the_response_models(task: Task) -> None:
    assert status_json(task) == TaskStatusResponse.of(task).model_dump_json().encode()
