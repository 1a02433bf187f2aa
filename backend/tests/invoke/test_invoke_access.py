"""Strangers reach none of a function's invocation routes: 404, as if it did not exist."""

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest

from app.config import Settings
from testing.fake_infra import FakeInfraService
from tests.auth import conftest as auth
from tests.auth.conftest import CLIENT_ID, AsUser, Issuer
from tests.tasks.conftest import pipeline_settings, running_backend, upload, wait_for_task

issuer = auth.issuer
as_user = auth.as_user


@pytest.fixture
async def secured(
    settings: Settings,
    fake_infra: FakeInfraService,
    issuer: Issuer,
) -> AsyncIterator[httpx.AsyncClient]:
    values = pipeline_settings(
        settings,
        fake_infra.url,
        auth_mode="jwt",
        oidc_issuer=issuer.url,
        oidc_client_ids=[CLIENT_ID],
    )
    async with running_backend(values) as http:
        yield http


async def test_a_stranger_cannot_invoke_test_read_stats_or_delete(
    secured: httpx.AsyncClient,
    as_user: AsUser,
    fake_infra: FakeInfraService,
) -> None:
    alice, mallory = as_user("alice"), as_user("mallory")
    workspace = (await secured.post("/api/workspaces", json={"name": "a"}, headers=alice)).json()
    function = (
        await secured.post(
            f"/api/workspaces/{workspace['id']}/functions", json={"name": "fn"}, headers=alice
        )
    ).json()
    started = await upload(
        secured, workspace["id"], path=f"/api/functions/{function['id']}/deploy", headers=alice
    )
    assert (await wait_for_task_as(secured, started.json()["task_id"], alice))["status"] == (
        "completed"
    )
    base = f"/api/functions/{function['id']}"
    for _ in range(200):  # the function follows its task right after the task's own write
        if (await secured.get(base, headers=alice)).json()["endpoint"]:
            break
        await asyncio.sleep(0.02)
    assert (await secured.get(f"{base}/invoke/", headers=alice)).text == "hello from fn"
    for method, path, body in (
        ("GET", f"{base}/invoke/", None),
        ("POST", f"{base}/invoke/echo", None),
        ("OPTIONS", f"{base}/invoke/echo", None),
        ("POST", f"{base}/test", {}),
        ("GET", f"{base}/stats", None),
        ("GET", f"{base}/logs?source=runtime", None),
        ("DELETE", base, None),
    ):
        response = await secured.request(method, path, json=body, headers=mallory)
        assert response.status_code == 404, (method, path, response.text)
        assert response.json()["code"] == "FUNCTION_NOT_FOUND"
        nobody = await secured.request(method, path, json=body)
        assert nobody.status_code == 401, (method, path)
    assert fake_infra.runtime.apps == [(f"faas-{workspace['id']}", "fn")]
    assert fake_infra.runtime.invocations == 1
    assert fake_infra.runtime.test_requests == []


async def wait_for_task_as(client: httpx.AsyncClient, task_id: str, headers: dict) -> dict:
    original = client.headers.copy()
    client.headers.update(headers)
    try:
        return await wait_for_task(client, task_id)
    finally:
        client.headers = original
