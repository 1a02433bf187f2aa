"""Per-workspace limits: concurrent active tasks and task creations per minute."""

import asyncio
import time

from app.config import Settings
from testing.fake_infra import FakeInfraService
from tests.conftest import create_function, create_workspace
from tests.tasks.conftest import pipeline_settings, running_backend, upload, wait_for_task


async def test_the_sixth_concurrent_pipeline_is_429_and_other_workspaces_are_unaffected(
    settings: Settings, fake_infra: FakeInfraService
) -> None:
    fake_infra.succeed_after(None, polls=10_000)  # nothing finishes during the test
    limited = pipeline_settings(
        settings, fake_infra.url, workspace_max_active_tasks=5, workspace_max_tasks_per_minute=100
    )
    async with running_backend(limited) as api:
        busy = await create_workspace(api, "busy")
        calm = await create_workspace(api, "calm")
        functions = [await create_function(api, busy["id"], f"fn-{i}") for i in range(6)]
        answers = [
            await upload(api, busy["id"], path=f"/api/functions/{fn['id']}/deploy")
            for fn in functions
        ]
        assert [a.status_code for a in answers] == [202] * 5 + [429]
        refused = answers[-1]
        assert refused.headers["content-type"] == "application/problem+json"
        assert refused.json()["code"] == "ACTIVE_TASK_LIMIT"
        assert int(refused.headers["retry-after"]) > 0
        listed = (await api.get(f"/api/workspaces/{busy['id']}/tasks")).json()["items"]
        assert len(listed) == 5  # the refused request wrote nothing

        assert (await upload(api, calm["id"])).status_code == 202


async def test_a_finished_task_frees_its_slot(
    settings: Settings, fake_infra: FakeInfraService
) -> None:
    limited = pipeline_settings(
        settings, fake_infra.url, workspace_max_active_tasks=1, workspace_max_tasks_per_minute=100
    )
    async with running_backend(limited) as api:
        workspace = await create_workspace(api)
        first = await upload(api, workspace["id"])
        assert first.status_code == 202
        await wait_for_task(api, first.json()["task_id"])
        second = await upload(api, workspace["id"])
        assert second.status_code == 202


async def test_creations_per_minute_are_limited(
    settings: Settings, fake_infra: FakeInfraService
) -> None:
    limited = pipeline_settings(
        settings, fake_infra.url, workspace_max_active_tasks=100, workspace_max_tasks_per_minute=3
    )
    async with running_backend(limited) as api:
        workspace = await create_workspace(api)
        await _away_from_a_minute_boundary()
        codes = [(await upload(api, workspace["id"])).status_code for _ in range(4)]
        assert codes == [202, 202, 202, 429]
        refused = await upload(api, workspace["id"])
        assert refused.json()["code"] == "RATE_LIMITED"
        assert 0 < int(refused.headers["retry-after"]) <= 60


async def _away_from_a_minute_boundary(margin: float = 15.0) -> None:
    """The limit counts per calendar minute: uploads straddling a boundary would see two."""
    left = 60 - time.time() % 60
    if left < margin:
        await asyncio.sleep(left + 0.1)
