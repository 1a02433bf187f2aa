"""End to end on the local target with the real host and real componentize-py builds (slow).

One service process for the module (`python -m infra_service`, as `make run` starts it), which
the tests stop, restart and kill -9; moto, Debian's docker-registry, two real builds (hello,
and an app that reads a variable and keeps a key-value counter) reused by every test.
"""

import json
import os
import signal
import subprocess as sp
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from conftest import BUCKET, EXAMPLES, s3_client
from testing.infra_service import (
    Registry,
    _wait_http,
    infra_environment,
    running_registry,
    subprocess_popen,
)
from testing.moto import free_port, reset_moto

pytestmark = pytest.mark.e2e

HELLO_BODY = "Hello from a Python function on Spin!\n"
KV_APP = b"""
from spin_sdk import http, key_value, variables
from spin_sdk.http import Request, Response


class IncomingHandler(http.IncomingHandler):
    def handle_request(self, request: Request) -> Response:
        path = request.uri.split("?")[0]
        if path.endswith("/greeting"):
            body = variables.get("greeting")
        elif path.endswith("/count"):
            with key_value.open_default() as store:
                value = int((store.get("count") or b"0").decode()) + 1
                store.set("count", str(value).encode())
            body = str(value)
        else:
            print("kv app answered", path)
            body = "kv app"
        return Response(200, {"content-type": "text/plain"}, body.encode())
"""


@dataclass
class ServiceProcess:
    """The infrastructure service as a process the tests can stop, restart and kill."""

    env: dict[str, str]
    process: sp.Popen[bytes] | None = None
    http: httpx.Client = field(init=False)

    def __post_init__(self) -> None:
        self.http = httpx.Client(
            base_url=self.url,
            headers={"Authorization": f"Bearer {self.env['INFRA_SERVICE_TOKEN']}"},
            timeout=60,
            trust_env=False,
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.env['INFRA_PORT']}"

    @property
    def runtime_dir(self) -> Path:
        return Path(self.env["INFRA_SCRATCH_DIR"]) / "runtime"

    def start(self) -> None:
        self.process = subprocess_popen(self.env)
        _wait_http(f"{self.url}/health", timeout=60, process=self.process)

    def stop(self, sig: signal.Signals = signal.SIGTERM) -> None:
        assert self.process is not None
        self.process.send_signal(sig)
        self.process.wait(timeout=60)
        self.process = None

    def host_pids(self, namespace: str, name: str) -> list[int]:
        folder = self.runtime_dir / "apps" / namespace / name / "replicas"
        return [int(path.read_text()) for path in folder.glob("*.pid")]

    def run(self, collection: str, body: dict[str, Any], timeout: float = 300) -> dict[str, Any]:
        posted = self.http.post(f"/v1/{collection}", json=body)
        assert posted.status_code == 202, posted.text
        deadline = time.monotonic() + timeout
        while True:
            job: dict[str, Any] = self.http.get(
                f"/v1/{collection}/{posted.json()['job_id']}"
            ).json()
            if job["status"] in ("succeeded", "failed"):
                return job
            assert time.monotonic() < deadline, f"{collection} job still {job['status']}"
            time.sleep(0.05)


@dataclass
class Built:
    wasm_path: str
    image_url: str


@dataclass
class Stack:
    service: ServiceProcess
    s3: Any
    gateway: str
    builds: dict[str, Built] = field(default_factory=dict)

    def build(self, name: str, source: bytes, *, variables: list[str] | None = None) -> Built:
        """Build and push once per module."""
        if name in self.builds:
            return self.builds[name]
        key = f"build-sources/ws-1/task-{name}/app.py"
        self.s3.put_object(Bucket=BUCKET, Key=key, Body=source)
        started = time.monotonic()
        build = self.service.run("builds", {
            "job_key": f"task-{name}:build", "workspace_id": "ws-1", "app_name": name,
            "source": f"s3://{BUCKET}/{key}",
            "artifact": f"s3://{BUCKET}/build-artifacts/task-{name}/{name}.wasm",
        })  # fmt: skip
        assert build["status"] == "succeeded", build["error"]
        print(f"\nbuild of {name}: {time.monotonic() - started:.1f} s", file=sys.stderr)
        push = self.service.run("pushes", {
            "job_key": f"task-{name}:push", "wasm_path": build["result"]["wasm_path"],
            "app_name": name, "repository": "faas-functions", "tag": f"task-{name}",
            "variables": variables or [],
        })  # fmt: skip
        assert push["status"] == "succeeded", push["error"]
        self.builds[name] = Built(build["result"]["wasm_path"], push["result"]["image_url"])
        return self.builds[name]

    def deploy(
        self,
        built: Built,
        *,
        name: str,
        namespace: str = "faas",
        replicas: int = 1,
        variables: dict[str, str] | None = None,
        key: str | None = None,
    ) -> dict[str, Any]:
        scaffold = self.service.run("scaffolds", {
            "job_key": key or f"{namespace}-{name}-{built.image_url}:scaffold",
            "image_url": built.image_url, "app_name": name, "replicas": max(replicas, 1),
            "variables": variables or {},
        })  # fmt: skip
        manifest = scaffold["result"]["manifest"].replace(
            "replicas: 1\n", f"replicas: {replicas}\n"
        )
        return self.service.run("deployments", {
            "job_key": key or f"{namespace}-{name}-{built.image_url}-{replicas}:deploy",
            "namespace": namespace, "manifest": manifest,
        })  # fmt: skip


def get(url: str, **options: Any) -> httpx.Response:
    return httpx.get(url, timeout=30, trust_env=False, **options)


def eventually(url: str, *, timeout: float = 60) -> httpx.Response:
    deadline = time.monotonic() + timeout
    while True:
        try:
            response = get(url)
            if response.status_code == 200:
                return response
        except httpx.HTTPError:
            pass
        assert time.monotonic() < deadline, f"{url} did not answer 200 within {timeout} s"
        time.sleep(0.1)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"


@pytest.fixture(scope="module")
def stack(moto_server: str) -> Iterator[Stack]:
    reset_moto(moto_server)
    s3 = s3_client(moto_server)
    s3.create_bucket(Bucket=BUCKET)
    with running_registry() as registry, tempfile.TemporaryDirectory(prefix="infra-") as scratch:
        env = _environment(moto_server, registry, Path(scratch))
        service = ServiceProcess(env)
        service.start()
        try:
            yield Stack(service, s3, f"http://127.0.0.1:{env['INFRA_GATEWAY_PORT']}")
        finally:
            if service.process is not None:
                service.stop()


def _environment(moto: str, registry: Registry, scratch: Path) -> dict[str, str]:
    return infra_environment(
        aws_endpoint=moto,
        registry=registry,
        scratch_dir=scratch,
        gateway_port=free_port(),
        deploy_ready_timeout_seconds=120,
        runtime_restart_backoff_seconds=0.2,
        runtime_timeout_ms=10_000,
    )


@pytest.fixture(scope="module")
def hello(stack: Stack) -> Built:
    return stack.build("hello", (EXAMPLES / "hello" / "app.py").read_bytes())


@pytest.fixture(scope="module")
def kv_app(stack: Stack) -> Built:
    return stack.build("kvapp", KV_APP, variables=["greeting"])


def test_hello_deploys_through_the_api_and_its_endpoint_answers(stack: Stack, hello: Built) -> None:
    started = time.monotonic()
    job = stack.deploy(hello, name="hello")
    took = time.monotonic() - started
    # A compile unless the session's shared compiled cache already holds hello.
    print(f"\ndeploy of hello: {took:.1f} s", file=sys.stderr)
    assert job["status"] == "succeeded", job["error"]
    assert job["result"]["endpoint"] == f"{stack.gateway}/faas/hello"
    answer = get(job["result"]["endpoint"] + "/", headers={"X-Invocation-Id": "e2e-1"})
    assert (answer.status_code, answer.text) == (200, HELLO_BODY)
    assert answer.headers["x-invocation-id"] == "e2e-1"


def test_a_spinapp_variable_and_the_key_value_store_reach_the_code(
    stack: Stack, kv_app: Built
) -> None:
    job = stack.deploy(kv_app, name="kv", variables={"greeting": "hi from the SpinApp"})
    assert job["status"] == "succeeded", job["error"]
    endpoint = job["result"]["endpoint"]
    assert get(f"{endpoint}/greeting").text == "hi from the SpinApp"
    assert [get(f"{endpoint}/count").text for _ in range(2)] == ["1", "2"]
    get(f"{endpoint}/hello", headers={"X-Invocation-Id": "e2e-print"})
    logs = stack.service.http.get("/v1/deployments/faas/kv/logs", params={"tail": 50}).json()
    printed = [e for e in logs["entries"] if e["invocation_id"] == "e2e-print"]
    assert printed and printed[0]["message"] == "kv app answered /hello"


def test_two_namespaces_run_their_own_hello_side_by_side(stack: Stack, hello: Built) -> None:
    job = stack.deploy(hello, name="hello", namespace="team-b")
    assert job["status"] == "succeeded", job["error"]
    assert get(f"{stack.gateway}/team-b/hello/").text == HELLO_BODY
    assert get(f"{stack.gateway}/faas/hello/").text == HELLO_BODY
    assert stack.service.host_pids("team-b", "hello") != stack.service.host_pids("faas", "hello")


def test_a_redeploy_with_new_code_under_load_fails_no_request(
    stack: Stack, hello: Built, kv_app: Built
) -> None:
    assert stack.deploy(hello, name="swap")["status"] == "succeeded"
    answers: list[tuple[int, str]] = []
    stop = threading.Event()

    def load() -> None:
        with httpx.Client(trust_env=False, timeout=30) as http:
            while not stop.is_set():
                response = http.get(f"{stack.gateway}/faas/swap/")
                answers.append((response.status_code, response.text))

    workers = [threading.Thread(target=load) for _ in range(3)]
    for worker in workers:
        worker.start()
    try:
        job = stack.deploy(kv_app, name="swap", variables={"greeting": "x"})
        time.sleep(1.0)
    finally:
        stop.set()
        for worker in workers:
            worker.join()
    assert job["status"] == "succeeded", job["error"]
    failed = [answer for answer in answers if answer[0] != 200]
    print(f"\nredeploy under load: {len(answers)} requests, {len(failed)} failed", file=sys.stderr)
    assert not failed
    assert {HELLO_BODY, "kv app"} == {text for _, text in answers}
    assert get(f"{stack.gateway}/faas/swap/").text == "kv app"


def test_a_replica_killed_with_sigkill_is_restarted_and_serves_again(
    stack: Stack, hello: Built
) -> None:
    (pid,) = stack.service.host_pids("faas", "hello")
    os.kill(pid, signal.SIGKILL)
    eventually(f"{stack.gateway}/faas/hello/")
    (new_pid,) = stack.service.host_pids("faas", "hello")
    assert new_pid != pid and alive(new_pid)


def test_apps_and_their_data_come_back_after_the_service_restarts(
    stack: Stack, kv_app: Built
) -> None:
    stack.service.stop()
    with pytest.raises(httpx.ConnectError):
        get(f"{stack.gateway}/faas/kv/count")
    started = time.monotonic()
    stack.service.start()
    eventually(f"{stack.gateway}/faas/hello/")
    print(f"\nservice restart → hello answers: {time.monotonic() - started:.1f} s", file=sys.stderr)
    assert get(f"{stack.gateway}/faas/kv/count").text == "3"


def test_a_service_killed_with_sigkill_leaves_no_host_behind(stack: Stack) -> None:
    pids = stack.service.host_pids("faas", "hello") + stack.service.host_pids("faas", "kv")
    assert pids and all(alive(pid) for pid in pids)
    stack.service.stop(signal.SIGKILL)
    deadline = time.monotonic() + 10
    while any(alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(alive(pid) for pid in pids)
    stack.service.start()
    eventually(f"{stack.gateway}/faas/hello/")


def test_zero_replicas_is_a_deployed_app_that_answers_scaled_to_zero(
    stack: Stack, hello: Built
) -> None:
    job = stack.deploy(hello, name="idle", replicas=0)
    assert job["status"] == "succeeded", job["error"]
    answer = get(job["result"]["endpoint"])
    assert (answer.status_code, answer.json()["code"]) == (503, "FUNCTION_SCALED_TO_ZERO")


def test_an_undeployed_app_answers_function_not_deployed(stack: Stack) -> None:
    pids = stack.service.host_pids("team-b", "hello")
    deleted = stack.service.http.delete("/v1/deployments/team-b/hello")
    assert deleted.json()["deleted"] is True
    answer = get(f"{stack.gateway}/team-b/hello/")
    assert (answer.status_code, answer.json()["code"]) == (404, "FUNCTION_NOT_DEPLOYED")
    assert not any(alive(pid) for pid in pids)


def test_a_test_invocation_answers_without_a_deploy(stack: Stack, kv_app: Built) -> None:
    body = {
        "app_name": "kvapp",
        "wasm_path": kv_app.wasm_path,
        "variables": {"greeting": "tested"},
        "request": {"method": "GET", "path": "/greeting"},
    }
    started = time.monotonic()
    answer = stack.service.http.post("/v1/test-invocations", json=body)
    print(f"\ntest invocation: {time.monotonic() - started:.2f} s", file=sys.stderr)
    assert answer.status_code == 200, answer.text
    result = answer.json()
    assert (result["status"], result["body"], result["error_code"]) == (200, "tested", None)
    printed = stack.service.http.post(
        "/v1/test-invocations", json=body | {"request": {"path": "/other"}}
    ).json()
    assert printed["body"] == "kv app" and "kv app answered /other" in printed["stdout"]
    assert json.loads(json.dumps(printed))["duration_ms"] > 0
