"""Tenant isolation: nobody reaches another workspace's functions, tasks, keys or members.

The matrix is generated from the OpenAPI description, so a new route is covered as it lands;
the references a request body carries (an artifact, an image, a namespace, a repository, a
manifest) are checked against another workspace's too.
"""

import re
from typing import Any

import boto3
import httpx
import pytest

from app.config import Settings
from tests.auth.conftest import AsUser
from tests.tasks.conftest import HELLO

# Routes a caller uses without naming any workspace resource.
UNSCOPED = {("POST", "/api/workspaces"), ("GET", "/api/workspaces")}


def _partition(settings: Settings, workspace_id: str) -> list[dict[str, Any]]:
    table = boto3.client(
        "dynamodb",
        endpoint_url=settings.dynamodb_endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    items = table.query(
        TableName=settings.dynamodb_table,
        KeyConditionExpression="PK = :pk",
        ExpressionAttributeValues={":pk": {"S": f"WS#{workspace_id}"}},
        ConsistentRead=True,
    )["Items"]
    return sorted(items, key=lambda item: item["SK"]["S"])


async def _world_of(client: httpx.AsyncClient, headers: dict[str, str]) -> dict[str, str]:
    """A workspace with a function, a task and an API key, made by one user."""
    workspace = (await client.post("/api/workspaces", json={"name": "b"}, headers=headers)).json()
    function = (
        await client.post(
            f"/api/workspaces/{workspace['id']}/functions", json={"name": "fn"}, headers=headers
        )
    ).json()
    task = (
        await client.post(
            "/api/v1/build",
            data={"workspace_id": workspace["id"], "app_name": "fn"},
            files={"file": ("app.py", HELLO)},
            headers=headers,
        )
    ).json()
    key = (
        await client.post(
            f"/api/workspaces/{workspace['id']}/api-keys", json={"name": "ci"}, headers=headers
        )
    ).json()
    return {
        "workspace_id": workspace["id"],
        "function_id": function["id"],
        "task_id": task["task_id"],
        "key_id": key["id"],
        "subject": "user:bob",
        "number": "1",  # a revision number (B's function has none: 404 either way)
    }


def _body_for(method: str, path: str, ids: dict[str, str]) -> dict[str, Any]:
    """A plausible request body naming B's resources, so only access control can refuse it."""
    if method not in {"POST", "PUT", "PATCH"}:
        return {}
    if path in {"/api/v1/build", "/api/v1/build-and-push"} or (
        path.endswith("/deploy") and (path.startswith("/api/functions"))
    ):
        return {
            "data": {"workspace_id": ids["workspace_id"], "app_name": "fn"},
            "files": {"file": ("app.py", HELLO)},
        }
    json_bodies = {
        "/api/v1/push": {"workspace_id": ids["workspace_id"], "task_id": ids["task_id"]},
        "/api/v1/scaffold": {"workspace_id": ids["workspace_id"], "task_id": ids["task_id"]},
        "/api/v1/deploy": {"workspace_id": ids["workspace_id"], "task_id": ids["task_id"]},
    }
    if path in json_bodies:
        return {"json": json_bodies[path]}
    if path.endswith("/functions"):
        return {"json": {"name": "intruder"}}
    if path.endswith("/api-keys"):
        return {"json": {"name": "intruder"}}
    if "/members/" in path:
        return {"json": {"role": "owner"}}
    if path.startswith("/api/functions/"):
        return {"json": {"replicas": 9}}
    return {"json": {"name": "taken over"}}


async def test_every_route_refuses_another_workspaces_ids_and_changes_nothing(
    secured: httpx.AsyncClient, jwt_settings: Settings, as_user: AsUser
) -> None:
    alice, bob = as_user("alice"), as_user("bob")
    mine = (await secured.post("/api/workspaces", json={"name": "a"}, headers=alice)).json()
    theirs = await _world_of(secured, bob)
    before = _partition(jwt_settings, theirs["workspace_id"])

    schema = (await secured.get("/openapi.json")).json()
    checked = 0
    values = theirs | {"path": "rest/of/path"}  # the invoke routes' {path:path}
    for template, operations in schema["paths"].items():
        if not template.startswith("/api"):
            continue
        for method in operations:
            method = method.upper()
            if (method, template) in UNSCOPED:
                continue
            path = re.sub(r"\{(\w+)(:path)?\}", lambda m: values[m.group(1)], template)
            response = await secured.request(
                method, path, headers=alice, **_body_for(method, template, theirs)
            )
            assert response.status_code == 404, (method, template, response.text)
            assert response.headers["content-type"] == "application/problem+json"
            checked += 1
    assert checked >= 20

    assert _partition(jwt_settings, theirs["workspace_id"]) == before
    listed = (await secured.get("/api/workspaces", headers=alice)).json()["items"]
    assert [w["id"] for w in listed] == [mine["id"]]


def _foreign_references(mine: dict[str, str], theirs: dict[str, str], bucket: str) -> list[Any]:
    """Requests in A's own workspace whose body names B's things: (method, path, body, status)."""
    ws, their_ws = mine["workspace_id"], theirs["workspace_id"]
    digest = "sha256:" + "0" * 64
    their_image = f"127.0.0.1:5001/faas-functions/{their_ws}/fn@{digest}"
    own_image = f"127.0.0.1:5001/faas-functions/{ws}/fn@{digest}"
    spinapp = "apiVersion: core.spinkube.dev/v1alpha1\nkind: SpinApp\nmetadata:\n  name: fn\n"
    role = (
        "---\napiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata:\n  name: x\n"
    )
    deploy = {"workspace_id": ws, "app_name": "fn"}
    upload = {"files": {"file": ("app.py", HELLO)}}
    return [
        ("POST", "/api/v1/push", {"json": {
            "workspace_id": ws, "app_name": "fn",
            "wasm_path": f"s3://{bucket}/build-artifacts/{theirs['task_id']}/fn.wasm"}}, 404),
        ("POST", "/api/v1/push", {"json": {
            "workspace_id": ws, "task_id": mine["task_id"],
            "repository": f"faas-functions/{their_ws}/fn"}}, 422),
        ("POST", "/api/v1/scaffold", {"json": {
            "workspace_id": ws, "app_name": "fn", "image_url": their_image}}, 404),
        ("POST", "/api/v1/deploy", {"json": deploy | {
            "manifest": spinapp + f"  namespace: faas-{their_ws}\nspec:\n  image: {own_image}\n"}},
         422),
        ("POST", "/api/v1/deploy", {"json": deploy | {
            "manifest": spinapp + f"spec:\n  image: {their_image}\n"}}, 404),
        ("POST", "/api/v1/deploy", {"json": deploy | {"manifest": spinapp + role}}, 422),
        ("POST", "/api/v1/deploy", {"json": deploy | {
            "manifest": spinapp, "namespace": f"faas-{their_ws}"}}, 422),
        ("POST", f"/api/functions/{mine['function_id']}/deploy",
         upload | {"data": {"namespace": f"faas-{their_ws}"}}, 422),
        ("POST", "/api/v1/build-and-push", upload | {"data": {
            "workspace_id": ws, "app_name": "fn",
            "repository": f"faas-functions/{their_ws}/fn"}}, 422),
    ]  # fmt: skip


async def test_no_reference_in_a_body_reaches_another_workspace_and_nothing_is_written(
    secured: httpx.AsyncClient, jwt_settings: Settings, as_user: AsUser
) -> None:
    alice, bob = as_user("alice"), as_user("bob")
    mine = await _world_of(secured, alice)
    theirs = await _world_of(secured, bob)
    before = {ids["workspace_id"]: _partition(jwt_settings, ids["workspace_id"])
              for ids in (mine, theirs)}  # fmt: skip
    sources_before = _sources(jwt_settings)

    cases = _foreign_references(mine, theirs, jwt_settings.s3_bucket)
    for method, path, body, status in cases:
        response = await secured.request(method, path, headers=alice, **body)
        assert response.status_code == status, (path, body, response.text)
        assert response.headers["content-type"] == "application/problem+json"
    assert len(cases) >= 9

    for workspace_id, items in before.items():
        assert _partition(jwt_settings, workspace_id) == items, "a task was written"
    assert _sources(jwt_settings) == sources_before, "a source was stored"


def _sources(settings: Settings) -> list[str]:
    s3 = boto3.client(
        "s3", endpoint_url=settings.aws_endpoint_url, region_name="us-east-1",
        aws_access_key_id="testing", aws_secret_access_key="testing",
    )  # fmt: skip
    listed = s3.list_objects_v2(Bucket=settings.s3_bucket, Prefix="build-sources/")
    return sorted(item["Key"] for item in listed.get("Contents", []))


async def test_a_task_id_of_another_workspace_is_indistinguishable_from_a_missing_one(
    secured: httpx.AsyncClient, as_user: AsUser
) -> None:
    theirs = await _world_of(secured, as_user("bob"))
    foreign = await secured.get(f"/api/v1/tasks/{theirs['task_id']}", headers=as_user("alice"))
    missing = await secured.get(
        "/api/v1/tasks/01hzzzzzzzzzzzzzzzzzzzzzzz", headers=as_user("alice")
    )
    assert foreign.status_code == missing.status_code == 404
    assert foreign.json()["code"] == missing.json()["code"] == "TASK_NOT_FOUND"


async def test_members_share_a_workspace_and_only_owners_manage_it(
    secured: httpx.AsyncClient, as_user: AsUser
) -> None:
    alice, bob = as_user("alice"), as_user("bob")
    theirs = await _world_of(secured, bob)
    ws = theirs["workspace_id"]
    assert (await secured.get(f"/api/workspaces/{ws}", headers=alice)).status_code == 404

    added = await secured.put(f"/api/workspaces/{ws}/members/user:alice", json={}, headers=bob)
    assert added.status_code == 200 and added.json()["role"] == "member"
    assert (await secured.get(f"/api/workspaces/{ws}", headers=alice)).status_code == 200
    fn = await secured.get(f"/api/functions/{theirs['function_id']}", headers=alice)
    assert fn.status_code == 200
    listed = (await secured.get("/api/workspaces", headers=alice)).json()["items"]
    assert [w["id"] for w in listed] == [ws]

    forbidden = await secured.delete(f"/api/workspaces/{ws}", headers=alice)
    assert forbidden.status_code == 403
    assert forbidden.json()["code"] == "OWNER_REQUIRED"
    last_owner = await secured.delete(f"/api/workspaces/{ws}/members/user:bob", headers=bob)
    assert last_owner.status_code == 409

    removed = await secured.delete(f"/api/workspaces/{ws}/members/user:alice", headers=bob)
    assert removed.status_code == 204
    assert (await secured.get(f"/api/workspaces/{ws}", headers=alice)).status_code == 404


@pytest.mark.parametrize("who", ["alice", "bob"])
async def test_users_see_only_their_own_workspaces(
    secured: httpx.AsyncClient, as_user: AsUser, who: str
) -> None:
    for name in ["alice", "bob"]:
        await secured.post("/api/workspaces", json={"name": f"{name}'s"}, headers=as_user(name))
    listed = (await secured.get("/api/workspaces", headers=as_user(who))).json()["items"]
    assert [w["name"] for w in listed] == [f"{who}'s"]
