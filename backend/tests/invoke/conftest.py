"""A backend with the fake infrastructure service, whose deployed apps answer real HTTP."""

import asyncio
import time

import httpx
import pytest

from tests.conftest import create_function
from tests.tasks import conftest as pipeline
from tests.tasks.conftest import upload, wait_for_task

# The pipeline's fixtures: a backend whose pollers drive the fake infrastructure service.
fake_infra = pipeline.fake_infra
fast_settings = pipeline.fast_settings
api = pipeline.api
workspace = pipeline.workspace


async def deployed_function(
    api: httpx.AsyncClient, workspace_id: str, name: str = "hello", **fields: object
) -> dict:
    """A function deployed through the pipeline to the fake (its endpoint answers)."""
    if fields:
        response = await api.post(
            f"/api/workspaces/{workspace_id}/functions", json={"name": name, **fields}
        )
        assert response.status_code == 201, response.text
        function = response.json()
    else:
        function = await create_function(api, workspace_id, name)
    response = await upload(api, workspace_id, path=f"/api/functions/{function['id']}/deploy")
    assert response.status_code == 202, response.text
    task = await wait_for_task(api, response.json()["task_id"])
    assert task["status"] == "completed", task
    deadline = time.monotonic() + 10
    while True:  # the function follows its task right after the task's own write
        current = (await api.get(f"/api/functions/{function['id']}")).json()
        if current["endpoint"] and current["latest_task_id"] == task["task_id"]:
            return current
        assert time.monotonic() < deadline, current
        await asyncio.sleep(0.02)


@pytest.fixture
async def function(api: httpx.AsyncClient, workspace: dict) -> dict:
    return await deployed_function(api, workspace["id"])
