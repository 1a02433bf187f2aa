"""Deleting a function removes what we own of it, and nothing else; retention prunes old
revisions' artifacts but keeps their records."""

import asyncio
import time
from typing import Any

import httpx

from app.config import Settings
from app.storage import keys
from testing.fake_infra import FakeInfraService
from tests.conftest import create_function, with_overrides
from tests.functions.conftest import Stored, deploy, finished
from tests.tasks.conftest import running_backend


def _image(image_url: str) -> str:
    """`registry/repository@digest` → `repository@digest` (how the fake lists images)."""
    return image_url.partition("/")[2]


async def test_delete_removes_the_functions_objects_images_tasks_and_revisions_only(
    api: httpx.AsyncClient,
    function: dict[str, Any],
    fake_infra: FakeInfraService,
    stored: Stored,
) -> None:
    other = await create_function(api, function["workspace_id"], name="other")
    tasks = [await deploy(api, function, "one"), await deploy(api, function, "two")]
    rollback = await api.post(f"/api/functions/{function['id']}/rollback", json={})
    tasks.append(await finished(api, rollback))
    kept_task = await deploy(api, other, "other")
    unrelated = ["unrelated/keep.txt", f"build-sources/{function['workspace_id']}/x/app.py"]
    for key in unrelated:
        stored.put(key)
    ours = {_image(task["result"]["image_url"]) for task in tasks}
    assert ours <= fake_infra.images and len(ours) == 2  # the rollback pushed nothing
    task_ids = [task["task_id"] for task in tasks]
    assert any(task_ids[0] in key for key in stored.object_keys())

    namespace = keys.workspace_namespace(function["workspace_id"], "faas-")
    assert (namespace, "hello") in set(fake_infra.runtime.apps)
    answer = await api.delete(f"/api/functions/{function['id']}")
    assert answer.status_code == 204, answer.text

    assert set(fake_infra.runtime.apps) == {(namespace, "other")}  # undeployed, the other not
    left = stored.object_keys()
    assert not [key for key in left if any(task_id in key for task_id in task_ids)]
    assert set(unrelated) <= left
    assert any(kept_task["task_id"] in key for key in left)  # the other function's objects
    assert not ours & fake_infra.images
    assert _image(kept_task["result"]["image_url"]) in fake_infra.images
    assert stored.items_naming(function["id"]) == []
    assert not [item for item in stored.items() if any(t in str(item) for t in task_ids)]
    assert stored.items_naming(other["id"])  # the other function and its task and revision
    assert (await api.get(f"/api/functions/{function['id']}")).status_code == 404
    assert (await api.get(f"/api/functions/{function['id']}/revisions")).status_code == 404


async def test_a_workspace_deleted_with_cascade_leaves_nothing_of_its_functions(
    api: httpx.AsyncClient, function: dict[str, Any], fake_infra: FakeInfraService, stored: Stored
) -> None:
    task = await deploy(api, function, "one")
    stored.put("unrelated/keep.txt")
    answer = await api.delete(f"/api/workspaces/{function['workspace_id']}?cascade=true")
    assert answer.status_code == 204, answer.text
    assert set(fake_infra.runtime.apps) == set()
    assert stored.object_keys() == {"unrelated/keep.txt"}
    assert _image(task["result"]["image_url"]) not in fake_infra.images
    assert stored.items_naming(function["workspace_id"]) == []


async def test_delete_is_refused_while_the_push_service_is_down_and_loses_nothing(
    api: httpx.AsyncClient, function: dict[str, Any], fake_infra: FakeInfraService, stored: Stored
) -> None:
    task = await deploy(api, function, "one")
    before = stored.object_keys()
    fake_infra.down()
    answer = await api.delete(f"/api/functions/{function['id']}")
    assert answer.status_code == 503, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    assert stored.object_keys() == before
    assert (await api.get(f"/api/functions/{function['id']}/revisions/1")).status_code == 200
    fake_infra.up()
    assert (await api.delete(f"/api/functions/{function['id']}")).status_code == 204
    assert not [key for key in stored.object_keys() if task["task_id"] in key]


async def _retention_reached(
    api: httpx.AsyncClient, function: dict[str, Any], *, revision: int
) -> list[dict[str, Any]]:
    """The revisions once `revision` is marked: retention runs right after a revision is
    recorded (tidying, not part of the task)."""
    deadline = time.monotonic() + 10
    while True:
        answer = await api.get(f"/api/functions/{function['id']}/revisions")
        items: list[dict[str, Any]] = answer.json()["items"]
        marked = [i["artifacts_removed"] for i in items if i["revision"] == revision]
        if marked == [True] or time.monotonic() > deadline:
            return items
        await asyncio.sleep(0.05)


async def test_retention_removes_old_revisions_artifacts_and_keeps_their_records(
    fast_settings: Settings, fake_infra: FakeInfraService, stored: Stored
) -> None:
    async with running_backend(with_overrides(fast_settings, revision_retention=2)) as api:
        workspace = (await api.post("/api/workspaces", json={"name": "team"})).json()
        function = await create_function(api, workspace["id"])
        tasks = [await deploy(api, function, text) for text in ("one", "two", "three")]
        stored.put("unrelated/keep.txt")

        items = await _retention_reached(api, function, revision=1)
        assert [(i["revision"], i["artifacts_removed"]) for i in items] == [
            (3, False), (2, False), (1, True),
        ]  # fmt: skip
        left = stored.object_keys()
        first, kept = tasks[0]["task_id"], [task["task_id"] for task in tasks[1:]]
        assert not [key for key in left if first in key]
        for task_id in kept:
            assert [key for key in left if task_id in key]
        assert "unrelated/keep.txt" in left
        images = fake_infra.images
        assert _image(tasks[0]["result"]["image_url"]) not in images
        assert {_image(task["result"]["image_url"]) for task in tasks[1:]} <= images

        refused = await api.post(f"/api/functions/{function['id']}/rollback", json={"revision": 1})
        assert refused.status_code == 410, refused.text
        assert refused.json()["code"] == "REVISION_ARTIFACTS_REMOVED"
        back = await api.post(f"/api/functions/{function['id']}/rollback", json={"revision": 2})
        assert (await finished(api, back))["status"] == "completed"
        await _retention_reached(api, function, revision=2)
        # Revision 4 runs revision 2's image: retention (2) keeps 3 and 4, so 2's image stays.
        assert _image(tasks[1]["result"]["image_url"]) in fake_infra.images
        assert [key for key in stored.object_keys() if kept[0] in key]


async def test_images_of_another_registry_or_workspace_are_never_asked_to_be_deleted(
    fast_settings: Settings, fake_infra: FakeInfraService
) -> None:
    allowed = with_overrides(fast_settings, allowed_image_registries=["elsewhere.example"])
    async with running_backend(allowed) as api:
        workspace = (await api.post("/api/workspaces", json={"name": "team"})).json()
        function = await create_function(api, workspace["id"])
        other = (await api.post("/api/workspaces", json={"name": "other"})).json()
        await deploy(api, await create_function(api, other["id"]), "theirs")
        await deploy(api, function, "one")
        # Our repository's name in another registry (allowed to deploy from, not ours).
        foreign = "elsewhere.example/faas-functions@sha256:" + "c" * 64
        manifest = (
            "apiVersion: core.spinkube.dev/v1alpha1\nkind: SpinApp\nmetadata:\n  name: hello\n"
            f"spec:\n  image: {foreign}\n  replicas: 1\n"
        )
        body = {"workspace_id": workspace["id"], "function_id": function["id"]}
        answer = await api.post(
            "/api/v1/deploy", json=body | {"app_name": "hello", "manifest": manifest}
        )
        assert (await finished(api, answer))["status"] == "completed"
        theirs = {
            image for image in fake_infra.images if keys.workspace_short_id(other["id"]) in image
        }
        assert len(theirs) == 1
        assert (await api.delete(f"/api/functions/{function['id']}")).status_code == 204
    mine = keys.workspace_repository_prefix(workspace["id"], "faas-functions")
    deleted = fake_infra.image_deletions
    assert deleted and all(repository.startswith(mine) for repository, _ in deleted)
    assert "c" * 64 not in str(deleted)
    assert theirs <= fake_infra.images  # the other workspace's image is still there
