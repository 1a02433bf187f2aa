"""A task's and a function's logs: pipeline events and the build log the service wrote to S3."""

from collections.abc import Iterator

import boto3
import httpx
import pytest

from app.config import Settings
from testing.fake_infra import FakeInfraService
from tests.conftest import create_function, create_workspace
from tests.tasks.conftest import TOKEN, pipeline_settings, running_backend, upload, wait_for_task

BUILD_LOG = "Collecting spin-sdk\nComponentizing app\n" + "".join(f"step {i}\n" for i in range(30))


@pytest.fixture
def logging_infra(settings: Settings) -> Iterator[FakeInfraService]:
    template = f"s3://{settings.s3_bucket}/build-logs/{{job_id}}/build.log"
    with FakeInfraService(token=TOKEN, log_path=template) as infra:
        yield infra


def _write(settings: Settings, s3_path: str, text: str) -> None:
    key = s3_path.split("/", 3)[3]
    boto3.client(
        "s3",
        endpoint_url=settings.aws_endpoint_url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    ).put_object(Bucket=settings.s3_bucket, Key=key, Body=text.encode())


async def test_function_logs_hold_build_lines_and_pipeline_events(
    settings: Settings, logging_infra: FakeInfraService
) -> None:
    logging_infra.fail("build", "BUILD_FAILED", "app.py line 3: invalid syntax")
    async with running_backend(pipeline_settings(settings, logging_infra.url)) as api:
        workspace = await create_workspace(api)
        function = await create_function(api, workspace["id"], "logged")
        response = await upload(
            api, workspace["id"], path=f"/api/functions/{function['id']}/deploy"
        )
        task = await wait_for_task(api, response.json()["task_id"])
        assert task["result"]["build_log_path"]
        _write(settings, task["result"]["build_log_path"], BUILD_LOG)

        everything = (await api.get(f"/api/functions/{function['id']}/logs")).json()
        messages = [entry["message"] for entry in everything["items"]]
        assert "Componentizing app" in messages
        assert any("build-and-deploy task created" in m for m in messages)
        assert any("invalid syntax" in m for m in messages)
        assert {entry["source"] for entry in everything["items"]} == {"build", "pipeline"}
        assert all(entry["task_id"] == task["task_id"] for entry in everything["items"])

        tail = (await api.get(f"/api/functions/{function['id']}/logs", params={"tail": 3})).json()
        assert [e["message"] for e in tail["items"]] == messages[-3:]

        pages, token = [], None
        while True:
            params = {"limit": 10} | ({"next_token": token} if token else {})
            page = (await api.get(f"/api/v1/tasks/{task['task_id']}/logs", params=params)).json()
            pages.append(page["items"])
            token = page["next_token"]
            if not token:
                break
        assert [e["message"] for page in pages for e in page] == messages
        assert len(pages) > 3

        later = await api.get(
            f"/api/functions/{function['id']}/logs", params={"since": "2999-01-01T00:00:00Z"}
        )
        assert later.json()["items"] == []


async def test_logs_of_an_unknown_function_are_404(api: httpx.AsyncClient) -> None:
    response = await api.get("/api/functions/01hzzzzzzzzzzzzzzzzzzzzzzz/logs")
    assert response.status_code == 404
    assert response.json()["code"] == "FUNCTION_NOT_FOUND"
