"""`POST /v1/test-invocations` with fake_host.py as the sandbox: the component from S3,
checked against the sha256 its build recorded, run once without a deploy."""

import hashlib
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from conftest import BUCKET, make_settings
from runtime.local_stack import FAKE_HOST, fake_component, running_service


@pytest.fixture
async def api(aws_endpoint: str, s3: Any, tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    settings = make_settings(
        aws_endpoint,
        tmp_path / "scratch",
        runtime_host_command=[sys.executable, str(FAKE_HOST)],
    )
    async with running_service(settings, s3) as service:
        yield service.api


def put_component(s3: Any, data: bytes, *, sha: str | None = None, task: str = "t1") -> str:
    key = f"build-artifacts/{task}/hello.wasm"
    metadata = {"sha256": sha or hashlib.sha256(data).hexdigest()}
    s3.put_object(Bucket=BUCKET, Key=key, Body=data, Metadata=metadata)
    return f"s3://{BUCKET}/{key}"


async def test_a_built_component_answers_a_test_request(api: httpx.AsyncClient, s3: Any) -> None:
    wasm_path = put_component(s3, fake_component(body="hi", print="printed by the guest"))
    body = {
        "app_name": "hello",
        "wasm_path": wasm_path,
        "variables": {"greeting": "hey"},
        "request": {"method": "POST", "path": "/vars"},
    }
    answer = await api.post("/v1/test-invocations", json=body)
    assert answer.status_code == 200, answer.text
    result = answer.json()
    assert (result["status"], result["body"], result["error_code"]) == (
        200,
        '{"greeting": "hey"}',
        None,
    )
    assert result["stdout"] == "printed by the guest\n"
    again = await api.post("/v1/test-invocations", json=body | {"request": {"path": "/x"}})
    assert again.json()["body"] == "hi"


async def test_a_component_that_does_not_match_its_recorded_sha256_is_refused(
    api: httpx.AsyncClient, s3: Any
) -> None:
    wasm_path = put_component(s3, fake_component(), sha="0" * 64)
    answer = await api.post(
        "/v1/test-invocations", json={"app_name": "hello", "wasm_path": wasm_path}
    )
    assert (answer.status_code, answer.json()["code"]) == (409, "ARTIFACT_CORRUPT")


async def test_a_missing_component_is_404_and_a_foreign_bucket_422(api: httpx.AsyncClient) -> None:
    missing = await api.post(
        "/v1/test-invocations",
        json={"app_name": "hello", "wasm_path": f"s3://{BUCKET}/build-artifacts/none/hello.wasm"},
    )
    assert (missing.status_code, missing.json()["code"]) == (404, "ARTIFACT_NOT_FOUND")
    foreign = await api.post(
        "/v1/test-invocations", json={"app_name": "hello", "wasm_path": "s3://other-bucket/x.wasm"}
    )
    assert foreign.status_code == 422


async def test_a_sandbox_that_dies_answers_function_error_with_its_stderr(
    api: httpx.AsyncClient, s3: Any
) -> None:
    wasm_path = put_component(s3, fake_component(crash=3, stderr="cannot link spin:sqlite"))
    answer = await api.post(
        "/v1/test-invocations", json={"app_name": "hello", "wasm_path": wasm_path}
    )
    result = answer.json()
    assert (answer.status_code, result["status"], result["error_code"]) == (
        200,
        500,
        "FUNCTION_ERROR",
    )
    assert "cannot link spin:sqlite" in result["stderr"]
    assert "exit status 3" in result["error_message"]


async def test_a_request_that_is_not_valid_is_refused_before_anything_runs(
    api: httpx.AsyncClient, s3: Any
) -> None:
    wasm_path = put_component(s3, fake_component())
    answer = await api.post(
        "/v1/test-invocations",
        json={
            "app_name": "hello",
            "wasm_path": wasm_path,
            "request": {"path": "/", "body": "not base64!", "body_encoding": "base64"},
        },
    )
    assert answer.status_code == 422
