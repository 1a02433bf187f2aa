"""3. Pipeline latency: upload → `completed` against a fake infrastructure service whose jobs
are finished by the time anyone asks (they succeed on their first status read), with the
default adaptive polling (first poll after 0.25 s, doubling up to the 5 s interval) and with a
fixed 5 s poll (POLL_FIRST_DELAY_SECONDS = POLL_INTERVAL_SECONDS = 5); and the steady-state
request rate to the services with many long-running tasks, from the fake's request log.

Latency is what a user sees: from just before the upload POST to the first
`GET /api/v1/tasks/{id}` answering `completed` (the client polls every 20 ms). Runs go in 4
concurrent streams so the fixed-5 s case fits in half a minute.

    python bench/pipeline.py [--quick] [--profile]
"""

import asyncio
import time

import httpx
from harness import (
    Backend,
    LocalAws,
    Section,
    backend_env,
    cli,
    create_workspace,
    log,
    median,
    percentile,
    running_aws,
    running_backend,
    upload_build,
)

from testing.fake_infra import FakeInfraService

NAME = "pipeline"
TITLE = "3. Pipeline latency and the request rate to the services"
TARGET_P50 = 1.5
RUNS = 20
STREAMS = 4
CLIENT_POLL = 0.02


async def wait_completed(http: httpx.AsyncClient, task_id: str, *, within: float = 60) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        task = (await http.get(f"/api/v1/tasks/{task_id}")).json()
        if task["status"] == "completed":
            return
        if task["status"] == "failed":
            raise RuntimeError(f"task {task_id} failed: {task['error_code']}")
        await asyncio.sleep(CLIENT_POLL)
    raise RuntimeError(f"task {task_id} not completed within {within} s")


async def latencies(backend: Backend, *, runs: int, pipeline: bool = False) -> list[float]:
    """Upload → completed, `runs` times in `STREAMS` concurrent streams."""
    results: list[float] = []
    async with httpx.AsyncClient(base_url=backend.url, timeout=30) as http:
        workspace_id = await create_workspace(http)

        async def stream(number: int) -> None:
            function_id = None
            if pipeline:
                response = await http.post(
                    f"/api/workspaces/{workspace_id}/functions", json={"name": f"fn-{number}"}
                )
                response.raise_for_status()
                function_id = response.json()["id"]
            for _ in range(runs // STREAMS):
                started = time.perf_counter()
                if function_id:
                    response = await http.post(
                        f"/api/functions/{function_id}/deploy",
                        files={"file": ("app.py", b"print('hi')\n")},
                    )
                    if response.status_code != 202:
                        raise RuntimeError(f"deploy answered {response.status_code}")
                    task = response.json()
                else:
                    task = await upload_build(http, workspace_id)
                await wait_completed(http, task["task_id"])
                results.append(time.perf_counter() - started)

        await asyncio.gather(*(stream(number) for number in range(STREAMS)))
    return results


async def steady_rate(
    backend: Backend, infra: FakeInfraService, aws: LocalAws, *, tasks: int, interval: float,
    settle: float, window: float,
) -> dict[str, float]:  # fmt: skip
    """Requests to the services per task per interval once polling has backed off."""
    async with httpx.AsyncClient(base_url=backend.url, timeout=30) as http:
        workspace_id = await create_workspace(http, "steady")
        for _ in range(tasks):
            await upload_build(http, workspace_id, app_name="steady")
        start = time.monotonic() + settle  # the last task created has backed off by then
        await asyncio.sleep(max(0.0, start - time.monotonic()))
        aws.reset_counts()
        await asyncio.sleep(window)
        dynamodb = aws.dynamodb_requests()
    in_window = [
        r for r in infra.requests_log if r.method == "GET" and start <= r.at < start + window
    ]
    return {
        "per_task_interval": len(in_window) / tasks / (window / interval),
        "dynamodb_per_second": dynamodb / window,
        "gets_per_second": len(in_window) / window,
    }


def run(*, quick: bool = False, profile: bool = False) -> Section:
    section = Section(NAME, TITLE)
    runs = 12 if quick else RUNS
    steady_tasks, settle, window = (50, 9.0, 10.0) if quick else (100, 9.0, 20.0)
    with FakeInfraService(token="bench-infra-token") as infra, running_aws() as aws:
        infra.succeed_after(None, polls=1)
        infra.succeed_after(None, polls=1_000_000, app_name="steady")
        env = backend_env(aws, infra.url, pollers_enabled=True)
        with running_backend(env, name="pipeline-adaptive") as backend:
            adaptive = asyncio.run(latencies(backend, runs=runs))
            log(f"pipeline: adaptive build p50 {median(adaptive):.2f} s")
            full = asyncio.run(latencies(backend, runs=STREAMS * 2, pipeline=True))
            log(f"pipeline: adaptive 4-stage p50 {median(full):.2f} s")
            steady = asyncio.run(
                steady_rate(
                    backend, infra, aws, tasks=steady_tasks, interval=5.0, settle=settle,
                    window=window,
                )
            )  # fmt: skip
            log(f"pipeline: steady state {steady}")
        fixed_env = env | {"POLL_FIRST_DELAY_SECONDS": "5", "POLL_INTERVAL_SECONDS": "5"}
        with running_backend(fixed_env, name="pipeline-fixed") as backend:
            fixed = asyncio.run(latencies(backend, runs=runs))
            log(f"pipeline: fixed 5 s build p50 {median(fixed):.2f} s")

    p50 = median(adaptive)
    section.add(
        f"build task, upload → completed, adaptive polling (default): p50 / p90 ({runs} runs)",
        f"{p50:.2f} s / {percentile(adaptive, 90):.2f} s",
        f"p50 ≤ {TARGET_P50} s",
        p50 <= TARGET_P50,
    )
    section.add(
        f"same, fixed 5 s polling: p50 / p90 ({runs} runs)",
        f"{median(fixed):.2f} s / {percentile(fixed, 90):.2f} s",
    )
    section.add("fixed ÷ adaptive (p50)", f"{median(fixed) / p50:.1f}x")
    section.add(
        f"build → push → scaffold → deploy (POST /api/functions/{{id}}/deploy), adaptive: "
        f"p50 ({len(full)} runs)",
        f"{median(full):.2f} s",
    )
    section.add(
        f"steady state, {steady_tasks} long-running tasks, 5 s interval: service requests per "
        f"task per interval ({window:.0f} s window, {settle:.0f} s after the last was created)",
        f"{steady['per_task_interval']:.2f}",
        "≤ 1",
        steady["per_task_interval"] <= 1.0,
    )
    section.add(
        "… DynamoDB requests per second in that window (all tasks, incl. the due-index reads)",
        f"{steady['dynamodb_per_second']:.0f} for {steady['gets_per_second']:.0f} polls/s",
    )
    section.note(
        "Fake service in the benchmark process (testing/fake_infra.py): every job succeeds on "
        "its first status read. Backend: one uvicorn process, defaults (POLL_FIRST_DELAY 0.25 s, "
        "POLL_INTERVAL 5 s, POLLER_TICK 1 s) unless stated."
    )
    return section


if __name__ == "__main__":
    cli(run, NAME)
