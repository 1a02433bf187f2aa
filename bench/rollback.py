"""7. Rollback: from `POST /api/functions/{id}/rollback` to the old body being served.

The stack as `make run` runs it: DynamoDB Local and moto, Debian's docker-registry, the
reference infrastructure service (local deploy target, its gateway) and the backend with its
default polling — all processes on loopback. One function gets two real builds (bodies
"one" and "two"), then is rolled back to revision 1, 2, 1, … : each run times the POST's 202
to the first GET of the endpoint answering the target revision's body (polled every 10 ms),
and to the rollback task reporting `completed`. No build runs: a rollback deploys the stored
image and manifest again, and the runtime keeps the compiled component.

    python bench/rollback.py [--quick]
"""

import asyncio
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from harness import (
    PYTHON,
    ROOT,
    Section,
    backend_env,
    cli,
    free_port,
    local_infra_env,
    log,
    median,
    percentile,
    running_aws,
    running_backend,
    spawn,
    stop,
    wait_http,
)

from testing.infra_service import running_registry

NAME = "rollback"
TITLE = "8. Rollback (POST …/rollback → the old body served, real local runtime)"
INFRA = ROOT / "infra"
TARGET_SECONDS = 2.0
SOURCE = """from spin_sdk import http
from spin_sdk.http import Request, Response


class IncomingHandler(http.IncomingHandler):
    def handle_request(self, request: Request) -> Response:
        return Response(200, {{"content-type": "text/plain"}}, b"{body}")
"""


def run(*, quick: bool = False, profile: bool = False) -> Section:
    section = Section(NAME, TITLE)
    rollbacks = 4 if quick else 10
    with (
        running_aws() as aws,
        running_registry() as registry,
        tempfile.TemporaryDirectory(prefix="bench-rollback-") as tmp,
    ):
        port, gateway = free_port(), free_port()
        infra_env = local_infra_env(
            port=port,
            gateway=gateway,
            aws_url=aws.url,
            registry_host=registry.host,
            scratch=Path(tmp) / "service",
        )
        infra = spawn([PYTHON, "-m", "infra_service"], env=infra_env, cwd=INFRA, log_name="infra")
        try:
            wait_http(f"http://127.0.0.1:{port}/health", infra)
            env = backend_env(aws, f"http://127.0.0.1:{port}", ecr_registry_url=registry.host)
            with running_backend(env) as backend:
                figures = asyncio.run(_measure(backend.url, rollbacks))
        finally:
            stop(infra)
    served, completed = figures["served"], figures["completed"]
    section.add(
        f"POST rollback → old body served: median / p90 ({len(served)} rollbacks)",
        f"{median(served):.2f} s / {percentile(served, 90):.2f} s "
        f"(runs: {', '.join(f'{s:.2f}' for s in served)})",
        f"≤ {TARGET_SECONDS:.0f} s",
        median(served) <= TARGET_SECONDS,
    )
    section.add(
        "POST rollback → its task `completed` (backend default polling): median",
        f"{median(completed):.2f} s (runs: {', '.join(f'{c:.2f}' for c in completed)})",
    )
    section.add("builds during the rollbacks", str(figures["builds"]), "0", figures["builds"] == 0)
    section.note(
        "The two real builds before the runs are not timed. The task completes after the body "
        "is served: the backend's adaptive polling (first poll after 0.25 s, backing off) "
        "notices the deploy job's success on its next poll."
    )
    return section


async def _measure(url: str, rollbacks: int) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=url, timeout=60, trust_env=False) as api:
        workspace = (await api.post("/api/workspaces", json={"name": "bench"})).json()["id"]
        created = await api.post(f"/api/workspaces/{workspace}/functions", json={"name": "flip"})
        function = created.json()["id"]
        endpoint = ""
        for body in ("one", "two"):
            log(f"building and deploying revision {body!r}")
            source = SOURCE.format(body=body).encode()
            answer = await api.post(
                f"/api/functions/{function}/deploy", files={"file": ("app.py", source)}
            )
            task = await _finished(api, answer.json()["task_id"], within=600)
            endpoint = task["result"]["endpoint"]
        builds_before = await _builds(api, workspace)
        served, completed = [], []
        async with httpx.AsyncClient(timeout=10, trust_env=False) as probe:
            for run in range(rollbacks):
                target = 1 if run % 2 == 0 else 2
                expected = "one" if target == 1 else "two"
                started = time.perf_counter()
                answer = await api.post(
                    f"/api/functions/{function}/rollback", json={"revision": target}
                )
                if answer.status_code != 202:
                    raise RuntimeError(f"rollback answered {answer.status_code}: {answer.text}")
                while (await probe.get(f"{endpoint}/")).text != expected:
                    if time.perf_counter() - started > 60:
                        raise RuntimeError("the old body was not served within 60 s")
                    await asyncio.sleep(0.01)
                served.append(time.perf_counter() - started)
                await _finished(api, answer.json()["task_id"], within=60)
                completed.append(time.perf_counter() - started)
                log(f"rollback {run + 1}: served {served[-1]:.2f} s, task {completed[-1]:.2f} s")
        builds = await _builds(api, workspace) - builds_before
    return {"served": served, "completed": completed, "builds": builds}


async def _finished(api: httpx.AsyncClient, task_id: str, *, within: float) -> dict[str, Any]:
    deadline = time.perf_counter() + within
    while True:
        task: dict[str, Any] = (await api.get(f"/api/v1/tasks/{task_id}")).json()
        if task["status"] == "completed":
            return task
        if task["status"] == "failed" or time.perf_counter() > deadline:
            raise RuntimeError(f"task {task_id}: {task['status']} {task.get('error_message')}")
        await asyncio.sleep(0.01)


async def _builds(api: httpx.AsyncClient, workspace: str) -> int:
    """Tasks of the workspace that ran a build stage."""
    tasks = (await api.get(f"/api/workspaces/{workspace}/tasks", params={"limit": 100})).json()
    return sum(any(s["name"] == "build" for s in t["stages"]) for t in tasks["items"])


if __name__ == "__main__":
    cli(run, NAME)
