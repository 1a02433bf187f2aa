"""The second-wave calls on the Kubernetes target (state, undeploy, runtime logs), against
the fake Kubernetes API (no API server can run here; fake_kube.py stands in for one)."""

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
HPA = (
    "---\napiVersion: autoscaling/v2\nkind: HorizontalPodAutoscaler\n"
    "metadata:\n  name: hello-autoscaler\nspec:\n  scaleTargetRef:\n"
    "    apiVersion: apps/v1\n    kind: Deployment\n    name: hello\n"
    "  minReplicas: 1\n  maxReplicas: 3\n"
)
SPINAPP_PATH = "/apis/core.spinkube.dev/v1alpha1/namespaces/faas/spinapps/hello"
HPA_PATH = "/apis/autoscaling/v2/namespaces/faas/horizontalpodautoscalers/hello-autoscaler"


@pytest.fixture
def cluster() -> Iterator[FakeCluster]:
    with running_fake_cluster() as fake:
        yield fake


async def _service(settings: Any) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings)
    async with (
        LifespanManager(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://infra.test", headers=AUTH
        ) as http,
    ):
        yield http


@pytest.fixture
async def api(
    aws_endpoint: str, s3: Any, tmp_path: Path, cluster: FakeCluster
) -> AsyncIterator[httpx.AsyncClient]:
    settings = make_settings(
        aws_endpoint,
        tmp_path / "scratch",
        kubeconfig=str(cluster.kubeconfig(tmp_path / "kubeconfig")),
        deploy_ready_timeout_seconds=1.5,
        deploy_poll_seconds=0.1,
        deploy_request_timeout_seconds=2,
    )
    async for http in _service(settings):
        yield http


async def _deploy(api: httpx.AsyncClient, manifest: str = MANIFEST) -> None:
    body = {"job_key": "t1:deploy", "namespace": "faas", "manifest": manifest}
    job = await run_job(api, "deployments", body, timeout=15)
    assert job["status"] == "succeeded", job["error"]


async def test_the_state_of_a_spinapp_is_what_the_cluster_reports(
    api: httpx.AsyncClient, cluster: FakeCluster
) -> None:
    await _deploy(api)
    state = await api.get("/v1/deployments/faas/hello")
    assert state.status_code == 200
    assert state.json() == {
        "namespace": "faas",
        "name": "hello",
        "target": "kubernetes",
        "image": "127.0.0.1:5001/faas-functions@sha256:abc",
        "replicas": 2,
        "ready_replicas": 2,
        "endpoint": "http://hello.faas.svc.cluster.local",
        "updated_at": "2026-01-01T00:00:01Z",
    }


async def test_the_state_of_an_unknown_app_is_404(api: httpx.AsyncClient) -> None:
    missing = await api.get("/v1/deployments/faas/nothing")
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"
    assert missing.json()["code"] == "DEPLOYMENT_NOT_FOUND"


async def test_undeploy_deletes_the_spinapp_and_its_hpa_and_is_idempotent(
    api: httpx.AsyncClient, cluster: FakeCluster
) -> None:
    await _deploy(api, MANIFEST.replace("  replicas: 2\n", "  enableAutoscaling: true\n") + HPA)
    assert cluster.object(HPA_PATH) is not None
    deleted = await api.delete("/v1/deployments/faas/hello")
    assert deleted.json() == {"namespace": "faas", "name": "hello", "deleted": True}
    assert cluster.object(SPINAPP_PATH) is None and cluster.object(HPA_PATH) is None
    deletes = [r[1] for r in cluster.requests if r[0] == "DELETE"]
    assert deletes == [SPINAPP_PATH, HPA_PATH]
    again = await api.delete("/v1/deployments/faas/hello")
    assert again.json()["deleted"] is False
    assert (await api.get("/v1/deployments/faas/hello")).status_code == 404


async def test_runtime_logs_are_the_app_pods_logs_merged_oldest_first(
    api: httpx.AsyncClient, cluster: FakeCluster
) -> None:
    await _deploy(api)
    cluster.add_pod("faas", "hello-7d9f-a", app="hello", lines=[
        ("2026-01-01T00:00:01.000000001Z", "a1"), ("2026-01-01T00:00:03.5Z", "a3"),
    ])  # fmt: skip
    cluster.add_pod("faas", "hello-7d9f-b", app="hello", lines=[
        ("2026-01-01T00:00:02.25Z", "b2"), ("2026-01-01T00:00:04Z", "b4"),
    ])  # fmt: skip
    cluster.add_pod("faas", "hello-7d9f-c", app="hello", lines=[], waiting=True)
    cluster.add_pod("faas", "other-1", app="other", lines=[("2026-01-01T00:00:02Z", "nope")])
    page = (await api.get("/v1/deployments/faas/hello/logs", params={"limit": 3})).json()
    assert [(e["message"], e["replica"]) for e in page["entries"]] == [
        ("a1", "hello-7d9f-a"), ("b2", "hello-7d9f-b"), ("a3", "hello-7d9f-a"),
    ]  # fmt: skip
    assert page["entries"][0]["time"] == "2026-01-01T00:00:01.000000Z"
    assert page["entries"][0]["stream"] == "stdout"
    assert page["next_since"] == "2026-01-01T00:00:03.500000Z"
    rest = await api.get("/v1/deployments/faas/hello/logs", params={"since": page["next_since"]})
    assert [e["message"] for e in rest.json()["entries"]] == ["b4"]
    tail = await api.get("/v1/deployments/faas/hello/logs", params={"tail": 1})
    assert [e["message"] for e in tail.json()["entries"]] == ["b4"]


async def test_runtime_logs_of_an_unknown_app_are_404(api: httpx.AsyncClient) -> None:
    missing = await api.get("/v1/deployments/faas/nothing/logs")
    assert (missing.status_code, missing.json()["code"]) == (404, "DEPLOYMENT_NOT_FOUND")


async def test_an_unreachable_cluster_answers_503_naming_it(
    aws_endpoint: str, s3: Any, tmp_path: Path
) -> None:
    with running_fake_cluster() as gone:
        kubeconfig = gone.kubeconfig(tmp_path / "kubeconfig")
    settings = make_settings(
        aws_endpoint, tmp_path / "scratch", kubeconfig=str(kubeconfig),
        deploy_request_timeout_seconds=2,
    )  # fmt: skip
    async for api in _service(settings):
        answer = await api.get("/v1/deployments/faas/hello")
        assert answer.status_code == 503
        assert answer.json()["code"] == "DEPLOY_UNAVAILABLE"
        assert answer.headers["retry-after"] == "5"


async def test_without_a_cluster_the_kubernetes_target_says_so(
    aws_endpoint: str, s3: Any, tmp_path: Path
) -> None:
    settings = make_settings(aws_endpoint, tmp_path / "scratch", deploy_target="kubernetes")
    async for api in _service(settings):
        answer = await api.delete("/v1/deployments/faas/hello")
        assert (answer.status_code, answer.json()["code"]) == (503, "DEPLOY_NOT_CONFIGURED")


async def test_the_calls_need_the_token_and_dns_names(api: httpx.AsyncClient) -> None:
    assert (
        await api.get("/v1/deployments/faas/hello", headers={"Authorization": ""})
    ).status_code == 401
    bad = await api.get("/v1/deployments/Bad_NS/hello")
    assert (bad.status_code, bad.json()["code"]) == (422, "VALIDATION_ERROR")
    since = await api.get("/v1/deployments/faas/hello/logs", params={"since": "yesterday"})
    assert since.status_code == 422
