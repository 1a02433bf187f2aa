"""Functions through the HTTP API."""

import asyncio

import httpx
import pytest

from tests.conftest import create_function, create_workspace

PROBLEM = "application/problem+json"


async def test_create_returns_the_function_with_pipeline_fields_empty(
    client: httpx.AsyncClient,
) -> None:
    workspace = await create_workspace(client)
    response = await client.post(
        f"/api/workspaces/{workspace['id']}/functions",
        json={"name": "hello-py", "variables": {"greeting": "hi"}, "replicas": 3},
    )
    assert response.status_code == 201
    body = response.json()
    assert body["workspace_id"] == workspace["id"]
    assert body["runtime"] == "python"
    assert body["variables"] == {"greeting": "hi"}
    assert body["replicas"] == 3
    assert body["deployment_status"] == "not_deployed"
    assert body["latest_task_id"] is None and body["image_url"] is None
    fetched = await client.get(f"/api/functions/{body['id']}")
    assert fetched.json() == body


async def test_list_pages_through_a_workspaces_functions(client: httpx.AsyncClient) -> None:
    workspace = await create_workspace(client)
    other = await create_workspace(client, "other")
    await create_function(client, other["id"], "elsewhere")
    names = [f"fn-{i}" for i in range(5)]
    for name in names:
        await create_function(client, workspace["id"], name)
    seen, token = [], None
    while True:
        params = {"limit": 2} | ({"next_token": token} if token else {})
        body = (
            await client.get(f"/api/workspaces/{workspace['id']}/functions", params=params)
        ).json()
        seen.extend(item["name"] for item in body["items"])
        token = body.get("next_token")
        if not token:
            break
    assert seen == names


async def test_next_token_of_another_workspace_is_refused(client: httpx.AsyncClient) -> None:
    first = await create_workspace(client, "a")
    second = await create_workspace(client, "b")
    for i in range(3):
        await create_function(client, first["id"], f"fn-{i}")
    token = (
        await client.get(f"/api/workspaces/{first['id']}/functions", params={"limit": 1})
    ).json()["next_token"]
    response = await client.get(
        f"/api/workspaces/{second['id']}/functions", params={"next_token": token}
    )
    assert response.status_code == 400
    assert response.json()["code"] == "INVALID_NEXT_TOKEN"


@pytest.mark.parametrize(
    "name",
    ["Hello", "-hello", "hello-", "hello_world", "a" * 53, "", "héllo", "hello.world"],
)
async def test_names_that_are_not_dns_labels_are_refused(
    client: httpx.AsyncClient, name: str
) -> None:
    workspace = await create_workspace(client)
    response = await client.post(
        f"/api/workspaces/{workspace['id']}/functions", json={"name": name}
    )
    assert response.status_code == 422
    assert response.headers["content-type"] == PROBLEM
    assert response.json()["errors"][0]["field"] == "name"


async def test_a_52_character_name_is_accepted(client: httpx.AsyncClient) -> None:
    workspace = await create_workspace(client)
    await create_function(client, workspace["id"], "a" * 52)


async def test_duplicate_name_in_a_workspace_is_409_but_fine_elsewhere(
    client: httpx.AsyncClient,
) -> None:
    first = await create_workspace(client, "a")
    second = await create_workspace(client, "b")
    await create_function(client, first["id"], "api")
    response = await client.post(f"/api/workspaces/{first['id']}/functions", json={"name": "api"})
    assert response.status_code == 409
    assert response.json()["code"] == "FUNCTION_NAME_TAKEN"
    await create_function(client, second["id"], "api")


async def test_two_concurrent_creates_of_one_name_exactly_one_succeeds(
    client: httpx.AsyncClient,
) -> None:
    workspace = await create_workspace(client)
    url = f"/api/workspaces/{workspace['id']}/functions"
    responses = await asyncio.gather(
        *(client.post(url, json={"name": "racer", "description": str(i)}) for i in range(2))
    )
    assert sorted(r.status_code for r in responses) == [201, 409]
    listed = (await client.get(url)).json()["items"]
    assert [item["name"] for item in listed] == ["racer"]


async def test_create_in_unknown_workspace_is_404(client: httpx.AsyncClient) -> None:
    for workspace_id in ["01hzzzzzzzzzzzzzzzzzzzzzzz", "nope"]:
        response = await client.post(
            f"/api/workspaces/{workspace_id}/functions", json={"name": "x"}
        )
        assert response.status_code == 404
        assert response.json()["code"] == "WORKSPACE_NOT_FOUND"
        listed = await client.get(f"/api/workspaces/{workspace_id}/functions")
        assert listed.status_code == 404


async def test_patch_updates_settings_but_not_the_name(client: httpx.AsyncClient) -> None:
    workspace = await create_workspace(client)
    function = await create_function(client, workspace["id"])
    response = await client.patch(
        f"/api/functions/{function['id']}", json={"replicas": 4, "variables": {"mode": "fast"}}
    )
    assert response.status_code == 200
    assert response.json()["replicas"] == 4
    assert response.json()["variables"] == {"mode": "fast"}
    renamed = await client.patch(f"/api/functions/{function['id']}", json={"name": "other"})
    assert renamed.status_code == 422
    bad = await client.patch(f"/api/functions/{function['id']}", json={"variables": {"Bad": "x"}})
    assert bad.status_code == 422
    assert (await client.get(f"/api/functions/{function['id']}")).json()["replicas"] == 4


async def test_delete_frees_the_name(client: httpx.AsyncClient) -> None:
    workspace = await create_workspace(client)
    function = await create_function(client, workspace["id"], "reuse-me")
    assert (await client.delete(f"/api/functions/{function['id']}")).status_code == 204
    assert (await client.get(f"/api/functions/{function['id']}")).status_code == 404
    assert (await client.delete(f"/api/functions/{function['id']}")).status_code == 404
    await create_function(client, workspace["id"], "reuse-me")


async def test_unknown_function_is_404_for_every_method(client: httpx.AsyncClient) -> None:
    for method in ["GET", "PATCH", "DELETE"]:
        response = await client.request(
            method, "/api/functions/01hzzzzzzzzzzzzzzzzzzzzzzz", json={"replicas": 2}
        )
        assert response.status_code == 404
        assert response.json()["code"] == "FUNCTION_NOT_FOUND"
