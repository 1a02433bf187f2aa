"""A function runs: upload → real build → push → scaffold → deploy on the local runtime →
invoke through the backend, test-invoke a build, runtime logs, delete undeploys (slow).

The real infrastructure service (componentize-py, the registry, its local Spin runtime and
gateway), DynamoDB Local and moto, the backend with its pollers. Two builds in all.
"""

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import pytest_asyncio

from tests.conftest import create_workspace
from tests.e2e.real_stack import real_stack
from tests.tasks.conftest import upload, wait_for_task

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="module")]

HELLO = (Path(__file__).resolve().parents[3] / "examples" / "hello" / "app.py").read_bytes()
GREETER = b'''"""Greets with the SpinApp variable `greeting`, and prints what it answered."""

from spin_sdk import http, variables
from spin_sdk.http import Request, Response


class IncomingHandler(http.IncomingHandler):
    def handle_request(self, request: Request) -> Response:
        greeting = variables.get("greeting")
        print(f"greeted {request.uri}")
        return Response(200, {"content-type": "text/plain"}, greeting.encode())
'''


@dataclass
class Stack:
    api: httpx.AsyncClient
    workspace_id: str


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def stack(moto_server: str) -> AsyncIterator[Stack]:
    async with real_stack(moto_server, ecr_repository="functions/e2e") as real:
        workspace = await create_workspace(real.api, "e2e-invoke")
        yield Stack(api=real.api, workspace_id=workspace["id"])


async def _deploy(stack: Stack, name: str, source: bytes, **fields: object) -> dict:
    created = await stack.api.post(
        f"/api/workspaces/{stack.workspace_id}/functions", json={"name": name, **fields}
    )
    assert created.status_code == 201, created.text
    function = created.json()
    started = time.monotonic()
    response = await upload(
        stack.api, stack.workspace_id, content=source,
        path=f"/api/functions/{function['id']}/deploy",
    )  # fmt: skip
    assert response.status_code == 202, response.text
    task = await wait_for_task(stack.api, response.json()["task_id"], timeout=600)
    assert task["status"] == "completed", task
    print(f"\nupload → deployed ({name}): {time.monotonic() - started:.1f} s")
    for _ in range(200):
        current = (await stack.api.get(f"/api/functions/{function['id']}")).json()
        if current["endpoint"]:
            return current
        await asyncio.sleep(0.05)
    raise AssertionError(f"the function never got an endpoint: {current}")


async def test_hello_is_invoked_through_the_backend_then_deleted_and_gone(stack: Stack) -> None:
    function = await _deploy(stack, "hello", HELLO, replicas=1)
    base = f"/api/functions/{function['id']}"
    expected = "Hello from a Python function on Spin!\n"

    through = await stack.api.get(
        f"{base}/invoke/any/path?x=1", headers={"X-Invocation-Id": "e2e-1"}
    )
    assert through.status_code == 200, through.text
    assert through.text == expected
    assert through.headers["x-invocation-id"] == "e2e-1"
    async with httpx.AsyncClient() as direct:
        assert (await direct.get(function["endpoint"] + "/")).text == expected

        tested = await stack.api.post(
            f"{base}/test", json={"method": "GET", "path": "/"}, timeout=300
        )
        assert tested.status_code == 200, tested.text
        result = tested.json()
        assert (result["status"], result["body"], result["error_code"]) == (200, expected, None)
        assert result["task_id"] == function["latest_task_id"]

        stats = (await stack.api.get(f"{base}/stats")).json()
        assert stats["count"] == 1 and stats["errors"] == 0

        assert (await stack.api.delete(base)).status_code == 204
        gone = await direct.get(function["endpoint"] + "/")
        assert gone.status_code == 404
        assert gone.json()["code"] == "FUNCTION_NOT_DEPLOYED"
    assert (await stack.api.get(f"{base}/invoke/")).status_code == 404


async def test_a_spinapp_variable_reaches_the_code_and_its_output_is_in_the_logs(
    stack: Stack,
) -> None:
    function = await _deploy(
        stack, "greeter", GREETER, replicas=1, variables={"greeting": "hi from e2e"}
    )
    base = f"/api/functions/{function['id']}"
    answer = await stack.api.get(f"{base}/invoke/who", headers={"X-Invocation-Id": "e2e-var"})
    assert answer.status_code == 200, answer.text
    assert answer.text == "hi from e2e"
    deadline = time.monotonic() + 10
    while True:
        runtime = (await stack.api.get(f"{base}/logs", params={"source": "runtime"})).json()
        lines = [e for e in runtime["items"] if e["invocation_id"] == "e2e-var"]
        if lines:
            break
        assert time.monotonic() < deadline, runtime
        await asyncio.sleep(0.2)
    assert lines[0]["message"] == "greeted /who" and lines[0]["stream"] == "stdout"
    assert lines[0]["source"] == "runtime" and lines[0]["replica"]
    everything = (await stack.api.get(f"{base}/logs")).json()["items"]
    assert {"pipeline", "build", "runtime"} <= {e["source"] for e in everything}
