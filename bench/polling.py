"""1. Status polling: `GET /api/v1/tasks/{id}` under 50 concurrent pollers, next to its floor.

DynamoDB is DynamoDB Local (as `make run`). The backend is a real uvicorn process with its
pollers on, driving the task being read (the fake infrastructure service keeps its job
running). The floor is bench/floor_app.py: a bare FastAPI route doing one aioboto3 GetItem of
the same item with the same client settings, served by uvicorn the same way. Phases alternate —
backend route, floor route, raw GetItem and raw Query on IdIndex from the load generator's own
aioboto3 client (context), `/health` (the backend with no DynamoDB call) — for several rounds;
the figures are medians over the rounds. CPU seconds per request of each process (load
generator, backend, floor, DynamoDB Local) come from /proc, so the figures say where the time
goes on this 2-core machine.

    python bench/polling.py [--quick] [--profile]

BENCH_BASELINE_DIR=<a checkout of an earlier commit> adds a phase: the same route served by
that commit's backend (a second uvicorn process on the same table, its pollers on too), so a
change is compared with what it replaces side by side, under the same load on the machine.
"""

import asyncio
import contextlib
import os
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import aioboto3
import httpx
from harness import (
    BENCH,
    Backend,
    LeanHttp,
    LocalAws,
    ProcStats,
    Section,
    backend_env,
    cli,
    create_workspace,
    log,
    median,
    percentile,
    running_aws,
    running_backend,
    settings_for,
    upload_build,
)

from testing.fake_infra import FakeInfraService

NAME = "polling"
TITLE = "1. Status polling (GET /api/v1/tasks/{id}, 50 concurrent pollers)"
CONCURRENCY = 50
TARGET_RATIO = 0.9


@dataclass
class Phase:
    requests: int
    errors: int
    seconds: float
    latencies: list[float]
    cpu: dict[str, float]  # process → CPU seconds during the phase

    @property
    def rate(self) -> float:
        return self.requests / self.seconds

    def cpu_ms_per_request(self, process: str) -> float:
        return self.cpu[process] * 1000 / max(self.requests, 1)


async def hammer(
    call: Callable[[int], Awaitable[bool]], *, seconds: float, probes: dict[str, ProcStats]
) -> Phase:
    """`CONCURRENCY` workers calling `call` back to back for `seconds` (bounded by time)."""
    latencies: list[float] = []
    errors = 0
    deadline = time.monotonic() + seconds

    async def worker(number: int) -> None:
        nonlocal errors
        while time.monotonic() < deadline:
            started = time.perf_counter()
            ok = await call(number)
            latencies.append(time.perf_counter() - started)
            errors += not ok

    before = {name: probe.cpu_seconds() for name, probe in probes.items()}
    started = time.monotonic()
    await asyncio.gather(*(worker(number) for number in range(CONCURRENCY)))
    elapsed = time.monotonic() - started
    cpu = {name: probe.cpu_seconds() - before[name] for name, probe in probes.items()}
    return Phase(len(latencies), errors, elapsed, latencies, cpu)


async def measure(
    aws: LocalAws,
    backend: Backend,
    floor: Backend,
    baseline: Backend | None,
    *,
    rounds: int,
    seconds: float,
    profile: bool,
) -> tuple[dict[str, list[Phase]], list[str]]:
    limits = httpx.Limits(max_connections=CONCURRENCY, max_keepalive_connections=CONCURRENCY)
    async with httpx.AsyncClient(base_url=backend.url, limits=limits, timeout=30) as http:
        workspace_id = await create_workspace(http)
        task = await upload_build(http, workspace_id)
        task_id = task["task_id"]
        for _ in range(100):  # the pollers pick it up: the read sees a running task
            if (await http.get(f"/api/v1/tasks/{task_id}")).json()["status"] == "running":
                break
            await asyncio.sleep(0.1)

        from app.aws import client_config
        from app.storage import keys

        settings = settings_for(aws)
        session = aioboto3.Session(region_name="us-east-1")
        async with session.client(
            "dynamodb", endpoint_url=aws.dynamodb_url, config=client_config(settings)
        ) as dynamodb:
            table = settings.dynamodb_table

            lean = [LeanHttp(backend.url) for _ in range(CONCURRENCY)]
            lean_floor = [LeanHttp(floor.url) for _ in range(CONCURRENCY)]
            lean_baseline = [LeanHttp(baseline.url) for _ in range(CONCURRENCY)] if baseline else []
            floor_path = f"/floor/{workspace_id}/{task_id}"

            async def backend_lean(number: int) -> bool:
                status, _ = await lean[number].get(f"/api/v1/tasks/{task_id}")
                return status == 200

            async def floor_lean(number: int) -> bool:
                status, _ = await lean_floor[number].get(floor_path)
                return status == 200

            async def baseline_lean(number: int) -> bool:
                status, _ = await lean_baseline[number].get(f"/api/v1/tasks/{task_id}")
                return status == 200

            async def backend_health(number: int) -> bool:
                status, _ = await lean[number].get("/health")
                return status == 200

            async def raw_query(_: int) -> bool:
                response = await dynamodb.query(
                    TableName=table,
                    IndexName=keys.ID_INDEX,
                    KeyConditionExpression="#id = :id",
                    ExpressionAttributeNames={"#id": keys.ENTITY_ID},
                    ExpressionAttributeValues={":id": {"S": keys.task_entity_id(task_id)}},
                    Limit=1,
                )
                return len(response["Items"]) == 1

            async def raw_get_item(_: int) -> bool:
                response = await dynamodb.get_item(
                    TableName=table,
                    Key={
                        name: {"S": value}
                        for name, value in keys.task_key(workspace_id, task_id).items()
                    },
                )
                return "Item" in response

            calls = {
                "backend route": backend_lean,
                "floor route": floor_lean,
                **({"baseline backend route": baseline_lean} if baseline else {}),
                "raw GetItem": raw_get_item,
                "raw Query": raw_query,
                "backend /health": backend_health,
            }
            probes = {
                "load generator": ProcStats(os.getpid()),
                "backend": backend.stats,
                "floor": floor.stats,
                **({"baseline": baseline.stats} if baseline else {}),
                "DynamoDB Local": aws.dynamodb_stats,
            }
            for call in calls.values():  # warm up connections and caches
                await hammer(call, seconds=0.5, probes=probes)
            phases: dict[str, list[Phase]] = {name: [] for name in calls}
            dynamodb_per_get: list[float] = []
            for number in range(rounds):
                for name, call in calls.items():
                    aws.reset_counts()
                    phases[name].append(await hammer(call, seconds=seconds, probes=probes))
                    if name == "backend route":
                        dynamodb_per_get.append(aws.dynamodb_requests() / phases[name][-1].requests)
                log(
                    f"polling round {number + 1}/{rounds}: "
                    + ", ".join(f"{n} {p[-1].rate:.0f}/s" for n, p in phases.items())
                )
            profile_lines: list[str] = []
            if profile:
                import profiling

                handle = profiling.start(backend.pid, seconds)
                await hammer(backend_lean, seconds=seconds, probes=probes)
                profile_lines = profiling.summary(
                    profiling.finish(handle),
                    frames=[
                        "get_task",
                        "TaskRepository.get",
                        "AioBaseClient._make_api_call",
                        "TCPConnector._create_direct_connection",
                        "ThreadedResolver.resolve",
                        "start_connection",
                        "to_response",
                        "serialize_response",
                        "solve_dependencies",
                    ],
                )
            for client in lean + lean_floor + lean_baseline:
                await client.close()
    phases["dynamodb_per_get"] = dynamodb_per_get  # type: ignore[assignment]
    return phases, profile_lines


def run(*, quick: bool = False, profile: bool = False) -> Section:
    rounds, seconds = (2, 3.0) if quick else (3, 5.0)
    section = Section(NAME, TITLE)
    with FakeInfraService(token="bench-infra-token") as infra, running_aws() as aws:
        infra.succeed_after(None, polls=1_000_000)  # the task stays running, polled
        env = backend_env(aws, infra.url, pollers_enabled=True)
        floor_env = env | {"PYTHONPATH": f"{env['PYTHONPATH']}{os.pathsep}{BENCH}"}
        baseline_dir = os.environ.get("BENCH_BASELINE_DIR")
        with contextlib.ExitStack() as stack:
            backend = stack.enter_context(running_backend(env, name="polling-backend"))
            floor = stack.enter_context(
                running_backend(floor_env, name="polling-floor", app="floor_app:app")
            )
            baseline = None
            if baseline_dir:
                root = Path(baseline_dir).resolve()
                baseline_env = env | {
                    "PYTHONPATH": os.pathsep.join([str(root / "backend"), str(root)])
                }
                baseline = stack.enter_context(
                    running_backend(
                        baseline_env, name="polling-baseline", backend_dir=root / "backend"
                    )
                )
            phases, profile_lines = asyncio.run(
                measure(
                    aws, backend, floor, baseline, rounds=rounds, seconds=seconds,
                    profile=profile,
                )
            )  # fmt: skip

    def rate(name: str) -> float:
        return median([phase.rate for phase in phases[name]])

    def latency(name: str, q: float) -> float:
        return median([percentile(phase.latencies, q) for phase in phases[name]]) * 1000

    dynamodb_per_get = phases.pop("dynamodb_per_get")
    for name in phases:
        errors = sum(phase.errors for phase in phases[name])
        section.add(
            f"{name}: req/s (p50 / p99 latency)",
            f"{rate(name):.0f} ({latency(name, 50):.0f} / {latency(name, 99):.0f} ms)"
            + (f", {errors} errors" if errors else ""),
        )
    ratios = [
        b.rate / f.rate for b, f in zip(phases["backend route"], phases["floor route"], strict=True)
    ]
    section.add(
        "status route ÷ floor (bare FastAPI route, one aioboto3 GetItem)",
        f"{median(ratios):.2f}x (rounds: {', '.join(f'{r:.2f}' for r in ratios)})",
        f"≥ {TARGET_RATIO}x",
        median(ratios) >= TARGET_RATIO,
    )
    if "baseline backend route" in phases:
        baseline_ratios = [
            b.rate / f.rate
            for b, f in zip(phases["baseline backend route"], phases["floor route"], strict=True)
        ]
        section.add(
            f"baseline ({os.environ.get('BENCH_BASELINE_LABEL', 'BENCH_BASELINE_DIR')}) "
            "route ÷ floor, same run",
            f"{median(baseline_ratios):.2f}x (rounds: "
            + ", ".join(f"{r:.2f}" for r in baseline_ratios)
            + ")",
        )
    section.add(
        "DynamoDB requests per backend GET (DynamoDB Local's count; incl. the pollers' few)",
        f"{median(dynamodb_per_get):.2f}",  # type: ignore[arg-type]
    )
    for name in phases:
        if name == "raw Query":
            continue
        cpu = {
            process: median([phase.cpu_ms_per_request(process) for phase in phases[name]])
            for process in phases[name][0].cpu
        }
        section.add(
            f"CPU ms per request, {name}",
            ", ".join(f"{process} {ms:.2f}" for process, ms in cpu.items()),
        )
    section.note(
        "Emulation: DynamoDB Local 3.3.0 (its SQLite file on tmpfs, see harness.running_aws). "
        f"{CONCURRENCY} concurrent workers in "
        "one asyncio process, each with a minimal keep-alive HTTP/1.1 connection to the backend "
        "and one to the floor (one aioboto3 client for the raw reads, the backend's client "
        f"config); {rounds} rounds x {seconds:.0f} s per phase, phases interleaved; medians over "
        "rounds. Backend and floor: one uvicorn process each, access log off; the backend's "
        "pollers on."
    )
    section.note(
        "All processes share 2 cores, so the rates are bounded by the CPU each request costs "
        "in total: compare the CPU-ms rows."
    )
    section.notes += [f"py-spy (backend): {line.strip()}" for line in profile_lines]
    return section


if __name__ == "__main__":
    cli(run, NAME)
