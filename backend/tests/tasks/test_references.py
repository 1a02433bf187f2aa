"""What a request names by value resolves inside the caller's workspace, or nothing is written.

Namespace, repository, wasm_path, image_url and manifest (app.tasks.references): the
workspace's own are accepted and reach the job requests; anyone else's are refused with a
problem+json 404/422, and neither a task nor an S3 object is written.
"""

from typing import Any

import boto3
import httpx
import pytest

from app.config import Settings
from testing.fake_infra import FakeInfraService
from tests.conftest import create_function, create_workspace, with_overrides
from tests.tasks.conftest import TOKEN, pipeline_settings, running_backend, upload, wait_for_task

PROBLEM = "application/problem+json"
DIGEST = "sha256:" + "0" * 64
SPINAPP = """\
apiVersion: core.spinkube.dev/v1alpha1
kind: SpinApp
metadata:
  name: hello
{namespace}spec:
  image: "{image}"
  executor: containerd-shim-spin
  replicas: 1
"""
CLUSTER_ROLE = """\
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: takeover
rules:
  - apiGroups: ["*"]
    resources: ["*"]
    verbs: ["*"]
"""


def image_of(workspace_id: str, app: str = "hello") -> str:
    return f"127.0.0.1:5001/faas-functions/{workspace_id}/{app}@{DIGEST}"


def manifest(image: str, namespace: str | None = None) -> str:
    line = f"  namespace: {namespace}\n" if namespace else ""
    return SPINAPP.format(namespace=line, image=image)


def objects_under(settings: Settings, prefix: str) -> list[str]:
    s3 = boto3.client(
        "s3", endpoint_url=settings.aws_endpoint_url, region_name="us-east-1",
        aws_access_key_id="testing", aws_secret_access_key="testing",
    )  # fmt: skip
    listed = s3.list_objects_v2(Bucket=settings.s3_bucket, Prefix=prefix)
    return [item["Key"] for item in listed.get("Contents", [])]


async def tasks_of(api: httpx.AsyncClient, workspace_id: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = (await api.get(f"/api/workspaces/{workspace_id}/tasks")).json()[
        "items"
    ]
    return items


async def refused(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    assert response.json()["code"] == code


@pytest.fixture
async def two(api: httpx.AsyncClient) -> tuple[dict, dict]:
    return await create_workspace(api, "mine"), await create_workspace(api, "theirs")


async def test_a_deploy_into_another_namespace_is_422_and_the_own_one_is_used(
    api: httpx.AsyncClient, two: tuple[dict, dict], fake_infra: FakeInfraService
) -> None:
    mine, theirs = two
    body = {
        "workspace_id": mine["id"],
        "app_name": "hello",
        "manifest": manifest(image_of(mine["id"])),
    }
    for namespace in (f"faas-{theirs['id']}", "default", "kube-system"):
        answer = await api.post("/api/v1/deploy", json=body | {"namespace": namespace})
        await refused(answer, 422, "NAMESPACE_NOT_ALLOWED")
    assert await tasks_of(api, mine["id"]) == []

    own = await api.post("/api/v1/deploy", json=body | {"namespace": f"faas-{mine['id']}"})
    assert own.status_code == 202, own.text
    unnamed = await api.post("/api/v1/deploy", json=body)
    assert unnamed.status_code == 202, unnamed.text
    for task in (own.json(), unnamed.json()):
        assert (await wait_for_task(api, task["task_id"]))["status"] == "completed"
    namespaces = {job["namespace"] for job in fake_infra.submissions("deploy")}
    assert namespaces == {f"faas-{mine['id']}"}


async def test_a_function_deploy_naming_another_namespace_stores_no_source(
    api: httpx.AsyncClient, two: tuple[dict, dict], fast_settings: Settings
) -> None:
    mine, theirs = two
    function = await create_function(api, mine["id"], "greeter")
    answer = await upload(
        api, mine["id"], path=f"/api/functions/{function['id']}/deploy",
        namespace=f"faas-{theirs['id']}",
    )  # fmt: skip
    await refused(answer, 422, "NAMESPACE_NOT_ALLOWED")
    assert objects_under(fast_settings, "build-sources/") == []
    assert await tasks_of(api, mine["id"]) == []


async def test_a_push_of_another_workspaces_artifact_is_404_like_a_missing_one(
    api: httpx.AsyncClient, two: tuple[dict, dict], fast_settings: Settings
) -> None:
    mine, theirs = two
    build = await wait_for_task(api, (await upload(api, theirs["id"])).json()["task_id"])
    assert build["status"] == "completed"
    bucket = fast_settings.s3_bucket
    for wasm_path in (
        build["result"]["wasm_path"],  # theirs
        f"s3://{bucket}/build-artifacts/01hzzzzzzzzzzzzzzzzzzzzzzz/hello.wasm",  # nobody's
        f"s3://{bucket}/build-artifacts/{build['task_id']}/other.wasm",  # theirs, renamed
    ):
        body = {"workspace_id": mine["id"], "app_name": "hello", "wasm_path": wasm_path}
        await refused(await api.post("/api/v1/push", json=body), 404, "ARTIFACT_NOT_FOUND")
    assert await tasks_of(api, mine["id"]) == []


async def test_a_push_of_an_own_artifact_goes_to_the_workspaces_repository(
    api: httpx.AsyncClient, workspace: dict, fake_infra: FakeInfraService
) -> None:
    build = await wait_for_task(api, (await upload(api, workspace["id"])).json()["task_id"])
    body = {"workspace_id": workspace["id"], "app_name": "hello",
            "wasm_path": build["result"]["wasm_path"]}  # fmt: skip
    push = await api.post("/api/v1/push", json=body)
    assert push.status_code == 202, push.text
    assert (await wait_for_task(api, push.json()["task_id"]))["status"] == "completed"
    [job] = fake_infra.submissions("push")
    assert job["repository"] == f"faas-functions/{workspace['id']}/hello"

    elsewhere = await api.post("/api/v1/push", json=body | {"repository": "faas-functions/hello"})
    await refused(elsewhere, 422, "REPOSITORY_NOT_ALLOWED")


async def test_a_scaffold_of_another_workspaces_image_is_404_and_a_foreign_registry_422(
    api: httpx.AsyncClient, two: tuple[dict, dict]
) -> None:
    mine, theirs = two
    body = {"workspace_id": mine["id"], "app_name": "hello"}
    for image in (
        image_of(theirs["id"]),
        f"127.0.0.1:5001/faas-functions/{mine['id']}/../{theirs['id']}/hello@{DIGEST}",
        f"127.0.0.1:5001/faas-functions/hello@{DIGEST}",  # the shared repository of old
    ):
        answer = await api.post("/api/v1/scaffold", json=body | {"image_url": image})
        await refused(answer, 404, "IMAGE_NOT_FOUND")
    for image in ("ghcr.io/someone/hello:1", "hello:latest", "evil.example:5000/x@" + DIGEST):
        answer = await api.post("/api/v1/scaffold", json=body | {"image_url": image})
        await refused(answer, 422, "IMAGE_REGISTRY_NOT_ALLOWED")
    assert await tasks_of(api, mine["id"]) == []
    own = await api.post("/api/v1/scaffold", json=body | {"image_url": image_of(mine["id"])})
    assert own.status_code == 202, own.text


async def test_an_allowed_external_registry_may_be_scaffolded_from(
    fast_settings: Settings,
) -> None:
    allowing = with_overrides(fast_settings, allowed_image_registries="ghcr.io, quay.io")
    async with running_backend(allowing) as api:
        workspace = await create_workspace(api)
        body = {"workspace_id": workspace["id"], "app_name": "hello"}
        allowed = await api.post("/api/v1/scaffold", json=body | {"image_url": "ghcr.io/o/h:1"})
        assert allowed.status_code == 202, allowed.text
        other = await api.post("/api/v1/scaffold", json=body | {"image_url": "docker.io/o/h:1"})
        await refused(other, 422, "IMAGE_REGISTRY_NOT_ALLOWED")


@pytest.mark.parametrize(
    ("text", "status", "code"),
    [
        (lambda mine, theirs: manifest(image_of(mine)) + CLUSTER_ROLE, 422,
         "MANIFEST_KIND_NOT_ALLOWED"),
        (lambda mine, theirs: manifest(image_of(mine), namespace=f"faas-{theirs}"), 422,
         "NAMESPACE_NOT_ALLOWED"),
        (lambda mine, theirs: manifest(image_of(mine), namespace="kube-system"), 422,
         "NAMESPACE_NOT_ALLOWED"),
        (lambda mine, theirs: manifest(image_of(theirs)), 404, "IMAGE_NOT_FOUND"),
        (lambda mine, theirs: manifest(image_of(mine)).replace("name: hello", "name: other"),
         422, "INVALID_MANIFEST"),
        (lambda mine, theirs: manifest(image_of(mine)) + "---\n" + manifest(image_of(mine)), 422,
         "INVALID_MANIFEST"),
        (lambda mine, theirs: "apiVersion: v1\nkind: Secret\nmetadata:\n  name: s\n", 422,
         "MANIFEST_KIND_NOT_ALLOWED"),
        (lambda mine, theirs: "kind: [unclosed", 422, "INVALID_MANIFEST"),
    ],
    ids=["cluster-role", "their-namespace", "kube-system", "their-image", "other-name",
         "two-spinapps", "secret", "not-yaml"],
)  # fmt: skip
async def test_a_deploy_manifest_outside_the_scaffolds_kinds_or_namespace_is_refused(
    api: httpx.AsyncClient, two: tuple[dict, dict], text: Any, status: int, code: str
) -> None:
    mine, theirs = two
    body = {
        "workspace_id": mine["id"],
        "app_name": "hello",
        "manifest": text(mine["id"], theirs["id"]),
    }
    await refused(await api.post("/api/v1/deploy", json=body), status, code)
    assert await tasks_of(api, mine["id"]) == []


async def test_a_manifest_in_the_own_namespace_with_its_autoscaler_is_accepted(
    api: httpx.AsyncClient, workspace: dict
) -> None:
    hpa = (
        "---\napiVersion: autoscaling/v2\nkind: HorizontalPodAutoscaler\nmetadata:\n"
        "  name: hello-autoscaler\nspec:\n  scaleTargetRef:\n    apiVersion: apps/v1\n"
        "    kind: Deployment\n    name: hello\n  minReplicas: 1\n  maxReplicas: 3\n"
    )
    text = manifest(image_of(workspace["id"]), namespace=f"faas-{workspace['id']}") + hpa
    body = {"workspace_id": workspace["id"], "app_name": "hello", "manifest": text}
    accepted = await api.post("/api/v1/deploy", json=body)
    assert accepted.status_code == 202, accepted.text
    other = hpa.replace("    name: hello\n", "    name: someone-else\n")
    body["manifest"] = manifest(image_of(workspace["id"])) + other
    await refused(await api.post("/api/v1/deploy", json=body), 422, "INVALID_MANIFEST")


async def test_an_image_another_workspace_pushed_cannot_be_scaffolded_but_by_it(
    settings: Settings,
) -> None:
    # The fake pushes to the registry the backend calls its own, as the real service does.
    with FakeInfraService(token=TOKEN, registry=settings.ecr_registry_url) as infra:
        async with running_backend(pipeline_settings(settings, infra.url)) as api:
            mine = await create_workspace(api, "mine")
            theirs = await create_workspace(api, "theirs")
            pushed = await upload(api, theirs["id"], path="/api/v1/build-and-push")
            task = await wait_for_task(api, pushed.json()["task_id"])
            assert task["status"] == "completed", task
            image = task["result"]["image_url"]
            assert image.startswith(f"{settings.ecr_registry_url}/faas-functions/{theirs['id']}/")

            body = {"app_name": "hello", "image_url": image}
            stolen = await api.post("/api/v1/scaffold", json=body | {"workspace_id": mine["id"]})
            await refused(stolen, 404, "IMAGE_NOT_FOUND")
            assert await tasks_of(api, mine["id"]) == []
            own = await api.post("/api/v1/scaffold", json=body | {"workspace_id": theirs["id"]})
            assert own.status_code == 202, own.text
