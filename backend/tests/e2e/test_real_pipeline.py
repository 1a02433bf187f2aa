"""The whole path through the backend API with the real infrastructure service (slow).

Backend (pollers on) → reference infra service (componentize-py, OCI push) → Debian's
docker-registry on loopback, all against DynamoDB Local and moto in server mode. The artifact is
read back with skopeo, an independent client; the component is loaded with wasmtime.
"""

import hashlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import boto3
import httpx
import pytest
import pytest_asyncio
import wasmtime
from wasmtime.component import Component

from app.config import Settings
from testing.oci_format import check_spin_artifact
from tests.conftest import create_workspace
from tests.e2e.real_stack import real_stack
from tests.tasks.conftest import upload, wait_for_task

# One stack for the module: the tests share its event loop.
pytestmark = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="module")]

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"
BROKEN = b"""from spin_sdk import http


class IncomingHandler(http.IncomingHandler):
    def handle_request(self, request)
        return None
"""


@dataclass
class Stack:
    api: httpx.AsyncClient
    settings: Settings
    workspace_id: str

    def s3_object(self, s3_path: str) -> bytes:
        bucket, key = s3_path.removeprefix("s3://").split("/", 1)
        client = boto3.client(
            "s3",
            endpoint_url=self.settings.aws_endpoint_url,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        return client.get_object(Bucket=bucket, Key=key)["Body"].read()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def stack(moto_server: str) -> AsyncIterator[Stack]:
    async with real_stack(
        moto_server, ecr_repository="functions/e2e", workspace_max_tasks_per_minute=100
    ) as real:
        workspace = await create_workspace(real.api, "e2e")
        yield Stack(api=real.api, settings=real.settings, workspace_id=workspace["id"])


async def test_hello_becomes_a_component_and_a_spin_oci_artifact(stack: Stack) -> None:
    source = (EXAMPLES / "hello" / "app.py").read_bytes()
    started = time.monotonic()
    response = await upload(
        stack.api, stack.workspace_id, content=source, path="/api/v1/build-and-push"
    )
    assert response.status_code == 202, response.text
    task = await wait_for_task(stack.api, response.json()["task_id"], timeout=300)
    print(f"\nbuild and push of examples/hello: {time.monotonic() - started:.1f}s")
    assert task["status"] == "completed", task

    wasm = stack.s3_object(task["result"]["wasm_path"])
    engine_config = wasmtime.Config()
    engine_config.wasm_component_model = True
    engine_config.cranelift_opt_level = "none"  # validated and typed all the same, in half the time
    Component(wasmtime.Engine(engine_config), wasm)  # raises unless it is a valid component

    check_spin_artifact(
        image_url=task["result"]["image_url"],
        app_name="hello",
        wasm_sha256=hashlib.sha256(wasm).hexdigest(),
        wasm_size=len(wasm),
    )


async def test_the_same_source_again_is_served_from_the_build_cache(stack: Stack) -> None:
    source = (EXAMPLES / "hello" / "app.py").read_bytes()
    first = await wait_for_task(
        stack.api,
        (await upload(stack.api, stack.workspace_id, content=source)).json()["task_id"],
        timeout=300,
    )
    second = await wait_for_task(
        stack.api,
        (await upload(stack.api, stack.workspace_id, content=source)).json()["task_id"],
        timeout=60,
    )
    assert first["status"] == second["status"] == "completed"
    stage = second["stages"][0]

    def seconds(stamp: str) -> float:
        from app.clock import parse_iso

        return parse_iso(stamp).timestamp()

    took = seconds(stage["finished_at"]) - seconds(stage["started_at"])
    print(f"\ncached build stage, as the task records it: {took:.2f}s")
    logs = (await stack.api.get(f"/api/v1/tasks/{second['task_id']}/logs")).json()["items"]
    assert any("cache" in entry["message"] for entry in logs if entry["source"] == "build")
    assert stack.s3_object(second["result"]["wasm_path"]) == stack.s3_object(
        first["result"]["wasm_path"]
    )


async def test_a_syntax_error_fails_the_build_naming_the_line(stack: Stack) -> None:
    response = await upload(stack.api, stack.workspace_id, content=BROKEN, app_name="broken")
    task = await wait_for_task(stack.api, response.json()["task_id"], timeout=120)
    assert task["status"] == "failed"
    assert task["error_code"] == "BUILD_FAILED"
    assert "line 5" in task["error_message"]
    assert task["result"]["build_log_path"]
