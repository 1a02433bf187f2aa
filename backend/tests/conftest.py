"""The backend under test: the real app with its lifespan, against DynamoDB Local and moto.

DynamoDB is the session's DynamoDB Local (testing/dynamodb_local.py); S3 is moto at `endpoint`.
"""

from collections.abc import AsyncIterator

import httpx
import pytest
from asgi_lifespan import LifespanManager

from app.bootstrap import ensure_resources
from app.config import Environment, Settings
from app.main import create_app
from testing.dynamodb_local import shared_dynamodb_local


def make_settings(endpoint: str, **overrides: object) -> Settings:
    """Settings for a test app: S3 at moto's `endpoint`, DynamoDB Local (no `.env` is read)."""
    values: dict[str, object] = {
        "app_env": Environment.test,
        "aws_endpoint_url": endpoint,
        "dynamodb_endpoint_url": shared_dynamodb_local(),
        "aws_region": "us-east-1",
        "aws_access_key_id": "testing",
        "aws_secret_access_key": "testing",
        "pollers_enabled": False,
        "poll_interval_seconds": 0.2,
        "poll_first_delay_seconds": 0.05,
        "lease_seconds": 5.0,
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


def with_overrides(settings: Settings, **overrides: object) -> Settings:
    """A validated copy of `settings` with some fields changed."""
    return Settings(_env_file=None, **(dict(settings) | overrides))  # type: ignore[call-arg]


@pytest.fixture
def settings(aws_endpoint: str) -> Settings:
    settings = make_settings(aws_endpoint)
    ensure_resources(settings)
    return settings


@pytest.fixture
async def client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client talking to the app (lifespan entered) over ASGI."""
    app = create_app(settings)
    async with (
        LifespanManager(app) as manager,
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=manager.app), base_url="http://testserver"
        ) as http,
    ):
        yield http


async def create_workspace(client: httpx.AsyncClient, name: str = "team") -> dict:
    response = await client.post("/api/workspaces", json={"name": name})
    assert response.status_code == 201, response.text
    return response.json()


async def create_function(
    client: httpx.AsyncClient, workspace_id: str, name: str = "hello"
) -> dict:
    response = await client.post(f"/api/workspaces/{workspace_id}/functions", json={"name": name})
    assert response.status_code == 201, response.text
    return response.json()
