"""A backend with its pollers against the fake infrastructure service, plus direct views of
what it stored (every S3 key, every DynamoDB item) for the clean-up tests."""

from collections.abc import AsyncIterator, Iterator
from typing import Any

import boto3
import httpx
import pytest

from app.config import Settings
from testing.fake_infra import FakeInfraService
from tests.conftest import create_function, create_workspace
from tests.tasks.conftest import (
    HELLO,
    TOKEN,
    pipeline_settings,
    running_backend,
    upload,
    wait_for_task,
)

REGISTRY = "registry.fake.test"  # the fake push service's registry: our own in these tests


def body_app(text: str) -> bytes:
    """A function whose answer is `text` (so that two deploys differ in source and body)."""
    return HELLO.replace(b'b"hello"', f"b{text!r}".encode())


@pytest.fixture
def fake_infra() -> Iterator[FakeInfraService]:
    with FakeInfraService(token=TOKEN, registry=REGISTRY) as infra:
        infra.instant()
        yield infra


@pytest.fixture
def fast_settings(settings: Settings, fake_infra: FakeInfraService) -> Settings:
    return pipeline_settings(settings, fake_infra.url, ecr_registry_url=REGISTRY)


@pytest.fixture
async def api(fast_settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    async with running_backend(fast_settings) as http:
        yield http


@pytest.fixture
async def function(api: httpx.AsyncClient) -> dict[str, Any]:
    workspace = await create_workspace(api)
    return await create_function(api, workspace["id"])


async def deploy(api: httpx.AsyncClient, function: dict[str, Any], text: str) -> dict[str, Any]:
    """Upload a source answering `text` to the function's deploy route; the finished task."""
    answer = await upload(
        api, function["workspace_id"], content=body_app(text),
        path=f"/api/functions/{function['id']}/deploy",
    )  # fmt: skip
    assert answer.status_code == 202, answer.text
    task = await wait_for_task(api, answer.json()["task_id"])
    assert task["status"] == "completed", task
    return task


async def finished(api: httpx.AsyncClient, answer: httpx.Response) -> dict[str, Any]:
    """The task a 202 answer started, once it is finished."""
    assert answer.status_code == 202, answer.text
    assert answer.headers["Location"] == f"/api/v1/tasks/{answer.json()['task_id']}"
    return await wait_for_task(api, answer.json()["task_id"])


class Stored:
    """What the emulators hold, read directly (not through the app)."""

    def __init__(self, settings: Settings) -> None:
        options: dict[str, Any] = {
            "region_name": "us-east-1",
            "aws_access_key_id": "testing",
            "aws_secret_access_key": "testing",
        }
        self.bucket = settings.s3_bucket
        self.table = settings.dynamodb_table
        self.s3 = boto3.client("s3", endpoint_url=settings.aws_endpoint_url, **options)
        self.dynamodb = boto3.client(
            "dynamodb", endpoint_url=settings.dynamodb_endpoint_url, **options
        )

    def object_keys(self) -> set[str]:
        pages = self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket)
        return {obj["Key"] for page in pages for obj in page.get("Contents", [])}

    def put(self, key: str, body: bytes = b"keep me") -> None:
        self.s3.put_object(Bucket=self.bucket, Key=key, Body=body)

    def items(self) -> list[dict[str, Any]]:
        pages = self.dynamodb.get_paginator("scan").paginate(TableName=self.table)
        return [item for page in pages for item in page["Items"]]

    def items_naming(self, value: str) -> list[dict[str, Any]]:
        """Every item with `value` anywhere in its keys or attributes."""
        return [item for item in self.items() if value in str(item)]


@pytest.fixture
def stored(fast_settings: Settings) -> Stored:
    return Stored(fast_settings)
