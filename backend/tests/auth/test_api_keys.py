"""API keys: created by an owner, shown once, stored as a hash, scoped, revocable."""

import boto3
import httpx

from app.config import Settings
from tests.auth.conftest import AsUser, bearer
from tests.tasks.conftest import HELLO


async def test_an_api_key_works_in_its_workspace_only_until_revoked(
    secured: httpx.AsyncClient, jwt_settings: Settings, as_user: AsUser
) -> None:
    alice = as_user("alice")
    ws = (await secured.post("/api/workspaces", json={"name": "ci"}, headers=alice)).json()
    other = (await secured.post("/api/workspaces", json={"name": "other"}, headers=alice)).json()
    created = await secured.post(
        f"/api/workspaces/{ws['id']}/api-keys", json={"name": "github"}, headers=alice
    )
    assert created.status_code == 201
    key = created.json()["key"]
    assert key.startswith("faas_")

    ci = bearer(key)
    build = await secured.post(
        "/api/v1/build",
        data={"workspace_id": ws["id"], "app_name": "hello"},
        files={"file": ("app.py", HELLO)},
        headers=ci,
    )
    assert build.status_code == 202
    assert (await secured.get(f"/api/v1/tasks/{build.json()['task_id']}", headers=ci)).is_success
    assert (await secured.get(f"/api/workspaces/{other['id']}", headers=ci)).status_code == 404
    listed = (await secured.get("/api/workspaces", headers=ci)).json()["items"]
    assert [w["id"] for w in listed] == [ws["id"]]
    # A key can neither mint keys nor create workspaces.
    assert (
        await secured.post(f"/api/workspaces/{ws['id']}/api-keys", json={"name": "x"}, headers=ci)
    ).status_code == 403
    assert (
        await secured.post("/api/workspaces", json={"name": "x"}, headers=ci)
    ).status_code == 403

    keys = (await secured.get(f"/api/workspaces/{ws['id']}/api-keys", headers=alice)).json()
    assert [k["name"] for k in keys["items"]] == ["github"]
    assert "key" not in keys["items"][0] and "secret_hash" not in keys["items"][0]

    table = boto3.client(
        "dynamodb",
        endpoint_url=jwt_settings.dynamodb_endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    dump = str(table.scan(TableName=jwt_settings.dynamodb_table)["Items"])
    secret = key.rsplit("_", 1)[1]
    assert secret not in dump and key not in dump

    revoked = await secured.delete(
        f"/api/workspaces/{ws['id']}/api-keys/{created.json()['id']}", headers=alice
    )
    assert revoked.status_code == 204
    after = await secured.get(f"/api/workspaces/{ws['id']}", headers=ci)
    assert after.status_code == 401
    assert after.json()["code"] == "INVALID_TOKEN"


async def test_a_forged_key_is_refused(secured: httpx.AsyncClient, as_user: AsUser) -> None:
    alice = as_user("alice")
    ws = (await secured.post("/api/workspaces", json={"name": "ci"}, headers=alice)).json()
    real = (
        await secured.post(
            f"/api/workspaces/{ws['id']}/api-keys", json={"name": "x"}, headers=alice
        )
    ).json()
    forged = real["key"][:-4] + "AAAA"
    response = await secured.get(f"/api/workspaces/{ws['id']}", headers=bearer(forged))
    assert response.status_code == 401
