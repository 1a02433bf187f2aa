"""A namespace per workspace, end to end: the backend, the real infrastructure service, and
the fake Kubernetes API it deploys to (testing/fake_kube.py stands in for a SpinKube cluster).

Two workspaces each deploy a function named `hello`: two SpinApps in two namespaces, each
deploy leaving the other's alone. Deleting a workspace (cascade) deletes its namespace.
"""

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from app.config import Settings
from testing.fake_kube import FakeCluster, running_fake_cluster
from testing.infra_service import Registry, running_infra_service, running_registry
from tests.conftest import create_function, create_workspace
from tests.tasks.conftest import pipeline_settings, running_backend, wait_for_task

DIGEST = "sha256:" + "ab" * 32


@dataclass
class Stack:
    api: httpx.AsyncClient
    cluster: FakeCluster
    registry: Registry

    def spinapp(self, namespace: str, name: str = "hello") -> dict | None:
        path = f"/apis/core.spinkube.dev/v1alpha1/namespaces/{namespace}/spinapps/{name}"
        return self.cluster.object(path)


@pytest.fixture
def cluster() -> Iterator[FakeCluster]:
    with running_fake_cluster() as fake:
        yield fake


@pytest.fixture
async def stack(
    settings: Settings, aws_endpoint: str, cluster: FakeCluster, tmp_path: Path
) -> AsyncIterator[Stack]:
    kubeconfig = cluster.kubeconfig(tmp_path / "kubeconfig")
    # A real registry: deleting a workspace deletes the images its functions deployed.
    with running_registry() as registry, running_infra_service(
        aws_endpoint=aws_endpoint, kubeconfig=str(kubeconfig), deploy_poll_seconds=0.1,
        deploy_ready_timeout_seconds=5, deploy_request_timeout_seconds=2, registry=registry,
    ) as infra:  # fmt: skip
        configured = pipeline_settings(
            settings, infra.url, infra_service_token=infra.token, ecr_registry_url=registry.host
        )
        async with running_backend(configured) as api:
            yield Stack(api=api, cluster=cluster, registry=registry)


async def _deploy_hello(stack: Stack, workspace_id: str) -> dict:
    function = await create_function(stack.api, workspace_id, "hello")
    image = f"{stack.registry.host}/faas-functions/{workspace_id}/hello@{DIGEST}"
    manifest = (
        "apiVersion: core.spinkube.dev/v1alpha1\nkind: SpinApp\nmetadata:\n  name: hello\n"
        f'spec:\n  image: "{image}"\n  executor: containerd-shim-spin\n  replicas: 1\n'
    )
    body = {"workspace_id": workspace_id, "function_id": function["id"], "app_name": "hello",
            "manifest": manifest}  # fmt: skip
    response = await stack.api.post("/api/v1/deploy", json=body)
    assert response.status_code == 202, response.text
    task = await wait_for_task(stack.api, response.json()["task_id"], timeout=30)
    assert task["status"] == "completed", task
    return task


async def test_two_workspaces_hello_run_as_two_spinapps_in_their_own_namespaces(
    stack: Stack,
) -> None:
    a = await create_workspace(stack.api, "a")
    b = await create_workspace(stack.api, "b")
    ns_a, ns_b = f"faas-{a['id']}", f"faas-{b['id']}"

    first = await _deploy_hello(stack, a["id"])
    app_a = stack.spinapp(ns_a)
    second = await _deploy_hello(stack, b["id"])

    assert first["result"]["deployment"]["namespace"] == ns_a
    assert second["result"]["deployment"]["namespace"] == ns_b
    assert first["result"]["endpoint"] != second["result"]["endpoint"]
    assert stack.spinapp(ns_a) == app_a, "B's deploy touched A's SpinApp"
    app_b = stack.spinapp(ns_b)
    assert app_a is not None and app_b is not None
    assert app_a["metadata"]["labels"]["faas.dev/workspace"] == a["id"]
    assert app_b["metadata"]["labels"]["faas.dev/workspace"] == b["id"]
    assert app_a["metadata"]["labels"]["faas.dev/function"] == first["function_id"]
    assert a["id"] in app_a["spec"]["image"] and b["id"] in app_b["spec"]["image"]
    for workspace, namespace in ((a, ns_a), (b, ns_b)):
        made = stack.cluster.object(f"/api/v1/namespaces/{namespace}")
        assert made is not None
        assert made["metadata"]["labels"] == {
            "app.kubernetes.io/managed-by": "faas-platform",
            "faas.dev/workspace": workspace["id"],
        }


async def test_a_deploy_asking_for_another_workspaces_namespace_is_422_and_never_applied(
    stack: Stack,
) -> None:
    a = await create_workspace(stack.api, "a")
    b = await create_workspace(stack.api, "b")
    manifest = "apiVersion: core.spinkube.dev/v1alpha1\nkind: SpinApp\nmetadata:\n  name: hello\n"
    body = {"workspace_id": a["id"], "app_name": "hello", "manifest": manifest}
    answer = await stack.api.post("/api/v1/deploy", json=body | {"namespace": f"faas-{b['id']}"})
    assert answer.status_code == 422
    assert answer.json()["code"] == "NAMESPACE_NOT_ALLOWED"
    assert not stack.cluster.requests, "something reached the cluster"


async def test_a_cascading_workspace_delete_removes_its_namespace_and_only_its(
    stack: Stack,
) -> None:
    a = await create_workspace(stack.api, "a")
    b = await create_workspace(stack.api, "b")
    await _deploy_hello(stack, a["id"])
    await _deploy_hello(stack, b["id"])
    ns_a, ns_b = f"faas-{a['id']}", f"faas-{b['id']}"
    assert stack.cluster.in_namespace(ns_a)

    deleted = await stack.api.delete(f"/api/workspaces/{a['id']}", params={"cascade": True})
    assert deleted.status_code == 204, deleted.text
    assert stack.cluster.in_namespace(ns_a) == {}
    assert stack.spinapp(ns_b) is not None
    assert (await stack.api.get(f"/api/workspaces/{a['id']}")).status_code == 404
