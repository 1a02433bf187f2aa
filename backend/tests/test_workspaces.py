"""Workspaces through the HTTP API."""

from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from app.config import Settings
from testing.fake_infra import FakeInfraService
from tests.conftest import create_function, create_workspace, with_overrides
from tests.tasks.conftest import TOKEN, running_backend

PROBLEM = "application/problem+json"


@pytest.fixture
def infra() -> Iterator[FakeInfraService]:
    with FakeInfraService(token=TOKEN) as fake:
        yield fake


@pytest.fixture
async def with_infra(
    settings: Settings, infra: FakeInfraService
) -> AsyncIterator[httpx.AsyncClient]:
    """The backend with a deploy service (deleting a workspace deletes its namespace there)."""
    configured = with_overrides(
        settings, deploy_service_url=infra.url, infra_service_token=TOKEN,
        infra_request_timeout_seconds=2.0,
    )  # fmt: skip
    async with running_backend(configured) as http:
        yield http


async def test_create_then_get_returns_the_workspace(client: httpx.AsyncClient) -> None:
    created = await create_workspace(client, "payments")
    response = await client.get(f"/api/workspaces/{created['id']}")
    assert response.status_code == 200
    body = response.json()
    assert body["name"] == "payments"
    assert body["description"] == ""
    assert body["created_at"] == body["updated_at"]
    assert body["created_at"].endswith("Z")


async def test_list_pages_through_every_workspace_once(client: httpx.AsyncClient) -> None:
    names = [f"ws-{i}" for i in range(7)]
    for name in names:
        await create_workspace(client, name)
    seen: list[str] = []
    token = None
    pages = 0
    while True:
        params = {"limit": 3} | ({"next_token": token} if token else {})
        response = await client.get("/api/workspaces", params=params)
        assert response.status_code == 200
        body = response.json()
        assert len(body["items"]) <= 3
        seen.extend(item["name"] for item in body["items"])
        pages += 1
        token = body.get("next_token")
        if not token:
            break
    assert seen == names  # creation order, no duplicates, nothing missing
    assert pages >= 3


async def test_tampered_next_token_is_refused(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/workspaces", params={"next_token": "not-a-token!"})
    assert response.status_code == 400
    assert response.headers["content-type"] == PROBLEM
    assert response.json()["code"] == "INVALID_NEXT_TOKEN"


async def test_patch_changes_fields_and_updated_at(client: httpx.AsyncClient) -> None:
    created = await create_workspace(client)
    response = await client.patch(
        f"/api/workspaces/{created['id']}", json={"description": "shared team space"}
    )
    assert response.status_code == 200
    body = response.json()
    assert body["description"] == "shared team space"
    assert body["name"] == created["name"]
    assert body["updated_at"] >= created["updated_at"]


async def test_patch_without_fields_is_a_validation_error(client: httpx.AsyncClient) -> None:
    created = await create_workspace(client)
    response = await client.patch(f"/api/workspaces/{created['id']}", json={})
    assert response.status_code == 422
    assert response.headers["content-type"] == PROBLEM
    assert response.json()["code"] == "VALIDATION_ERROR"


async def test_unknown_workspace_is_404_problem(client: httpx.AsyncClient) -> None:
    for path in ["/api/workspaces/01hzzzzzzzzzzzzzzzzzzzzzzz", "/api/workspaces/nonsense"]:
        for method in ["GET", "PATCH", "DELETE"]:
            response = await client.request(method, path, json={"name": "x"})
            assert response.status_code == 404, (method, path)
            assert response.headers["content-type"] == PROBLEM
            assert response.json()["code"] == "WORKSPACE_NOT_FOUND"


async def test_create_with_invalid_body_lists_the_fields(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/workspaces", json={"name": "", "colour": "red"})
    assert response.status_code == 422
    body = response.json()
    assert body["code"] == "VALIDATION_ERROR"
    assert {error["field"] for error in body["errors"]} == {"name", "colour"}
    listed = await client.get("/api/workspaces")
    assert listed.json()["items"] == []  # nothing written


async def test_delete_empty_workspace_deletes_its_namespace_too(
    with_infra: httpx.AsyncClient, infra: FakeInfraService
) -> None:
    client = with_infra
    created = await create_workspace(client)
    assert (await client.delete(f"/api/workspaces/{created['id']}")).status_code == 204
    assert (await client.get(f"/api/workspaces/{created['id']}")).status_code == 404
    assert infra.namespace_deletions == [f"faas-{created['id']}"]


async def test_delete_workspace_with_functions_is_refused_with_409(
    client: httpx.AsyncClient,
) -> None:
    workspace = await create_workspace(client)
    function = await create_function(client, workspace["id"])
    response = await client.delete(f"/api/workspaces/{workspace['id']}")
    assert response.status_code == 409
    assert response.json()["code"] == "WORKSPACE_NOT_EMPTY"
    assert (await client.get(f"/api/functions/{function['id']}")).status_code == 200


async def test_cascading_delete_removes_functions_and_frees_names(
    with_infra: httpx.AsyncClient, infra: FakeInfraService
) -> None:
    client = with_infra
    workspace = await create_workspace(client)
    function = await create_function(client, workspace["id"])
    response = await client.delete(f"/api/workspaces/{workspace['id']}", params={"cascade": True})
    assert response.status_code == 204
    assert (await client.get(f"/api/workspaces/{workspace['id']}")).status_code == 404
    assert (await client.get(f"/api/functions/{function['id']}")).status_code == 404
    assert infra.namespace_deletions == [f"faas-{workspace['id']}"]


async def test_with_the_deploy_service_down_a_cascading_delete_keeps_the_workspace(
    with_infra: httpx.AsyncClient, infra: FakeInfraService
) -> None:
    client = with_infra
    workspace = await create_workspace(client)
    function = await create_function(client, workspace["id"])
    infra.down()
    response = await client.delete(f"/api/workspaces/{workspace['id']}", params={"cascade": True})
    assert response.status_code == 503
    assert response.headers["content-type"] == PROBLEM
    assert response.json()["code"] == "INFRA_UNAVAILABLE"
    assert response.headers["retry-after"] == "5"
    assert (await client.get(f"/api/workspaces/{workspace['id']}")).status_code == 200
    assert (await client.get(f"/api/functions/{function['id']}")).status_code == 200
    infra.up()
    again = await client.delete(f"/api/workspaces/{workspace['id']}", params={"cascade": True})
    assert again.status_code == 204
