"""Revisions, rollback, scale and settings redeploys, against the running app and the fake."""

from typing import Any

import httpx
import yaml

from app.storage import keys
from testing.fake_infra import FakeInfraService
from tests.functions.conftest import deploy, finished
from tests.tasks.conftest import wait_for_task


async def _revisions(api: httpx.AsyncClient, function: dict[str, Any]) -> list[dict[str, Any]]:
    answer = await api.get(f"/api/functions/{function['id']}/revisions")
    assert answer.status_code == 200, answer.text
    items: list[dict[str, Any]] = answer.json()["items"]
    return items


async def _function(api: httpx.AsyncClient, function: dict[str, Any]) -> dict[str, Any]:
    answer = await api.get(f"/api/functions/{function['id']}")
    assert answer.status_code == 200
    body: dict[str, Any] = answer.json()
    return body


def _deployed_spec(fake_infra: FakeInfraService) -> dict[str, Any]:
    """The SpinApp spec of the last deploy job the fake was asked for."""
    manifest = fake_infra.submissions("deploy")[-1]["manifest"]
    documents = [doc for doc in yaml.safe_load_all(manifest) if doc]
    spec: dict[str, Any] = documents[0]["spec"]
    return spec


async def test_two_deploys_make_two_revisions_and_the_second_is_live(
    api: httpx.AsyncClient, function: dict[str, Any]
) -> None:
    first = await deploy(api, function, "one")
    second = await deploy(api, function, "two")

    items = await _revisions(api, function)
    assert [item["revision"] for item in items] == [2, 1]  # newest first
    assert [item["live"] for item in items] == [True, False]
    assert [item["task_id"] for item in items] == [second["task_id"], first["task_id"]]
    assert items[0]["image_url"] == second["result"]["image_url"]
    assert items[1]["image_url"] == first["result"]["image_url"]
    assert "@sha256:" in items[0]["image_url"]
    assert items[0]["source_sha256"] != items[1]["source_sha256"]
    assert items[0]["source_code_path"] == second["result"]["source_code_path"]
    assert items[0]["manifest"] == second["result"]["manifest"]
    assert items[0]["reason"] == "deploy" and items[0]["deployed_by"] == "anonymous"
    assert items[0]["replicas"] == 2 and items[0]["variables"] == {}

    one = await api.get(f"/api/functions/{function['id']}/revisions/1")
    assert one.status_code == 200 and one.json() == items[1]
    assert (await _function(api, function))["live_revision"] == 2
    missing = await api.get(f"/api/functions/{function['id']}/revisions/3")
    assert missing.status_code == 404 and missing.json()["code"] == "REVISION_NOT_FOUND"


async def test_revisions_page_newest_first(
    api: httpx.AsyncClient, function: dict[str, Any]
) -> None:
    for text in ("a", "b", "c"):
        await deploy(api, function, text)
    page = (await api.get(f"/api/functions/{function['id']}/revisions?limit=2")).json()
    assert [item["revision"] for item in page["items"]] == [3, 2]
    rest = await api.get(
        f"/api/functions/{function['id']}/revisions",
        params={"limit": 2, "next_token": page["next_token"]},
    )
    assert [item["revision"] for item in rest.json()["items"]] == [1]


async def test_rollback_to_1_deploys_revision_1s_image_without_a_build(
    api: httpx.AsyncClient, function: dict[str, Any], fake_infra: FakeInfraService
) -> None:
    await deploy(api, function, "one")
    await deploy(api, function, "two")
    revision_1 = (await _revisions(api, function))[1]
    builds, pushes = len(fake_infra.submissions("build")), len(fake_infra.submissions("push"))

    answer = await api.post(f"/api/functions/{function['id']}/rollback", json={"revision": 1})
    task = await finished(api, answer)

    assert task["status"] == "completed", task
    assert task["type"] == "deploy" and [s["name"] for s in task["stages"]] == ["deploy"]
    assert _deployed_spec(fake_infra)["image"] == revision_1["image_url"]
    assert fake_infra.submissions("deploy")[-1]["manifest"] == revision_1["manifest"]
    # No build and no push: nothing new was made.
    assert len(fake_infra.submissions("build")) == builds
    assert len(fake_infra.submissions("push")) == pushes
    items = await _revisions(api, function)
    assert [item["revision"] for item in items] == [3, 2, 1]
    newest = items[0]
    assert (newest["reason"], newest["source_revision"], newest["live"]) == ("rollback", 1, True)
    assert newest["image_url"] == revision_1["image_url"]
    assert newest["source_sha256"] == revision_1["source_sha256"]
    assert newest["task_id"] == task["task_id"]
    after = await _function(api, function)
    assert after["live_revision"] == 3 and after["image_url"] == revision_1["image_url"]
    assert after["latest_task_id"] == task["task_id"]


async def test_rollback_by_default_returns_to_the_previous_revision_and_is_idempotent(
    api: httpx.AsyncClient, function: dict[str, Any], fake_infra: FakeInfraService
) -> None:
    await deploy(api, function, "one")
    await deploy(api, function, "two")
    headers = {"Idempotency-Key": "rollback-1"}
    url = f"/api/functions/{function['id']}/rollback"
    task = await finished(api, await api.post(url, json={}, headers=headers))
    assert task["status"] == "completed"

    again = await api.post(url, json={}, headers=headers)
    assert again.status_code == 202
    assert again.json()["task_id"] == task["task_id"]
    assert again.headers["Idempotent-Replayed"] == "true"
    items = await _revisions(api, function)
    assert [(item["revision"], item["source_revision"]) for item in items[:1]] == [(3, 1)]
    assert len(items) == 3  # the retry made no second rollback
    other = await api.post(url, json={"revision": 2}, headers=headers)
    assert other.status_code == 409 and other.json()["code"] == "IDEMPOTENCY_KEY_MISMATCH"


async def test_rollback_and_scale_while_a_task_runs_are_409(
    api: httpx.AsyncClient, function: dict[str, Any], fake_infra: FakeInfraService
) -> None:
    await deploy(api, function, "one")
    await deploy(api, function, "two")
    fake_infra.succeed_after("deploy", polls=100_000)  # the next deploy never finishes
    running = await api.post(f"/api/functions/{function['id']}/scale", json={"replicas": 3})
    assert running.status_code == 202
    await wait_for_task(api, running.json()["task_id"], until="job")

    rollback = await api.post(f"/api/functions/{function['id']}/rollback", json={})
    assert rollback.status_code == 409, rollback.text
    assert rollback.headers["content-type"] == "application/problem+json"
    assert rollback.json()["code"] == "TASK_IN_PROGRESS"
    scale = await api.post(f"/api/functions/{function['id']}/scale", json={"replicas": 1})
    assert scale.status_code == 409 and scale.json()["code"] == "TASK_IN_PROGRESS"
    patch = await api.patch(f"/api/functions/{function['id']}", json={"replicas": 4})
    assert patch.status_code == 409 and patch.json()["code"] == "TASK_IN_PROGRESS"
    assert (await _function(api, function))["replicas"] == 2  # the refused PATCH stored nothing
    delete = await api.delete(f"/api/functions/{function['id']}")
    assert delete.status_code == 409 and delete.json()["code"] == "TASK_IN_PROGRESS"
    assert len(await _revisions(api, function)) == 2


async def test_what_cannot_be_rolled_back_or_scaled_says_why(
    api: httpx.AsyncClient, function: dict[str, Any]
) -> None:
    url = f"/api/functions/{function['id']}"
    for path, body in (("/rollback", {}), ("/scale", {"replicas": 1})):
        answer = await api.post(url + path, json=body)
        assert answer.status_code == 409 and answer.json()["code"] == "FUNCTION_NOT_DEPLOYED"
    await deploy(api, function, "one")
    only = await api.post(url + "/rollback", json={})
    assert only.status_code == 409 and only.json()["code"] == "NO_PREVIOUS_REVISION"
    live = await api.post(url + "/rollback", json={"revision": 1})
    assert live.status_code == 409 and live.json()["code"] == "REVISION_ALREADY_LIVE"
    unknown = await api.post(url + "/rollback", json={"revision": 7})
    assert unknown.status_code == 404 and unknown.json()["code"] == "REVISION_NOT_FOUND"
    assert len(await _revisions(api, function)) == 1


async def test_scale_to_zero_stops_and_scale_to_two_runs_two(
    api: httpx.AsyncClient, function: dict[str, Any], fake_infra: FakeInfraService
) -> None:
    await deploy(api, function, "one")
    image = (await _revisions(api, function))[0]["image_url"]
    url = f"/api/functions/{function['id']}/scale"

    stopped = await finished(api, await api.post(url, json={"replicas": 0}))
    assert stopped["status"] == "completed"
    spec = _deployed_spec(fake_infra)
    assert (spec["replicas"], spec["image"]) == (0, image)
    assert (await _function(api, function))["replicas"] == 0

    running = await finished(api, await api.post(url, json={"replicas": 2}))
    assert running["status"] == "completed"
    assert _deployed_spec(fake_infra)["replicas"] == 2
    items = await _revisions(api, function)
    assert [(i["revision"], i["reason"], i["replicas"]) for i in items] == [
        (3, "scale", 2), (2, "scale", 0), (1, "deploy", 2),
    ]  # fmt: skip
    assert {item["image_url"] for item in items} == {image}
    assert len(fake_infra.submissions("build")) == 1

    # New code for a function scaled to zero starts it with one replica.
    await finished(api, await api.post(url, json={"replicas": 0}))
    await deploy(api, function, "two")
    assert fake_infra.submissions("scaffold")[-1]["replicas"] == 1
    assert (await _function(api, function))["replicas"] == 1


async def test_patch_of_a_deployed_functions_settings_redeploys_its_live_image(
    api: httpx.AsyncClient, function: dict[str, Any], fake_infra: FakeInfraService
) -> None:
    url = f"/api/functions/{function['id']}"
    before = await api.patch(url, json={"variables": {"greeting": "hi"}})
    assert before.json()["redeploy"]["action"] == "next_deploy"
    await deploy(api, function, "one")
    assert _deployed_spec(fake_infra)["variables"] == [{"name": "greeting", "value": "hi"}]

    # Another value of the same variable: the live manifest, re-rendered.
    same_names = await api.patch(url, json={"variables": {"greeting": "hello"}, "replicas": 3})
    assert same_names.status_code == 200, same_names.text
    plan = same_names.json()["redeploy"]
    assert plan["action"] == "started" and plan["location"] == f"/api/v1/tasks/{plan['task_id']}"
    task = await wait_for_task(api, plan["task_id"])
    assert (task["type"], task["status"]) == ("deploy", "completed")
    spec = _deployed_spec(fake_infra)
    assert spec["variables"] == [{"name": "greeting", "value": "hello"}]
    assert spec["replicas"] == 3

    # A new variable: the locked app must declare it, so the component is pushed again.
    builds = len(fake_infra.submissions("build"))
    new_name = await api.patch(url, json={"variables": {"greeting": "hey", "name": "world"}})
    plan = new_name.json()["redeploy"]
    task = await wait_for_task(api, plan["task_id"])
    assert (task["type"], task["status"]) == ("redeploy", "completed"), task
    assert fake_infra.submissions("push")[-1]["variables"] == ["greeting", "name"]
    assert len(fake_infra.submissions("build")) == builds
    assert {v["name"] for v in _deployed_spec(fake_infra)["variables"]} == {"greeting", "name"}
    items = await _revisions(api, function)
    assert [(i["revision"], i["reason"]) for i in items] == [
        (3, "settings"), (2, "settings"), (1, "deploy"),
    ]  # fmt: skip
    assert items[0]["variables"] == {"greeting": "hey", "name": "world"}

    unchanged = await api.patch(url, json={"description": "only words"})
    assert unchanged.json()["redeploy"]["action"] == "none"
    stored_only = await api.patch(url, params={"redeploy": "false"}, json={"replicas": 5})
    assert stored_only.json()["redeploy"]["action"] == "next_deploy"
    assert stored_only.json()["replicas"] == 5
    assert len(await _revisions(api, function)) == 3
    assert _deployed_spec(fake_infra)["replicas"] == 3  # nothing was deployed


async def test_null_and_garbage_bodies_are_422_and_write_nothing(
    api: httpx.AsyncClient, function: dict[str, Any], fake_infra: FakeInfraService
) -> None:
    await deploy(api, function, "one")
    await deploy(api, function, "two")
    before = await _function(api, function)
    url = f"/api/functions/{function['id']}"
    bodies: list[tuple[str, bytes]] = [
        ("/rollback", b"null"), ("/rollback", b"[]"), ("/rollback", b"{\"revision\": 0}"),
        ("/rollback", b"{\"revision\": \"1\"}"), ("/rollback", b"{\"revision\": 1.5}"),
        ("/rollback", b"{\"revision\": null, \"x\": 1}"), ("/rollback", b"\xff\xfe"),
        ("/scale", b"null"), ("/scale", b"{}"), ("/scale", b"{\"replicas\": -1}"),
        ("/scale", b"{\"replicas\": 101}"), ("/scale", b"{\"replicas\": true}"),
        ("/scale", b"{\"replicas\": \"2\"}"), ("/scale", b"not json"),
    ]  # fmt: skip
    for path, content in bodies:
        answer = await api.post(
            url + path, content=content, headers={"Content-Type": "application/json"}
        )
        assert answer.status_code == 422, (path, content, answer.text)
        assert answer.headers["content-type"] == "application/problem+json"
        assert answer.json()["code"] == "VALIDATION_ERROR"
    for patch in ({"replicas": 0}, {"variables": None}, {"variables": {"Bad-Name": "x"}}):
        answer = await api.patch(url, json=patch)
        assert answer.status_code == 422, (patch, answer.text)
    assert await _function(api, function) == before
    assert len(await _revisions(api, function)) == 2
    assert len(fake_infra.submissions("deploy")) == 2


async def test_a_hand_written_manifest_deployed_for_a_function_is_a_revision_too(
    api: httpx.AsyncClient, function: dict[str, Any]
) -> None:
    repository = keys.workspace_repository(function["workspace_id"], "faas-functions", "hello")
    image = f"registry.fake.test/{repository}@sha256:" + "b" * 64
    manifest = (
        "apiVersion: core.spinkube.dev/v1alpha1\nkind: SpinApp\nmetadata:\n  name: hello\n"
        f"spec:\n  image: {image}\n  replicas: 1\n"
    )
    body = {
        "workspace_id": function["workspace_id"],
        "function_id": function["id"],
        "app_name": "hello",
    }
    answer = await api.post("/api/v1/deploy", json=body | {"manifest": manifest})
    task = await finished(api, answer)
    assert task["status"] == "completed"
    (revision,) = await _revisions(api, function)
    assert (revision["image_url"], revision["replicas"], revision["live"]) == (image, 1, True)

    # No image in it: the deploy still completes and the function follows, without a revision.
    bare = "apiVersion: core.spinkube.dev/v1alpha1\nkind: SpinApp\nmetadata:\n  name: hello\n"
    task = await finished(api, await api.post("/api/v1/deploy", json=body | {"manifest": bare}))
    assert task["status"] == "completed"
    assert len(await _revisions(api, function)) == 1
    after = await _function(api, function)
    assert after["latest_task_id"] == task["task_id"] and after["live_revision"] == 1
    again = await api.post(f"/api/functions/{function['id']}/scale", json={"replicas": 2})
    assert again.status_code == 202  # the function was released: not held by the bare deploy
