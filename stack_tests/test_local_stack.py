"""`make run` keeps its data: across SIGTERM and a restart, and across `kill -9` of each process.

The backend's infrastructure services are a fake in this process (a real build is slow; see
stack_tests/support.py); DynamoDB Local, moto, the registry, the real infrastructure service and
the backend are the stack's own processes, under its supervisor. The last test (also `e2e`)
builds and pushes for real through the stack's own infrastructure service, -9'd mid-build.
"""

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from stack_tests.support import (
    ROOT,
    LocalStack,
    descendants,
    is_loopback,
    listening_sockets,
    push_to_registry,
)
from testing.fake_infra import FakeInfraService

pytestmark = pytest.mark.stack

TOKEN = "stack-test-infra-token"
SOURCE = b"""from spin_sdk import http
from spin_sdk.http import Request, Response


class IncomingHandler(http.IncomingHandler):
    def handle_request(self, request: Request) -> Response:
        return Response(200, {"content-type": "text/plain"}, b"kept")
"""
ARTIFACT = b"\0asm" + os.urandom(4096)  # what a build would have written
PROCESSES = ["backend", "infra service", "registry", "moto (S3, ECR)", "DynamoDB Local"]


@dataclass
class Seeded:
    workspace_id: str
    function_id: str
    task_id: str
    source_path: str
    wasm_path: str
    manifest_digest: str
    repository: str


@pytest.fixture(scope="module")
def fake_infra() -> Iterator[FakeInfraService]:
    with FakeInfraService(token=TOKEN) as infra:
        yield infra


@pytest.fixture(scope="module")
def stack(
    tmp_path_factory: pytest.TempPathFactory, fake_infra: FakeInfraService
) -> Iterator[LocalStack]:
    stack = LocalStack(
        tmp_path_factory.mktemp("stack") / "data",
        infra_url=fake_infra.url,
        INFRA_SERVICE_TOKEN=TOKEN,
    )
    stack.start()
    try:
        yield stack
    finally:
        if stack.process is not None:
            stack.stop()
        stack.kill_everything()


def _split(s3_path: str) -> tuple[str, str]:
    bucket, key = s3_path.removeprefix("s3://").split("/", 1)
    return bucket, key


def wait_for_task(stack: LocalStack, task_id: str, until: str, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        task = httpx.get(f"{stack.backend}/api/v1/tasks/{task_id}", timeout=10).json()
        if until == "terminal" and task["status"] in ("completed", "failed"):
            return task
        if until == "job" and any(stage.get("job_id") for stage in task["stages"]):
            return task
        assert time.monotonic() < deadline, (
            f"task still {task['status']}: {task}\n{stack.log_text()[-6000:]}"
        )
        time.sleep(0.2)


def upload(stack: LocalStack, workspace_id: str, function_id: str, app_name: str) -> str:
    response = httpx.post(
        f"{stack.backend}/api/v1/build",
        data={"workspace_id": workspace_id, "app_name": app_name, "function_id": function_id},
        files={"file": ("app.py", SOURCE)},
        timeout=30,
    )
    assert response.status_code == 202, response.text
    return response.json()["task_id"]


def seed(stack: LocalStack, fake: FakeInfraService, name: str) -> Seeded:
    """A workspace, a function, a completed build, its source and artifact, a registry image."""
    fake.succeed_after(None, polls=1)
    api = stack.backend
    workspace = httpx.post(f"{api}/api/workspaces", json={"name": name}, timeout=10).json()
    function = httpx.post(
        f"{api}/api/workspaces/{workspace['id']}/functions", json={"name": name}, timeout=10
    ).json()
    task_id = upload(stack, workspace["id"], function["id"], name)
    task = wait_for_task(stack, task_id, "terminal")
    assert task["status"] == "completed", task
    wasm_path = task["result"]["wasm_path"]
    bucket, key = _split(wasm_path)
    stack.s3().put_object(Bucket=bucket, Key=key, Body=ARTIFACT)
    repository = f"functions/{name}"
    digest = push_to_registry(stack.registry, repository, ARTIFACT)
    return Seeded(
        workspace_id=workspace["id"],
        function_id=function["id"],
        task_id=task_id,
        source_path=task["result"]["source_code_path"],
        wasm_path=wasm_path,
        manifest_digest=digest,
        repository=repository,
    )


def assert_all_there(stack: LocalStack, seeded: Seeded) -> None:
    api = stack.backend
    assert httpx.get(f"{api}/api/workspaces/{seeded.workspace_id}").status_code == 200
    function = httpx.get(f"{api}/api/functions/{seeded.function_id}").json()
    assert function["id"] == seeded.function_id
    task = httpx.get(f"{api}/api/v1/tasks/{seeded.task_id}").json()
    assert task["status"] == "completed"
    assert task["result"]["source_code_path"] == seeded.source_path
    assert task["result"]["wasm_path"] == seeded.wasm_path
    s3 = stack.s3()
    for path, content in ((seeded.source_path, SOURCE), (seeded.wasm_path, ARTIFACT)):
        bucket, key = _split(path)
        assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == content
    manifest = httpx.get(
        f"http://{stack.registry}/v2/{seeded.repository}/manifests/v1",
        headers={"Accept": "application/vnd.oci.image.manifest.v1+json"},
    )
    assert manifest.status_code == 200
    assert manifest.headers["docker-content-digest"] == seeded.manifest_digest
    layer = manifest.json()["layers"][0]["digest"]
    blob = httpx.get(f"http://{stack.registry}/v2/{seeded.repository}/blobs/{layer}")
    assert blob.content == ARTIFACT


def test_nothing_of_the_stack_listens_beyond_loopback(stack: LocalStack) -> None:
    assert stack.process is not None
    sockets = listening_sockets(descendants(stack.process.pid))
    ports = {port for _, _, port in sockets}
    for name in (
        "BACKEND_PORT",
        "INFRA_PORT",
        "INFRA_GATEWAY_PORT",
        "REGISTRY_PORT",
        "MOTO_PORT",
        "DYNAMODB_PORT",
    ):
        assert stack.ports[name] in ports, f"nothing of the stack listens on {name}"
    beyond = [
        (pid, str(address), port) for pid, address, port in sockets if not is_loopback(address)
    ]
    assert beyond == []


def test_each_process_killed_in_turn_comes_back_with_everything_and_the_running_task_finishes(
    stack: LocalStack, fake_infra: FakeInfraService
) -> None:
    seeded = seed(stack, fake_infra, "before-kills")
    # A task mid-build: its job answers "running" until the service is told otherwise.
    fake_infra.succeed_after(None, polls=10**9)
    running = upload(stack, seeded.workspace_id, seeded.function_id, "before-kills")
    wait_for_task(stack, running, "job")

    for name in PROCESSES:
        if name.startswith("moto"):
            # moto's state reaches the disk a second after a change (MOTO_SNAPSHOT_SECONDS);
            # what a kill -9 can lose is that second, so the test waits it out.
            stack.wait_snapshot_written()
        mark = len(stack.log_text())
        os.kill(stack.pids()[name], signal.SIGKILL)
        stack.wait_for_line(f"{name} is back", timeout=90, after=mark)
        assert f"{name} was killed by SIGKILL" in stack.log_text()[mark:]
        stack.wait_ready()
        try:
            assert_all_there(stack, seeded)
        except Exception as exc:
            raise AssertionError(
                f"after kill -9 of {name}: {exc}\n{stack.log_text()[-5000:]}"
            ) from exc
        task = httpx.get(f"{stack.backend}/api/v1/tasks/{running}").json()
        assert task["status"] == "running", task

    # The service "finishes" the build: the job it had is gone (as after a crash of the real
    # service), so the backend resubmits by job_key and the new job succeeds.
    fake_infra.forget_jobs()
    fake_infra.succeed_after(None, polls=1)
    assert wait_for_task(stack, running, "terminal")["status"] == "completed"


def test_sigterm_stops_every_process_and_a_restart_finds_all_data(
    stack: LocalStack, fake_infra: FakeInfraService
) -> None:
    seeded = seed(stack, fake_infra, "across-restarts")
    pids = stack.pids()
    # No waiting for moto's periodic snapshot: SIGTERM itself must write the state.
    assert stack.stop(signal.SIGTERM) == 0
    for name, pid in pids.items():
        assert not Path(f"/proc/{pid}").exists(), f"{name} is still running"
    log = stack.log_text()
    for name in PROCESSES:
        assert f"stopped {name}" in log
    assert not (stack.data / "stack.json").exists()

    stack.start()
    stack.wait_ready()
    assert_all_there(stack, seeded)


def test_clean_data_refuses_while_the_stack_runs_and_wipes_it_once_stopped(
    stack: LocalStack,
) -> None:
    command = [sys.executable, str(ROOT / "scripts" / "run_stack.py"), "--clean-data"]
    refused = subprocess.run(command, env=stack.env, capture_output=True, text=True, check=False)
    assert refused.returncode == 1
    assert "stop it" in refused.stdout
    assert (stack.data / "dynamodb").is_dir()

    assert stack.stop() == 0
    wiped = subprocess.run(command, env=stack.env, capture_output=True, text=True, check=False)
    assert wiped.returncode == 0, wiped.stdout
    assert not stack.data.exists()

    stack.start()
    stack.wait_ready()
    assert httpx.get(f"{stack.backend}/api/workspaces").json()["items"] == []


@pytest.mark.e2e
def test_a_real_build_whose_infra_service_is_killed_mid_build_still_completes_and_pushes(
    tmp_path: Path,
) -> None:
    """The stack's own infrastructure service, building for real (componentize-py), -9'd."""
    stack = LocalStack(tmp_path / "data", INFRA_SERVICE_TOKEN=TOKEN)
    stack.start()
    try:
        api = stack.backend
        workspace = httpx.post(f"{api}/api/workspaces", json={"name": "real"}, timeout=10).json()
        response = httpx.post(
            f"{api}/api/v1/build-and-push",
            data={"workspace_id": workspace["id"], "app_name": "real"},
            files={"file": ("app.py", SOURCE)},
            timeout=30,
        )
        assert response.status_code == 202, response.text
        task_id = response.json()["task_id"]
        wait_for_task(stack, task_id, "job", timeout=120)
        mark = len(stack.log_text())
        os.kill(stack.pids()["infra service"], signal.SIGKILL)  # the build dies with it
        stack.wait_for_line("infra service is back", timeout=90, after=mark)
        # The restarted service knows no job: the backend resubmits by job_key.
        task = wait_for_task(stack, task_id, "terminal", timeout=600)
        assert task["status"] == "completed", task
        bucket, key = _split(task["result"]["wasm_path"])
        assert stack.s3().get_object(Bucket=bucket, Key=key)["Body"].read(4) == b"\0asm"
        image = task["result"]["image_url"]
        registry, _, rest = image.partition("/")
        repository, _, digest = rest.partition("@")
        manifest = httpx.get(
            f"http://{registry}/v2/{repository}/manifests/{digest}",
            headers={"Accept": "application/vnd.oci.image.manifest.v1+json"},
        )
        assert manifest.status_code == 200
    finally:
        if stack.process is not None:
            stack.stop()
        stack.kill_everything()
