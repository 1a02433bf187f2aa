"""Deploy: server-side apply against a fake Kubernetes API, then wait for a ready replica."""

import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fake_kube import FakeCluster, running_fake_cluster

from conftest import AUTH, make_settings, run_job
from infra_service.main import create_app

MANIFEST = """\
apiVersion: core.spinkube.dev/v1alpha1
kind: SpinApp
metadata:
  name: hello
spec:
  image: "127.0.0.1:5001/faas-functions@sha256:abc"
  executor: containerd-shim-spin
  replicas: 2
"""
SPINAPP_PATH = "/apis/core.spinkube.dev/v1alpha1/namespaces/faas/spinapps/hello"
HPA_PATH = "/apis/autoscaling/v2/namespaces/faas/horizontalpodautoscalers/hello-autoscaler"


@pytest.fixture
def cluster() -> Iterator[FakeCluster]:
    with running_fake_cluster() as fake:
        yield fake


async def _client(settings: Any) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings)
    async with (
        LifespanManager(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://infra.test", headers=AUTH
        ) as http,
    ):
        yield http


@pytest.fixture
async def deployer(
    aws_endpoint: str, s3: Any, tmp_path: Path, cluster: FakeCluster
) -> AsyncIterator[httpx.AsyncClient]:
    """The service, configured with a kubeconfig for the fake cluster and short deadlines."""
    settings = make_settings(
        aws_endpoint,
        tmp_path / "scratch",
        kubeconfig=str(cluster.kubeconfig(tmp_path / "kubeconfig")),
        deploy_ready_timeout_seconds=1.5,
        deploy_poll_seconds=0.1,
        deploy_request_timeout_seconds=2,
    )
    async for http in _client(settings):
        yield http


async def _deploy(client: httpx.AsyncClient, key: str, manifest: str = MANIFEST) -> dict:
    body = {"job_key": key, "namespace": "faas", "manifest": manifest}
    return await run_job(client, "deployments", body, timeout=15)


async def test_a_new_spinapp_is_created_by_server_side_apply_and_reported_ready(
    deployer: httpx.AsyncClient, cluster: FakeCluster
) -> None:
    job = await _deploy(deployer, "t1:deploy")
    assert job["status"] == "succeeded", job["error"]
    assert job["result"] == {
        "namespace": "faas",
        "name": "hello",
        "ready_replicas": 2,
        "endpoint": "http://hello.faas.svc.cluster.local",
        "applied": ["SpinApp"],
    }
    stored = cluster.object(SPINAPP_PATH)
    assert stored is not None and stored["metadata"]["generation"] == 1
    assert stored["metadata"]["managedFields"][0]["manager"] == "faas-infra-service"
    patches = [r[1] for r in cluster.requests if r[0] == "PATCH"]
    assert set(r[2] for r in cluster.requests if r[0] == "PATCH") == {
        "application/apply-patch+yaml"
    }
    # The namespace and what it holds first (infra_service.tenancy), then the app.
    assert patches == [
        "/api/v1/namespaces/faas",
        "/apis/rbac.authorization.k8s.io/v1/namespaces/faas/rolebindings/faas-infra-service",
        "/api/v1/namespaces/faas/resourcequotas/faas-quota",
        "/api/v1/namespaces/faas/limitranges/faas-limits",
        "/apis/networking.k8s.io/v1/namespaces/faas/networkpolicies/faas-default-deny",
        "/apis/networking.k8s.io/v1/namespaces/faas/networkpolicies/faas-allow-gateway",
        "/apis/core.spinkube.dev/v1alpha1/namespaces/faas/spinappexecutors/containerd-shim-spin",
        SPINAPP_PATH,
    ]


async def test_re_applying_a_changed_manifest_updates_the_same_spinapp(
    deployer: httpx.AsyncClient, cluster: FakeCluster
) -> None:
    assert (await _deploy(deployer, "t1:deploy"))["status"] == "succeeded"
    changed = MANIFEST.replace("replicas: 2", "replicas: 3")
    job = await _deploy(deployer, "t2:deploy", changed)
    assert job["status"] == "succeeded", job["error"]
    assert job["result"]["ready_replicas"] == 3
    stored = cluster.object(SPINAPP_PATH)
    assert stored is not None
    assert stored["spec"]["replicas"] == 3
    assert stored["metadata"]["generation"] == 2


async def test_the_deploy_waits_until_the_spinapp_reports_ready_replicas(
    deployer: httpx.AsyncClient, cluster: FakeCluster
) -> None:
    cluster.ready_after_gets = 4
    job = await _deploy(deployer, "t1:deploy")
    assert job["status"] == "succeeded", job["error"]
    gets = [r for r in cluster.requests if r[:2] == ("GET", SPINAPP_PATH)]
    assert len(gets) == 4


async def test_a_spinapp_that_never_becomes_ready_fails_with_the_clusters_reason(
    deployer: httpx.AsyncClient, cluster: FakeCluster
) -> None:
    cluster.ready_after_gets = None
    cluster.conditions = [
        {
            "type": "Available",
            "status": "False",
            "reason": "MinimumReplicasUnavailable",
            "message": "Deployment does not have minimum availability.",
        }
    ]
    cluster.events = [
        {
            "metadata": {"name": "hello-7d9f.1", "namespace": "faas"},
            "involvedObject": {"kind": "Pod", "name": "hello-7d9f-x2x"},
            "type": "Warning",
            "reason": "Failed",
            "message": 'Failed to pull image "127.0.0.1:5001/faas-functions@sha256:abc": not found',
            "lastTimestamp": "2026-01-01T00:00:02Z",
        },
        {
            "metadata": {"name": "other.1", "namespace": "faas"},
            "involvedObject": {"kind": "Pod", "name": "other-1"},
            "type": "Warning",
            "reason": "BackOff",
            "message": "not this app",
            "lastTimestamp": "2026-01-01T00:00:03Z",
        },
    ]
    job = await _deploy(deployer, "t1:deploy")
    assert job["status"] == "failed"
    assert job["error"]["code"] == "DEPLOY_NOT_READY"
    message = job["error"]["message"]
    assert "MinimumReplicasUnavailable" in message
    assert "Failed to pull image" in message
    assert "not this app" not in message


async def test_autoscaling_manifests_apply_the_hpa_too(
    deployer: httpx.AsyncClient, cluster: FakeCluster
) -> None:
    manifest = MANIFEST.replace("  replicas: 2\n", "  enableAutoscaling: true\n") + (
        "---\napiVersion: autoscaling/v2\nkind: HorizontalPodAutoscaler\n"
        "metadata:\n  name: hello-autoscaler\nspec:\n  scaleTargetRef:\n"
        "    apiVersion: apps/v1\n    kind: Deployment\n    name: hello\n"
        "  minReplicas: 1\n  maxReplicas: 3\n"
    )
    job = await _deploy(deployer, "t1:deploy", manifest)
    assert job["status"] == "succeeded", job["error"]
    assert job["result"]["applied"] == ["SpinApp", "HorizontalPodAutoscaler"]
    assert cluster.object(HPA_PATH) is not None


async def test_a_cluster_without_the_spinapp_crd_says_so(
    deployer: httpx.AsyncClient, cluster: FakeCluster
) -> None:
    cluster.crd_installed = False
    job = await _deploy(deployer, "t1:deploy")
    assert job["error"]["code"] == "DEPLOY_FAILED"
    assert "SpinApp CRD" in job["error"]["message"]


async def test_an_unreachable_api_server_fails_the_deploy_plainly(
    aws_endpoint: str, s3: Any, tmp_path: Path
) -> None:
    with running_fake_cluster() as gone:
        kubeconfig = gone.kubeconfig(tmp_path / "kubeconfig")
    settings = make_settings(
        aws_endpoint, tmp_path / "scratch", kubeconfig=str(kubeconfig),
        deploy_request_timeout_seconds=2,
    )  # fmt: skip
    async for client in _client(settings):
        job = await _deploy(client, "t1:deploy")
    assert job["error"]["code"] == "DEPLOY_UNAVAILABLE"
    assert f"127.0.0.1:{gone.port}" in job["error"]["message"]
    assert "unreachable" in job["error"]["message"]


async def test_without_a_cluster_configured_the_kubernetes_target_fails_with_exactly_that_reason(
    aws_endpoint: str, s3: Any, tmp_path: Path
) -> None:
    settings = make_settings(aws_endpoint, tmp_path / "scratch", deploy_target="kubernetes")
    async for client in _client(settings):
        job = await _deploy(client, "t1:deploy")
    assert job["error"] == {
        "code": "DEPLOY_NOT_CONFIGURED",
        "message": "no Kubernetes cluster configured: set INFRA_KUBECONFIG or run in-cluster",
    }


@pytest.mark.parametrize(
    ("manifest", "problem"),
    [
        ("apiVersion: v1\nkind: Secret\nmetadata:\n  name: x\n", "not 'Secret'"),
        (MANIFEST + "---\n" + MANIFEST, "exactly one SpinApp"),
        (MANIFEST.replace("name: hello", "name: hello\n  namespace: kube-system"), "kube-system"),
        ("key: [unclosed", "not valid YAML"),
    ],
)
async def test_manifests_other_than_the_scaffolded_kinds_are_refused_up_front(
    client: httpx.AsyncClient, manifest: str, problem: str
) -> None:
    body = {"job_key": "k", "namespace": "faas", "manifest": manifest}
    response = await client.post("/v1/deployments", json=body)
    assert response.status_code == 422
    assert problem in response.json()["detail"]


def test_the_kubeconfig_points_the_client_at_the_fake(tmp_path: Path) -> None:
    with running_fake_cluster() as fake:
        config = json.loads(fake.kubeconfig(tmp_path / "k").read_text())
    assert config["clusters"][0]["cluster"]["server"] == fake.url
