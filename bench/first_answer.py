"""7. Upload → first answer on the local stack that `make run` starts.

`scripts/run_stack.py` is started as `make run` starts it (DynamoDB Local, moto, Debian's
docker-registry, the infrastructure service with the local runtime, the backend), on free ports
and with its state in a temporary directory. Then, as a user would with curl:

- create a workspace and a function, `POST /api/functions/{id}/deploy` with
  examples/hello/app.py, and time from that request to the first 200 answered by the function
  (through the backend's invoke route when it exists, else at the endpoint the task reports),
  polling the task every 100 ms;
- a new source each run (a comment with a nonce: the build cache misses, the component is built
  and compiled) and the same source again (build cache hit, compiled cache hit), so both what a
  user sees on a first upload and on a re-upload are shown.

    python bench/first_answer.py [--quick]
"""

import os
import tempfile
import time
import uuid
from pathlib import Path

import httpx
from harness import PYTHON, ROOT, Section, cli, free_port, log, median, spawn, stop, wait_http

NAME = "first_answer"
TITLE = "10. Upload → first answer on `make run` (hello, local runtime)"
HELLO = (ROOT / "examples" / "hello" / "app.py").read_bytes()
TIMEOUT = 600.0


def _stack_env(data: Path) -> dict[str, str]:
    ports = {
        name: str(free_port())
        for name in (
            "DYNAMODB_PORT",
            "MOTO_PORT",
            "REGISTRY_PORT",
            "INFRA_PORT",
            "INFRA_GATEWAY_PORT",
            "BACKEND_PORT",
        )
    }
    return {**os.environ, **ports, "STACK_DATA_DIR": str(data), "LOG_LEVEL": "WARNING"}


def _deploy_to_first_answer(client: httpx.Client, function_id: str, source: bytes) -> float:
    """Seconds from the deploy request to the function's first 200."""
    started = time.perf_counter()
    posted = client.post(f"/api/functions/{function_id}/deploy", files={"file": ("app.py", source)})
    if posted.status_code != 202:
        raise RuntimeError(f"deploy answered {posted.status_code}: {posted.text[:300]}")
    task_id = posted.json()["task_id"]
    while True:
        if time.perf_counter() - started > TIMEOUT:
            raise RuntimeError(f"task {task_id} did not finish within {TIMEOUT:.0f} s")
        task = client.get(f"/api/v1/tasks/{task_id}").json()
        if task["status"] == "failed":
            error = f"{task.get('error_code')}: {task.get('error_message')}"
            raise RuntimeError(f"task failed: {error}")
        if task["status"] == "completed":
            break
        time.sleep(0.1)
    while time.perf_counter() - started < TIMEOUT:
        answer = client.get(f"/api/functions/{function_id}/invoke/")
        endpoint = task["result"].get("endpoint")
        if answer.status_code == 404 and endpoint:  # no invoke route here: the endpoint itself
            answer = httpx.get(endpoint + "/", timeout=10, trust_env=False)
        if answer.status_code == 200:
            return time.perf_counter() - started
        time.sleep(0.05)
    raise RuntimeError("the function never answered 200")


def _measure(base_url: str, runs: int) -> dict[str, list[float]]:
    figures: dict[str, list[float]] = {"new": [], "same": []}
    with httpx.Client(base_url=base_url, timeout=60, trust_env=False) as client:
        workspace = client.post("/api/workspaces", json={"name": "bench-first-answer"}).json()
        for number in range(runs):
            function = client.post(
                f"/api/workspaces/{workspace['id']}/functions",
                json={"name": f"hello-{number}", "replicas": 1},
            ).json()
            source = HELLO + f"\n# run {uuid.uuid4().hex}\n".encode()
            figures["new"].append(_deploy_to_first_answer(client, function["id"], source))
            log(f"new source: {figures['new'][-1]:.1f} s")
            figures["same"].append(_deploy_to_first_answer(client, function["id"], source))
            log(f"same source again: {figures['same'][-1]:.1f} s")
    return figures


def run(*, quick: bool = False, profile: bool = False) -> Section:
    section = Section(NAME, TITLE)
    runs = 1 if quick else 3
    with tempfile.TemporaryDirectory(prefix="bench-first-answer-") as tmp:
        env = _stack_env(Path(tmp) / "data")
        process = spawn(
            [PYTHON, str(ROOT / "scripts" / "run_stack.py")], env=env, cwd=ROOT, log_name="stack"
        )
        base_url = f"http://127.0.0.1:{env['BACKEND_PORT']}"
        try:
            wait_http(f"{base_url}/health/ready", process, timeout=180)
            figures = _measure(base_url, runs)
        finally:
            stop(process, timeout=60)
    new, same = figures["new"], figures["same"]
    section.add(
        "new source: deploy request → first 200 (build, push, scaffold, deploy, compile), p50",
        f"{median(new):.1f} s (runs: {', '.join(f'{v:.1f}' for v in new)})",
    )
    section.add(
        "same source again (build cache and compiled cache hit), p50",
        f"{median(same):.1f} s (runs: {', '.join(f'{v:.1f}' for v in same)})",
    )
    section.note(
        "The stack is scripts/run_stack.py as `make run` starts it, on free ports, state in a "
        "temporary directory; one replica per function; the task is polled every 100 ms."
    )
    return section


if __name__ == "__main__":
    cli(run, NAME)
