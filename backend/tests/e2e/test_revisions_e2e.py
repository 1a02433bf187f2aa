"""Revisions on the real path (slow): two real builds, rollback, scale and delete, served.

Backend (pollers on) → reference infra service (componentize-py, OCI push, the local deploy
target and its gateway) → Debian's docker-registry, on DynamoDB Local and moto. Invoking means
a GET of the endpoint the deploy reported, as any client of the function does.
"""

import asyncio
import time
from typing import Any

import boto3
import httpx
import pytest

from tests.conftest import create_function, create_workspace
from tests.e2e.real_stack import real_stack
from tests.functions.conftest import body_app
from tests.tasks.conftest import upload, wait_for_task

pytestmark = pytest.mark.e2e
REPOSITORY = "functions/revisions"


async def _served(endpoint: str, body: str, *, timeout: float = 30) -> httpx.Response:
    """The endpoint's answer once it is `body` (the gateway moves traffic when ready)."""
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient(trust_env=False, timeout=10) as http:
        while True:
            answer = await http.get(f"{endpoint}/")
            if answer.text == body or time.monotonic() > deadline:
                return answer
            await asyncio.sleep(0.05)


async def _done(api: httpx.AsyncClient, answer: httpx.Response) -> dict[str, Any]:
    assert answer.status_code == 202, answer.text
    task = await wait_for_task(api, answer.json()["task_id"], timeout=300)
    assert task["status"] == "completed", task
    return task


async def test_two_builds_rollback_scale_and_delete_on_the_local_runtime(moto_server: str) -> None:
    async with real_stack(moto_server, ecr_repository=REPOSITORY) as real:
        api, settings, registry, infra = real.api, real.settings, real.registry, real.infra
        workspace = await create_workspace(api, "e2e")
        function = await create_function(api, workspace["id"], name="flip")
        url = f"/api/functions/{function['id']}"
        deploys = []
        for text in ("one", "two"):
            answer = await upload(
                api, workspace["id"], content=body_app(text), path=f"{url}/deploy"
            )
            deploys.append(await _done(api, answer))
        endpoint = deploys[-1]["result"]["endpoint"]
        assert (await _served(endpoint, "two")).text == "two"

        started = time.monotonic()
        rollback = await api.post(f"{url}/rollback", json={"revision": 1})
        assert (await _served(endpoint, "one")).text == "one"
        print(f"\nrollback → revision 1's body served: {time.monotonic() - started:.2f} s")
        await _done(api, rollback)
        invoked = await api.get(f"{url}/invoke/")  # through the API, as users invoke it
        assert (invoked.status_code, invoked.text) == (200, "one")
        revisions = (await api.get(f"{url}/revisions")).json()["items"]
        assert [(r["revision"], r["reason"], r["live"]) for r in revisions] == [
            (3, "rollback", True), (2, "deploy", False), (1, "deploy", False),
        ]  # fmt: skip
        assert revisions[0]["image_url"] == revisions[2]["image_url"]

        await _done(api, await api.post(f"{url}/scale", json={"replicas": 0}))
        stopped = await _served(endpoint, "")
        assert stopped.status_code == 503, stopped.text
        assert stopped.json()["code"] == "FUNCTION_SCALED_TO_ZERO"
        invoked = await api.get(f"{url}/invoke/")
        assert invoked.status_code == 503, invoked.text
        assert invoked.json()["code"] == "FUNCTION_SCALED_TO_ZERO"
        await _done(api, await api.post(f"{url}/scale", json={"replicas": 2}))
        assert (await _served(endpoint, "one")).text == "one"
        async with httpx.AsyncClient(base_url=infra.url, headers=infra.headers) as service:
            namespace = revisions[0]["namespace"]
            app = (await service.get(f"/v1/deployments/{namespace}/flip")).json()
            assert (app["replicas"], app["ready_replicas"]) == (2, 2)

            assert (await api.delete(url)).status_code == 204
            gone = await service.get(f"/v1/deployments/{namespace}/flip")
            assert gone.status_code == 404
        async with httpx.AsyncClient(trust_env=False) as http:
            assert (await http.get(f"{endpoint}/")).status_code == 404
            for task in deploys:
                digest = task["result"]["image_url"].partition("@")[2]
                repository = task["result"]["image_url"].partition("/")[2].partition("@")[0]
                manifest = f"{registry.url}/v2/{repository}/manifests/{digest}"
                assert (await http.head(manifest)).status_code == 404
        s3 = boto3.client(
            "s3", endpoint_url=moto_server, region_name="us-east-1",
            aws_access_key_id="testing", aws_secret_access_key="testing",
        )  # fmt: skip
        listed = s3.list_objects_v2(Bucket=settings.s3_bucket).get("Contents", [])
        assert not [o["Key"] for o in listed if any(t["task_id"] in o["Key"] for t in deploys)]
