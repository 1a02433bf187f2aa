"""A namespace per workspace on the Kubernetes target, against the fake Kubernetes API.

Two workspaces' `hello` become two SpinApps in two namespaces; each namespace is made on the
first deploy (idempotently, labelled, with its quota, limits, network policies and executor);
namespaces the platform did not make are never written to or deleted.
"""

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from test_deploy import _client

from conftest import make_settings, run_job
from testing.fake_kube import FakeCluster, running_fake_cluster

WS_A, WS_B = "01jaaaaaaaaaaaaaaaaaaaaaaa", "01jbbbbbbbbbbbbbbbbbbbbbbb"
NS_A, NS_B = f"faas-{WS_A}", f"faas-{WS_B}"
MANIFEST = """\
apiVersion: core.spinkube.dev/v1alpha1
kind: SpinApp
metadata:
  name: hello
  labels:
    faas.dev/workspace: somebody-else
spec:
  image: "127.0.0.1:5001/faas-functions/{short}/hello@sha256:{digest}"
  executor: containerd-shim-spin
  replicas: 1
"""
MANAGED = {"app.kubernetes.io/managed-by": "faas-platform"}


def spinapp_path(namespace: str, name: str = "hello") -> str:
    return f"/apis/core.spinkube.dev/v1alpha1/namespaces/{namespace}/spinapps/{name}"


@pytest.fixture
def cluster() -> Iterator[FakeCluster]:
    with running_fake_cluster() as fake:
        yield fake


@pytest.fixture
async def deployer(
    aws_endpoint: str, s3: Any, tmp_path: Path, cluster: FakeCluster
) -> AsyncIterator[httpx.AsyncClient]:
    settings = make_settings(
        aws_endpoint,
        tmp_path / "scratch",
        kubeconfig=str(cluster.kubeconfig(tmp_path / "kubeconfig")),
        deploy_ready_timeout_seconds=1.5,
        deploy_poll_seconds=0.1,
        deploy_request_timeout_seconds=2,
        tenant_quota_cpu="2",
        tenant_quota_memory="1Gi",
        tenant_ingress_namespaces=["faas", "kube-system"],
    )
    async for http in _client(settings):
        yield http


async def _deploy(
    client: httpx.AsyncClient, *, workspace: str, namespace: str, key: str, digest: str = "a" * 64
) -> dict[str, Any]:
    body = {
        "job_key": key,
        "namespace": namespace,
        "workspace_id": workspace,
        "function_id": f"fn-of-{workspace}",
        "manifest": MANIFEST.format(short=workspace, digest=digest),
    }
    return await run_job(client, "deployments", body, timeout=15)


async def test_two_workspaces_hello_are_two_spinapps_in_two_namespaces_untouched_by_each_other(
    deployer: httpx.AsyncClient, cluster: FakeCluster
) -> None:
    a = await _deploy(deployer, workspace=WS_A, namespace=NS_A, key="ta:deploy")
    assert a["status"] == "succeeded", a["error"]
    first = cluster.object(spinapp_path(NS_A))
    b = await _deploy(deployer, workspace=WS_B, namespace=NS_B, key="tb:deploy", digest="b" * 64)
    assert b["status"] == "succeeded", b["error"]

    assert (a["result"]["namespace"], b["result"]["namespace"]) == (NS_A, NS_B)
    assert a["result"]["endpoint"] != b["result"]["endpoint"]
    app_a, app_b = cluster.object(spinapp_path(NS_A)), cluster.object(spinapp_path(NS_B))
    assert app_a == first, "B's deploy changed A's SpinApp"
    assert app_a is not None and app_b is not None
    assert app_a["spec"]["image"].endswith("a" * 64) and app_b["spec"]["image"].endswith("b" * 64)
    # The request's owner labels win over what the manifest claimed.
    assert app_a["metadata"]["labels"] == MANAGED | {
        "faas.dev/workspace": WS_A,
        "faas.dev/function": f"fn-of-{WS_A}",
    }
    b_started = next(i for i, r in enumerate(cluster.requests) if NS_B in r[1])
    during_b = [path for _, path, _ in cluster.requests[b_started:]]
    assert not [path for path in during_b if NS_A in path], "B's deploy touched A's namespace"


async def test_the_namespace_is_made_once_labelled_with_quota_limits_and_policies(
    deployer: httpx.AsyncClient, cluster: FakeCluster
) -> None:
    for key in ("t1:deploy", "t2:deploy"):
        job = await _deploy(deployer, workspace=WS_A, namespace=NS_A, key=key)
        assert job["status"] == "succeeded", job["error"]
    objects = cluster.in_namespace(NS_A)
    namespace = objects[f"/api/v1/namespaces/{NS_A}"]
    assert namespace["metadata"]["labels"] == MANAGED | {"faas.dev/workspace": WS_A}
    assert namespace["metadata"]["generation"] == 1, "the second deploy changed the namespace"
    kinds = sorted(obj["kind"] for obj in objects.values())
    assert kinds == sorted(
        ["Namespace", "RoleBinding", "ResourceQuota", "LimitRange", "NetworkPolicy",
         "NetworkPolicy", "SpinAppExecutor", "SpinApp"]
    )  # fmt: skip
    for obj in objects.values():  # everything the platform made says whose it is
        assert obj["metadata"]["labels"]["faas.dev/workspace"] == WS_A
        assert obj["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "faas-platform"
    quota = objects[f"/api/v1/namespaces/{NS_A}/resourcequotas/faas-quota"]["spec"]["hard"]
    assert quota["limits.cpu"] == "2" and quota["limits.memory"] == "1Gi"
    assert quota["count/spinapps.core.spinkube.dev"] == "20"
    limits = objects[f"/api/v1/namespaces/{NS_A}/limitranges/faas-limits"]["spec"]["limits"][0]
    assert limits["default"] == {"cpu": "500m", "memory": "256Mi"}
    policies = "/apis/networking.k8s.io/v1/namespaces/" + NS_A + "/networkpolicies/"
    deny = objects[policies + "faas-default-deny"]["spec"]
    assert deny == {"podSelector": {}, "policyTypes": ["Ingress"]}
    (rule,) = objects[policies + "faas-allow-gateway"]["spec"]["ingress"]
    assert [peer["namespaceSelector"]["matchLabels"] for peer in rule["from"]] == [
        {"kubernetes.io/metadata.name": "faas"},
        {"kubernetes.io/metadata.name": "kube-system"},
    ]
    assert rule["ports"] == [{"protocol": "TCP", "port": 80}]
    binding = objects[
        f"/apis/rbac.authorization.k8s.io/v1/namespaces/{NS_A}/rolebindings/faas-infra-service"
    ]
    assert binding["roleRef"]["name"] == "faas-infra-service-tenant"
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "faas-infra-service", "namespace": "faas"}
    ]


@pytest.mark.parametrize("namespace", ["default", "kube-system"])
async def test_a_namespace_the_platform_did_not_make_is_never_deployed_to(
    deployer: httpx.AsyncClient, cluster: FakeCluster, namespace: str
) -> None:
    cluster.add_namespace(namespace)
    job = await _deploy(deployer, workspace=WS_A, namespace=namespace, key="t1:deploy")
    assert job["status"] == "failed"
    assert job["error"]["code"] == "NAMESPACE_NOT_MANAGED"
    assert not [r for r in cluster.requests if r[0] == "PATCH"], "something was applied"


async def test_a_workspace_cannot_deploy_into_another_workspaces_namespace(
    deployer: httpx.AsyncClient, cluster: FakeCluster
) -> None:
    assert (await _deploy(deployer, workspace=WS_A, namespace=NS_A, key="a"))["status"] == (
        "succeeded"
    )
    before = cluster.in_namespace(NS_A)
    job = await _deploy(deployer, workspace=WS_B, namespace=NS_A, key="b")
    assert (job["status"], job["error"]["code"]) == ("failed", "NAMESPACE_NOT_MANAGED")
    assert cluster.in_namespace(NS_A) == before


@pytest.mark.parametrize(
    ("extra", "problem"),
    [
        ("apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata:\n  name: x\n",
         "not 'ClusterRole'"),
        ("apiVersion: v1\nkind: Secret\nmetadata:\n  name: x\n  namespace: " + NS_A + "\n",
         "not 'Secret'"),
    ],
)  # fmt: skip
async def test_a_manifest_with_other_kinds_is_refused_before_anything_is_applied(
    deployer: httpx.AsyncClient, cluster: FakeCluster, extra: str, problem: str
) -> None:
    manifest = MANIFEST.format(short=WS_A, digest="a" * 64) + "---\n" + extra
    body = {"job_key": "k", "namespace": NS_A, "workspace_id": WS_A, "manifest": manifest}
    response = await deployer.post("/v1/deployments", json=body)
    assert response.status_code == 422
    assert problem in response.json()["detail"]
    assert not [r for r in cluster.requests if r[0] == "PATCH"]


async def test_a_manifest_naming_another_namespace_than_the_request_is_refused(
    deployer: httpx.AsyncClient, cluster: FakeCluster
) -> None:
    manifest = MANIFEST.format(short=WS_A, digest="a" * 64).replace(
        "  name: hello\n", f"  name: hello\n  namespace: {NS_B}\n"
    )
    body = {"job_key": "k", "namespace": NS_A, "workspace_id": WS_A, "manifest": manifest}
    response = await deployer.post("/v1/deployments", json=body)
    assert response.status_code == 422 and NS_B in response.json()["detail"]
    assert not cluster.requests


async def test_deleting_a_workspaces_namespace_removes_it_and_its_apps_idempotently(
    deployer: httpx.AsyncClient, cluster: FakeCluster
) -> None:
    for workspace, namespace in ((WS_A, NS_A), (WS_B, NS_B)):
        job = await _deploy(deployer, workspace=workspace, namespace=namespace, key=workspace)
        assert job["status"] == "succeeded", job["error"]
    deleted = await deployer.delete(f"/v1/namespaces/{NS_A}")
    assert deleted.status_code == 200
    assert deleted.json() == {"namespace": NS_A, "deleted": True}
    assert cluster.in_namespace(NS_A) == {}
    assert cluster.object(spinapp_path(NS_B)) is not None, "B's app went too"
    again = await deployer.delete(f"/v1/namespaces/{NS_A}")
    assert again.json() == {"namespace": NS_A, "deleted": False}


async def test_a_namespace_without_the_managed_label_is_not_deleted(
    deployer: httpx.AsyncClient, cluster: FakeCluster
) -> None:
    cluster.add_namespace("kube-system")
    refused = await deployer.delete("/v1/namespaces/kube-system")
    assert refused.status_code == 409
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["code"] == "NAMESPACE_NOT_MANAGED"
    assert cluster.object("/api/v1/namespaces/kube-system") is not None
    assert not [r for r in cluster.requests if r[0] == "DELETE"]
    bad = await deployer.delete("/v1/namespaces/Not_A_Label")
    assert (bad.status_code, bad.json()["code"]) == (422, "VALIDATION_ERROR")


async def test_applies_wait_a_moment_for_the_new_rolebinding_to_take_effect(
    deployer: httpx.AsyncClient, cluster: FakeCluster
) -> None:
    cluster.forbidden_applies = 3
    job = await _deploy(deployer, workspace=WS_A, namespace=NS_A, key="t1")
    assert job["status"] == "succeeded", job["error"]
    assert cluster.object(spinapp_path(NS_A)) is not None


async def test_rights_that_never_come_fail_the_deploy_naming_the_rbac(
    aws_endpoint: str, s3: Any, tmp_path: Path, cluster: FakeCluster
) -> None:
    cluster.forbidden_applies = None
    settings = make_settings(
        aws_endpoint, tmp_path / "scratch",
        kubeconfig=str(cluster.kubeconfig(tmp_path / "kubeconfig")),
        deploy_rbac_settle_seconds=0.6, deploy_request_timeout_seconds=2,
    )  # fmt: skip
    async for client in _client(settings):
        job = await _deploy(client, workspace=WS_A, namespace=NS_A, key="t1")
    assert job["error"]["code"] == "DEPLOY_FAILED"
    assert "403" in job["error"]["message"] and "rbac.yaml" in job["error"]["message"]


async def test_a_deploy_after_its_workspaces_namespace_was_deleted_does_not_bring_it_back(
    deployer: httpx.AsyncClient, cluster: FakeCluster
) -> None:
    assert (await _deploy(deployer, workspace=WS_A, namespace=NS_A, key="a"))["status"] == (
        "succeeded"
    )
    assert (await deployer.delete(f"/v1/namespaces/{NS_A}")).json()["deleted"] is True
    late = await _deploy(deployer, workspace=WS_A, namespace=NS_A, key="queued-before")
    assert (late["status"], late["error"]["code"]) == ("failed", "NAMESPACE_DELETED")
    assert cluster.in_namespace(NS_A) == {}
