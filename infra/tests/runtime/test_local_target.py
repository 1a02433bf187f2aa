"""The local deploy target through the service's HTTP API, with fake_host.py as the host.

Real service (lifespan, gateway on a real port), real push and scaffold jobs against moto and
Debian's docker-registry; only the component host is the stand-in (tests/runtime/fake_host.py).
"""

import asyncio
import os
import signal
import socket
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from infra_service.config import Settings
from runtime.local_stack import Service, fake_component, running_service, runtime_settings
from testing.infra_service import Registry, running_registry
from testing.moto import free_port


@pytest.fixture(scope="module")
def registry() -> Iterator[Registry]:
    with running_registry() as running:
        yield running


@pytest.fixture
def settings(aws_endpoint: str, s3: Any, tmp_path: Path, registry: Registry) -> Settings:
    return runtime_settings(aws_endpoint, tmp_path / "scratch", registry, gateway_port=free_port())


@pytest.fixture
async def service(settings: Settings, s3: Any) -> AsyncIterator[Service]:
    async with running_service(settings, s3) as running:
        yield running


async def call(url: str, method: str = "GET", **options: Any) -> httpx.Response:
    async with httpx.AsyncClient(trust_env=False, timeout=10) as http:
        return await http.request(method, url, **options)


async def eventually(url: str, check: Any, *, timeout: float = 15) -> httpx.Response:
    """Call until `check(response)` holds (the supervisor restarts things in the background)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        try:
            response = await call(url)
            if check(response):
                return response
        except httpx.HTTPError:
            pass
        assert asyncio.get_running_loop().time() < deadline, f"{url} never matched"
        await asyncio.sleep(0.05)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"


async def test_a_deployed_app_answers_at_its_endpoint_through_the_gateway(
    service: Service, settings: Settings
) -> None:
    job = await service.ship(fake_component(body="hello v1"), app="hello", task="t1")
    assert job["status"] == "succeeded", job["error"]
    endpoint = f"http://127.0.0.1:{settings.gateway_port}/faas/hello"
    assert job["result"] == {
        "namespace": "faas",
        "name": "hello",
        "ready_replicas": 1,
        "endpoint": endpoint,
        "applied": ["SpinApp"],
        "target": "local",
    }
    answer = await call(f"{endpoint}/any/path?x=1", headers={"X-Invocation-Id": "inv-42"})
    assert (answer.status_code, answer.text) == (200, "hello v1")
    assert answer.headers["x-invocation-id"] == "inv-42"
    assert len(answer.headers.get_list("date")) == 1  # the replica's own is not repeated
    generated = await call(endpoint)
    assert len(generated.headers["x-invocation-id"]) == 32
    state = (await service.api.get("/v1/deployments/faas/hello")).json()
    assert state["target"] == "local" and state["endpoint"] == endpoint
    assert (state["replicas"], state["ready_replicas"]) == (1, 1)
    assert state["image"].startswith(f"{settings.registry_url}/faas-functions@sha256:")
    logs = (await service.api.get("/v1/deployments/faas/hello/logs")).json()
    lines = [e for e in logs["entries"] if e["invocation_id"] == "inv-42"]
    assert lines and lines[0]["message"] == "handled GET /any/path?x=1"
    assert lines[0]["replica"] == "g1-r0" and lines[0]["stream"] == "stdout"


async def test_spinapp_variables_reach_the_host(service: Service, settings: Settings) -> None:
    job = await service.ship(
        fake_component(), app="vars", task="t1", variables={"greeting": "hi there"}
    )
    assert job["status"] == "succeeded", job["error"]
    answer = await call(job["result"]["endpoint"] + "/vars")
    assert answer.json() == {"greeting": "hi there"}


async def test_two_namespaces_run_the_same_name_side_by_side(service: Service) -> None:
    a = await service.ship(fake_component(body="from a"), app="hello", task="ta", namespace="a")
    b = await service.ship(fake_component(body="from b"), app="hello", task="tb", namespace="b")
    assert a["status"] == b["status"] == "succeeded"
    assert (await call(a["result"]["endpoint"])).text == "from a"
    assert (await call(b["result"]["endpoint"])).text == "from b"


async def test_redeploying_new_code_under_load_fails_no_request(service: Service) -> None:
    first = await service.ship(fake_component(body="v1"), app="hello", task="t1", replicas=2)
    assert first["status"] == "succeeded", first["error"]
    endpoint = first["result"]["endpoint"]
    old_pids = {int((await call(f"{endpoint}/pid")).text) for _ in range(6)}
    answers: list[tuple[int, str]] = []
    stop = asyncio.Event()

    async def load() -> None:
        async with httpx.AsyncClient(trust_env=False, timeout=10) as http:
            while not stop.is_set():
                response = await http.get(f"{endpoint}/slow")
                answers.append((response.status_code, response.text))

    loops = [asyncio.create_task(load()) for _ in range(4)]
    second = await service.ship(fake_component(body="v2"), app="hello", task="t2", replicas=2)
    await asyncio.sleep(0.5)
    stop.set()
    await asyncio.gather(*loops)
    assert second["status"] == "succeeded", second["error"]
    failed = [a for a in answers if a[0] != 200]
    assert not failed and {"v1", "v2"} == {text for _, text in answers}
    assert (await call(endpoint)).text == "v2"
    for pid in old_pids:
        assert await _gone(pid)


async def _gone(pid: int, timeout: float = 10) -> bool:
    for _ in range(int(timeout / 0.05)):
        if not alive(pid):
            return True
        await asyncio.sleep(0.05)
    return False


async def test_the_same_image_again_restarts_nothing_and_a_new_count_only_scales(
    service: Service,
) -> None:
    image = await service.push(fake_component(body="same"), app="hello", task="t1")
    manifest = await service.manifest(image, app="hello", task="t1")
    first = await service.deploy(manifest, key="d1")
    endpoint = first["result"]["endpoint"]
    pid = int((await call(f"{endpoint}/pid")).text)
    again = await service.deploy(manifest, key="d2")
    assert again["status"] == "succeeded"
    assert int((await call(f"{endpoint}/pid")).text) == pid
    scaled = await service.deploy(manifest.replace("replicas: 1", "replicas: 2"), key="d3")
    assert scaled["status"] == "succeeded"
    for _ in range(200):
        state = (await service.api.get("/v1/deployments/faas/hello")).json()
        if state["ready_replicas"] == 2:
            break
        await asyncio.sleep(0.05)
    assert (state["replicas"], state["ready_replicas"]) == (2, 2)
    pids = {int((await call(f"{endpoint}/pid")).text) for _ in range(6)}
    assert len(pids) == 2 and pid in pids


async def test_a_killed_replica_is_restarted_and_serves_again(service: Service) -> None:
    job = await service.ship(fake_component(), app="hello", task="t1")
    endpoint = job["result"]["endpoint"]
    pid = int((await call(f"{endpoint}/pid")).text)
    os.kill(pid, signal.SIGKILL)
    answer = await eventually(
        f"{endpoint}/pid", lambda r: r.status_code == 200 and int(r.text) != pid
    )
    assert alive(int(answer.text))
    logs = (await service.api.get("/v1/deployments/faas/hello/logs")).json()["entries"]
    assert any("g1-r0 stopped (killed by signal 9)" in e["message"] for e in logs)


async def test_undeploy_stops_the_hosts_and_forgets_the_app(
    service: Service, settings: Settings
) -> None:
    job = await service.ship(fake_component(), app="hello", task="t1")
    endpoint = job["result"]["endpoint"]
    pid = int((await call(f"{endpoint}/pid")).text)
    (await call(f"{endpoint}/count"))
    deleted = await service.api.delete("/v1/deployments/faas/hello")
    assert deleted.json() == {"namespace": "faas", "name": "hello", "deleted": True}
    answer = await call(endpoint)
    assert answer.status_code == 404
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["code"] == "FUNCTION_NOT_DEPLOYED"
    assert not alive(pid)
    missing = await service.api.get("/v1/deployments/faas/hello")
    assert (missing.status_code, missing.json()["code"]) == (404, "DEPLOYMENT_NOT_FOUND")
    assert (await service.api.get("/v1/deployments/faas/hello/logs")).status_code == 404
    again = await service.api.delete("/v1/deployments/faas/hello")
    assert again.json()["deleted"] is False
    assert not (settings.runtime_root / "apps" / "faas" / "hello").exists()


async def test_zero_replicas_is_deployed_and_answers_scaled_to_zero(service: Service) -> None:
    job = await service.ship(fake_component(), app="idle", task="t1", replicas=0)
    assert job["status"] == "succeeded", job["error"]
    assert job["result"]["ready_replicas"] == 0
    answer = await call(job["result"]["endpoint"])
    assert answer.status_code == 503
    assert answer.json()["code"] == "FUNCTION_SCALED_TO_ZERO"
    assert answer.headers["retry-after"] == "1"
    state = (await service.api.get("/v1/deployments/faas/idle")).json()
    assert (state["replicas"], state["ready_replicas"]) == (0, 0)


async def test_a_host_that_cannot_start_fails_the_deploy_with_its_own_reason(
    service: Service, settings: Settings
) -> None:
    broken = fake_component(crash=3, stderr="spin:sqlite is not available locally")
    job = await service.ship(broken, app="broken", task="t1")
    assert job["status"] == "failed"
    assert job["error"]["code"] == "DEPLOY_NOT_READY"
    assert "exit status 3" in job["error"]["message"]
    assert "spin:sqlite is not available locally" in job["error"]["message"]
    endpoint = f"http://127.0.0.1:{settings.gateway_port}/faas/broken"
    assert (await call(endpoint)).json()["code"] == "FUNCTION_NOT_DEPLOYED"


async def test_a_failed_redeploy_leaves_the_old_version_serving(service: Service) -> None:
    good = await service.ship(fake_component(body="good"), app="hello", task="t1")
    bad = await service.ship(fake_component(crash=1), app="hello", task="t2")
    assert bad["status"] == "failed"
    assert (await call(good["result"]["endpoint"])).text == "good"


async def test_deployed_apps_and_their_data_come_back_after_a_service_restart(
    settings: Settings, s3: Any
) -> None:
    async with running_service(settings, s3) as service:
        job = await service.ship(fake_component(), app="counter", task="t1")
        endpoint = job["result"]["endpoint"]
        assert [(await call(f"{endpoint}/count")).text for _ in range(2)] == ["1", "2"]
        pid = int((await call(f"{endpoint}/pid")).text)
    assert not alive(pid)
    with pytest.raises(httpx.ConnectError):  # the gateway went down with the service
        await call(endpoint)
    async with running_service(settings, s3) as service:
        await eventually(endpoint, lambda r: r.status_code == 200)
        assert (await call(f"{endpoint}/count")).text == "3"
        logs = (await service.api.get("/v1/deployments/faas/counter/logs")).json()["entries"]
        assert sum("GET /count" in e["message"] for e in logs) == 3


async def test_a_manifest_that_needs_a_cluster_is_refused_before_anything_runs(
    service: Service,
) -> None:
    image = await service.push(fake_component(), app="hello", task="t1")
    manifest = await service.manifest(image, app="hello", task="t1")
    manifest += "  variables:\n    - name: token\n      valueFrom:\n        secretKeyRef: {}\n"
    posted = await service.api.post(
        "/v1/deployments", json={"job_key": "k", "namespace": "faas", "manifest": manifest}
    )
    assert posted.status_code == 422
    assert "valueFrom" in posted.json()["detail"]


async def test_apps_beyond_the_machines_replica_budget_are_refused(
    aws_endpoint: str, s3: Any, tmp_path: Path, registry: Registry
) -> None:
    settings = runtime_settings(
        aws_endpoint, tmp_path / "scratch", registry, gateway_port=0, runtime_max_replicas=1
    )
    async with running_service(settings, s3) as service:
        assert (await service.ship(fake_component(), app="one", task="t1"))["status"] == (
            "succeeded"
        )
        second = await service.ship(fake_component(), app="two", task="t2")
        assert second["error"]["code"] == "RUNTIME_CAPACITY"


async def test_the_gateway_answers_its_own_errors_as_problems(
    service: Service, settings: Settings
) -> None:
    base = f"http://127.0.0.1:{settings.gateway_port}"
    lost = await call(f"{base}/")
    assert (lost.status_code, lost.json()["code"]) == (404, "NOT_FOUND")
    job = await service.ship(fake_component(), app="hello", task="t1")
    big = await call(
        job["result"]["endpoint"] + "/echo",
        "POST",
        content=b"x" * (settings.runtime_max_request_bytes + 1),
    )
    assert (big.status_code, big.json()["code"]) == (413, "REQUEST_TOO_LARGE")
    echoed = await call(job["result"]["endpoint"] + "/echo", "POST", content=b"ping")
    assert echoed.text == "ping"


async def test_a_gateway_port_in_use_stops_the_service_from_starting(
    aws_endpoint: str, s3: Any, tmp_path: Path, registry: Registry
) -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        settings = runtime_settings(aws_endpoint, tmp_path / "scratch", registry, gateway_port=port)
        with pytest.raises(OSError):
            async with running_service(settings, s3):
                pass


async def test_a_missing_host_program_fails_the_deploy_saying_so(
    aws_endpoint: str, s3: Any, tmp_path: Path, registry: Registry
) -> None:
    settings = runtime_settings(
        aws_endpoint,
        tmp_path / "scratch",
        registry,
        gateway_port=0,
        runtime_host_command=[str(tmp_path / "no-such-host")],
    )
    async with running_service(settings, s3) as service:
        job = await service.ship(fake_component(), app="hello", task="t1")
    assert job["error"]["code"] == "DEPLOY_NOT_READY"
    assert "cannot start the host" in job["error"]["message"]


async def test_an_image_without_a_registry_is_refused_at_submission(service: Service) -> None:
    manifest = (
        "apiVersion: core.spinkube.dev/v1alpha1\nkind: SpinApp\nmetadata:\n  name: hello\n"
        "spec:\n  image: hello\n  executor: containerd-shim-spin\n  replicas: 1\n"
    )
    posted = await service.api.post(
        "/v1/deployments", json={"job_key": "k", "namespace": "faas", "manifest": manifest}
    )
    assert posted.status_code == 422
    assert "must name its registry" in posted.json()["detail"]


def test_the_gateway_listens_on_a_socket_asyncio_sets_tcp_nodelay_on() -> None:
    # asyncio sets TCP_NODELAY only when the socket says IPPROTO_TCP; without it each kept-alive
    # answer waits for a delayed ACK (~40 ms).
    from infra_service.runtime.gateway import _listen

    with _listen("127.0.0.1", 0) as sock:
        assert sock.proto == socket.IPPROTO_TCP


async def test_deleting_a_namespace_stops_and_forgets_its_apps_only(
    service: Service, settings: Settings
) -> None:
    a = await service.ship(fake_component(body="from a"), app="hello", task="ta", namespace="a")
    b = await service.ship(fake_component(body="from b"), app="hello", task="tb", namespace="b")
    assert a["status"] == b["status"] == "succeeded"
    deleted = await service.api.delete("/v1/namespaces/a")
    assert deleted.json() == {"namespace": "a", "deleted": True}
    gone = await call(a["result"]["endpoint"])
    assert (gone.status_code, gone.json()["code"]) == (404, "FUNCTION_NOT_DEPLOYED")
    assert (await service.api.get("/v1/deployments/a/hello")).status_code == 404
    assert not (settings.runtime_root / "apps" / "a").exists()
    assert (await call(b["result"]["endpoint"])).text == "from b"
    again = await service.api.delete("/v1/namespaces/a")
    assert again.json() == {"namespace": "a", "deleted": False}


async def test_a_deploy_into_a_deleted_namespace_fails_instead_of_running(
    service: Service,
) -> None:
    assert (await service.api.delete("/v1/namespaces/gone")).json()["deleted"] is False
    job = await service.ship(fake_component(body="late"), app="hello", task="t", namespace="gone")
    assert (job["status"], job["error"]["code"]) == ("failed", "NAMESPACE_DELETED")
    assert (await service.api.get("/v1/deployments/gone/hello")).status_code == 404
