"""The infrastructure service under test: the real app with its lifespan, against moto."""

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest
from asgi_lifespan import LifespanManager

from infra_service.config import Environment, Settings
from infra_service.main import create_app

BUCKET = "sfbank-blue-functions-code-bucket"
TOKEN = "test-infra-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def make_settings(endpoint: str, scratch: Path, **overrides: Any) -> Settings:
    """Settings for a test app (no .env read); deploys configured only when a test asks."""
    values: dict[str, Any] = {
        "app_env": Environment.test,
        "service_token": TOKEN,
        "aws_endpoint_url": endpoint,
        "aws_region": "us-east-1",
        "aws_access_key_id": "testing",
        "aws_secret_access_key": "testing",
        "scratch_dir": scratch,
        "kubeconfig": None,
        "gateway_port": 0,  # the local runtime's gateway on a free port
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


def s3_client(endpoint: str) -> Any:
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


@pytest.fixture
def s3(aws_endpoint: str) -> Any:
    """A boto3 S3 client on the fresh moto server, with the service's bucket created."""
    client = s3_client(aws_endpoint)
    client.create_bucket(Bucket=BUCKET)
    return client


@pytest.fixture
def settings(aws_endpoint: str, s3: Any, tmp_path: Path) -> Settings:
    return make_settings(aws_endpoint, tmp_path / "scratch")


@pytest.fixture
async def client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """An authenticated client of the app, lifespan entered."""
    app = create_app(settings)
    async with (
        LifespanManager(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://infra.test", headers=AUTH
        ) as http,
    ):
        yield http


async def wait_for_job(
    client: httpx.AsyncClient, collection: str, job_id: str, *, timeout: float = 20
) -> dict[str, Any]:
    """Poll a job until it is succeeded or failed."""
    deadline = time.monotonic() + timeout
    while True:
        response = await client.get(f"/v1/{collection}/{job_id}")
        assert response.status_code == 200, response.text
        job = response.json()
        if job["status"] in ("succeeded", "failed"):
            return job
        assert time.monotonic() < deadline, f"job still {job['status']} after {timeout} s"
        await asyncio.sleep(0.05)


async def run_job(
    client: httpx.AsyncClient, collection: str, body: dict[str, Any], *, timeout: float = 20
) -> dict[str, Any]:
    response = await client.post(f"/v1/{collection}", json=body)
    assert response.status_code == 202, response.text
    return await wait_for_job(client, collection, response.json()["job_id"], timeout=timeout)
