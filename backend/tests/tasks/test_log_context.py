"""Every log line about a task names it: the poller's and the routes' lines, and JSON logs."""

import json
import logging

import httpx
import pytest

from app.logging_setup import JsonFormatter, TextFormatter, task_context
from testing.fake_infra import FakeInfraService
from tests.tasks.conftest import upload, wait_for_task


async def test_the_lines_of_a_tasks_life_all_carry_its_id(
    api: httpx.AsyncClient,
    workspace: dict,
    fake_infra: FakeInfraService,
    caplog: pytest.LogCaptureFixture,
) -> None:
    fake_infra.fail("build", app_name="broken")
    with caplog.at_level(logging.INFO, logger="app"):
        ok = (await upload(api, workspace["id"])).json()["task_id"]
        bad = (await upload(api, workspace["id"], app_name="broken")).json()["task_id"]
        await wait_for_task(api, ok)
        await wait_for_task(api, bad)
    lines = {
        task_id: [r.getMessage() for r in caplog.records if getattr(r, "task_id", None) == task_id]
        for task_id in (ok, bad)
    }
    assert "build task created" in lines[ok]
    assert any("build succeeded" in line for line in lines[ok])
    assert any("task completed" in line for line in lines[ok])
    assert any("SyntaxError" in line for line in lines[bad])
    assert not any("SyntaxError" in line for line in lines[ok])  # no line lands on another task
    task_lines = [r for r in caplog.records if r.name.startswith("app.tasks")]
    assert task_lines and all(getattr(r, "task_id", None) in (ok, bad) for r in task_lines)


def test_json_and_text_lines_show_the_task_id() -> None:
    token = task_context.set("01htask")
    try:
        record = logging.getLogger("app.test").makeRecord(
            "app.test", logging.INFO, __file__, 1, "step %s", ("done",), None
        )
    finally:
        task_context.reset(token)
    assert json.loads(JsonFormatter().format(record))["task_id"] == "01htask"
    assert "[task 01htask]" in TextFormatter().format(record)
    outside = logging.getLogger("app.test").makeRecord(
        "app.test", logging.INFO, __file__, 1, "idle", (), None
    )
    assert "task_id" not in json.loads(JsonFormatter().format(outside))
