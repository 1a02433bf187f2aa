"""A backend wired to a fake of the infrastructure services over real HTTP.

The fake stands in for services this project does not own in production (testing/fake_infra.py);
DynamoDB and S3 are moto in server mode, as everywhere else.
"""

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager

import httpx
import pytest
from asgi_lifespan import LifespanManager

from app.config import Settings
from app.main import create_app
from testing.fake_infra import FakeInfraService
from tests.conftest import create_workspace, with_overrides

TOKEN = "test-infra-token"
HELLO = b"""from spin_sdk import http
from spin_sdk.http import Request, Response


class IncomingHandler(http.IncomingHandler):
    def handle_request(self, request: Request) -> Response:
        return Response(200, {"content-type": "text/plain"}, b"hello")
"""


def pipeline_settings(settings: Settings, infra_url: str, **overrides: object) -> Settings:
    """Fast polling against the fake, so the tests take seconds, not minutes."""
    values: dict[str, object] = {
        "pollers_enabled": True,
        "build_service_url": infra_url,
        "push_service_url": infra_url,
        "scaffold_service_url": infra_url,
        "deploy_service_url": infra_url,
        "infra_service_token": TOKEN,
        "infra_request_timeout_seconds": 2.0,
        "poll_interval_seconds": 0.2,
        "poll_first_delay_seconds": 0.05,
        "poller_tick_seconds": 0.2,
        "poll_max_attempts": 60,
        "lease_seconds": 5.0,
        # Most tests run many tasks in one workspace; test_limits checks the real defaults.
        "workspace_max_active_tasks": 1000,
        "workspace_max_tasks_per_minute": 1000,
    }
    values.update(overrides)
    return with_overrides(settings, **values)


@asynccontextmanager
async def running_backend(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """One backend process (app + lifespan + its poller), reached over ASGI."""
    app = create_app(settings)
    async with (
        LifespanManager(app, shutdown_timeout=30) as manager,
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=manager.app), base_url="http://testserver"
        ) as http,
    ):
        yield http


@pytest.fixture
def fake_infra() -> Iterator[FakeInfraService]:
    with FakeInfraService(token=TOKEN) as infra:
        yield infra


@pytest.fixture
def fast_settings(settings: Settings, fake_infra: FakeInfraService) -> Settings:
    return pipeline_settings(settings, fake_infra.url)


@pytest.fixture
async def api(fast_settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    async with running_backend(fast_settings) as http:
        yield http


@pytest.fixture
async def workspace(api: httpx.AsyncClient) -> dict:
    return await create_workspace(api)


async def upload(
    client: httpx.AsyncClient,
    workspace_id: str,
    *,
    content: bytes = HELLO,
    filename: str = "app.py",
    app_name: str = "hello",
    path: str = "/api/v1/build",
    headers: dict[str, str] | None = None,
    **fields: str,
) -> httpx.Response:
    data = {"workspace_id": workspace_id, "app_name": app_name, **fields}
    if path.startswith("/api/functions/"):
        data = fields
    return await client.post(
        path, data=data, files={"file": (filename, content)}, headers=headers or {}
    )


async def wait_for_task(
    client: httpx.AsyncClient, task_id: str, *, timeout: float = 30.0, until: str = "terminal"
) -> dict:
    """Poll the task as the frontend does until it is finished (or `until` is reached)."""
    deadline = time.monotonic() + timeout
    while True:
        response = await client.get(f"/api/v1/tasks/{task_id}")
        assert response.status_code == 200, response.text
        task = response.json()
        if until == "terminal" and task["status"] in {"completed", "failed"}:
            return task
        if until == "job" and any(stage.get("job_id") for stage in task["stages"]):
            return task
        if time.monotonic() > deadline:
            raise AssertionError(f"task {task_id} still {task['status']} after {timeout}s: {task}")
        await asyncio.sleep(0.05)
