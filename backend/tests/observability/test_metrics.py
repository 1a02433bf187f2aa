"""GET /metrics after a real pipeline run: what operators see."""

import asyncio
import re

import httpx

from app.config import Settings
from app.observability.metrics import record_invocation
from testing.fake_infra import FakeInfraService
from tests.conftest import create_workspace, with_overrides
from tests.invoke.conftest import deployed_function
from tests.tasks.conftest import running_backend, upload


def _value(text: str, sample: str) -> float:
    match = re.search(rf"^{re.escape(sample)} ([0-9.e+-]+)$", text, re.M)
    return float(match.group(1)) if match else 0.0


async def _finish(api: httpx.AsyncClient, task_id: str) -> dict:
    for _ in range(200):
        task = (await api.get(f"/api/v1/tasks/{task_id}")).json()
        if task["status"] in ("completed", "failed"):
            return task
        await asyncio.sleep(0.05)
    raise AssertionError("the task did not finish")


async def test_a_pipeline_run_shows_in_task_stage_poll_upload_and_infra_metrics(
    api: httpx.AsyncClient, fake_infra: FakeInfraService
) -> None:
    fake_infra.succeed_after("build", polls=2)
    before = (await api.get("/metrics")).text
    workspace = await create_workspace(api)
    ok = (await upload(api, workspace["id"])).json()
    await _finish(api, ok["task_id"])
    fake_infra.fail("build", after_polls=1)
    bad = (await upload(api, workspace["id"], app_name="broken")).json()
    await _finish(api, bad["task_id"])
    response = await api.get("/metrics")
    assert response.headers["content-type"].startswith("text/plain")
    after = response.text

    def grew(sample: str, by: float = 1) -> bool:
        return _value(after, sample) - _value(before, sample) >= by

    assert grew('faas_tasks_created_total{type="build"}', 2)
    assert grew('faas_tasks_finished_total{outcome="completed",type="build"}')
    assert grew('faas_tasks_finished_total{outcome="BUILD_FAILED",type="build"}')
    assert grew('faas_stage_duration_seconds_count{stage="build",status="completed"}')
    assert grew('faas_stage_duration_seconds_count{stage="build",status="failed"}')
    assert grew("faas_poll_lag_seconds_count", 2)
    assert grew('faas_infra_request_duration_seconds_count{call="submit",stage="build"}', 2)
    assert grew("faas_upload_bytes_total", 2 * 100)
    assert 'faas_tasks_active{stage="build"}' in after


async def test_invocations_are_counted_by_function_and_status(api: httpx.AsyncClient) -> None:
    record_invocation("fn-1", 200, 0.012)
    record_invocation("fn-1", 504, 30.0)
    text = (await api.get("/metrics")).text
    assert _value(text, 'faas_invocations_total{function_id="fn-1",status="504"}') >= 1
    assert _value(text, 'faas_invocation_duration_seconds_count{function_id="fn-1"}') >= 2


async def test_with_a_token_metrics_want_it(fast_settings: Settings) -> None:
    secured = with_overrides(fast_settings, metrics_token="s3cret-metrics-token")
    async with running_backend(secured) as api:
        refused = await api.get("/metrics")
        assert refused.status_code == 401
        assert refused.headers["content-type"].startswith("application/problem+json")
        wrong = await api.get("/metrics", headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401
        allowed = await api.get(
            "/metrics", headers={"Authorization": "Bearer s3cret-metrics-token"}
        )
        assert allowed.status_code == 200 and "faas_tasks_created_total" in allowed.text


async def test_an_invocation_through_the_proxy_is_counted_by_function_and_status(
    api: httpx.AsyncClient, workspace: dict
) -> None:
    function = await deployed_function(api, workspace["id"], name="counted")
    sample = f'faas_invocations_total{{function_id="{function["id"]}",status="200"}}'
    before = _value((await api.get("/metrics")).text, sample)
    for _ in range(3):
        assert (await api.get(f"/api/functions/{function['id']}/invoke/")).status_code == 200
    after = (await api.get("/metrics")).text
    assert _value(after, sample) - before == 3
    assert f'faas_invocation_duration_seconds_count{{function_id="{function["id"]}"}}' in after
