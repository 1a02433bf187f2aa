"""7. Invoke: a warm hello through the backend's invoke proxy vs straight to its endpoint.

The whole local stack as processes: DynamoDB Local and moto (harness.running_aws), Debian's
docker-registry, the reference infrastructure service with its local runtime (one replica),
and the backend (uvicorn, AUTH_MODE=none). examples/hello/app.py is deployed through the
backend's `POST /api/functions/{id}/deploy` (a real build), then one client (harness.LeanHttp,
one keep-alive connection, one request at a time) alternates rounds of GETs:

- through the backend: `GET /api/functions/{id}/invoke/` (access check, proxy, figures);
- direct: `GET <endpoint>/`, the gateway URL the deploy reported.

Both paths end in the same replica; the ratio is the backend's cost per invocation.

    python bench/invoke.py [--quick]
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
    LeanHttp,
    Section,
    backend_env,
    cli,
    create_workspace,
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

NAME = "invoke"
TITLE = "7. Invoke (warm hello: through the backend vs direct to its endpoint)"
INFRA = ROOT / "infra"
TARGET_RATIO = 1.3


def run(*, quick: bool = False, profile: bool = False) -> Section:
    section = Section(NAME, TITLE)
    rounds, per_round = (3, 200) if quick else (6, 500)
    with (
        running_aws() as aws,
        running_registry() as registry,
        tempfile.TemporaryDirectory(prefix="bench-invoke-") as tmp,
    ):
        port, gateway = free_port(), free_port()
        env = local_infra_env(
            port=port,
            gateway=gateway,
            aws_url=aws.url,
            registry_host=registry.host,
            scratch=Path(tmp) / "service",
        )
        infra = spawn([PYTHON, "-m", "infra_service"], env=env, cwd=INFRA, log_name="infra")
        try:
            infra_url = f"http://127.0.0.1:{port}"
            wait_http(f"{infra_url}/health", infra)
            backend_settings = {"poll_interval_seconds": 0.5, "poll_first_delay_seconds": 0.1}
            with running_backend(backend_env(aws, infra_url, **backend_settings)) as backend:
                figures = asyncio.run(_measure(backend.url, rounds, per_round))
        finally:
            stop(infra)
    _report(section, figures, rounds, per_round)
    return section


async def _deploy(url: str) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=url, timeout=60, trust_env=False) as api:
        workspace_id = await create_workspace(api, "bench-invoke")
        created = await api.post(
            f"/api/workspaces/{workspace_id}/functions", json={"name": "hello", "replicas": 1}
        )
        created.raise_for_status()
        function: dict[str, Any] = created.json()
        source = (ROOT / "examples" / "hello" / "app.py").read_bytes()
        started = time.perf_counter()
        posted = await api.post(
            f"/api/functions/{function['id']}/deploy", files={"file": ("app.py", source)}
        )
        posted.raise_for_status()
        while True:
            task = (await api.get(f"/api/v1/tasks/{posted.json()['task_id']}")).json()
            if task["status"] == "failed":
                failure = f"{task['error_code']} {task['error_message']}"
                raise RuntimeError(f"the deploy failed: {failure}")
            if task["status"] == "completed":
                function = (await api.get(f"/api/functions/{function['id']}")).json()
                if function["endpoint"]:
                    break
            if time.perf_counter() - started > 900:
                raise RuntimeError("the deploy did not finish within 900 s")
            await asyncio.sleep(0.2)
        log(f"deployed examples/hello in {time.perf_counter() - started:.1f} s")
        return function


async def _round(client: LeanHttp, path: str, count: int) -> list[float]:
    latencies = []
    for _ in range(count):
        started = time.perf_counter()
        status, body = await client.get(path)
        latencies.append((time.perf_counter() - started) * 1000)
        if status != 200 or not body.startswith(b"Hello"):
            raise RuntimeError(f"{path} answered {status}: {body[:200]!r}")
    return latencies


async def _measure(url: str, rounds: int, per_round: int) -> dict[str, Any]:
    function = await _deploy(url)
    endpoint = function["endpoint"]
    gateway_base, _, app_path = endpoint.removeprefix("http://").partition("/")
    direct_path = f"/{app_path}/"
    backend_path = f"/api/functions/{function['id']}/invoke/"
    backend, direct = LeanHttp(url), LeanHttp(f"http://{gateway_base}")
    try:
        await _round(backend, backend_path, 50)  # warm both: connections, caches, the replica
        await _round(direct, direct_path, 50)
        through: list[float] = []
        straight: list[float] = []
        ratios: list[float] = []
        for index in range(rounds):
            order = [(backend, backend_path, through), (direct, direct_path, straight)]
            if index % 2:
                order.reverse()
            medians = {}
            for client, path, sink in order:
                values = await _round(client, path, per_round)
                sink.extend(values)
                medians[path] = median(values)
            ratios.append(medians[backend_path] / medians[direct_path])
            log(f"round {index + 1}: ratio of medians {ratios[-1]:.2f}")
        async with httpx.AsyncClient(base_url=url, trust_env=False) as api:
            await asyncio.sleep(0.1)
            stats = (await api.get(f"/api/functions/{function['id']}/stats")).json()
    finally:
        await backend.close()
        await direct.close()
    return {"through": through, "direct": straight, "ratios": ratios, "stats": stats}


def _report(section: Section, figures: dict[str, Any], rounds: int, per_round: int) -> None:
    through, direct = figures["through"], figures["direct"]
    p50_ratio = median(through) / median(direct)
    p99_ratio = percentile(through, 99) / percentile(direct, 99)
    section.add(
        "through the backend: p50 / p99",
        f"{median(through):.2f} ms / {percentile(through, 99):.2f} ms",
    )
    section.add(
        "direct to the endpoint: p50 / p99",
        f"{median(direct):.2f} ms / {percentile(direct, 99):.2f} ms",
    )
    section.add(
        "backend ÷ direct, p50",
        f"{p50_ratio:.2f}x (rounds: {', '.join(f'{r:.2f}' for r in figures['ratios'])})",
        f"≤ {TARGET_RATIO}x",
        p50_ratio <= TARGET_RATIO,
    )
    section.add("backend ÷ direct, p99", f"{p99_ratio:.2f}x")
    section.add(
        "added by the backend, p50",
        f"{median(through) - median(direct):.2f} ms",
    )
    stats = figures["stats"]
    section.add(
        "GET /api/functions/{id}/stats after the run",
        f"count {stats['count']}, errors {stats['errors']}, p50 {stats['p50_ms']} ms, "
        f"p95 {stats['p95_ms']} ms",
    )
    section.note(
        f"{rounds} rounds of {per_round} sequential GETs per path, alternating which goes first, "
        "after 50 warm-up requests each; one keep-alive connection per path (harness.LeanHttp). "
        "Backend: uvicorn, one process, AUTH_MODE=none, DynamoDB Local on tmpfs. The function: "
        "examples/hello on the infrastructure service's local runtime, one replica, behind its "
        "gateway."
    )


if __name__ == "__main__":
    cli(run, NAME)
