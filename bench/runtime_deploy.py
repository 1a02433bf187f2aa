"""6. Local runtime: cold start of a deploy, memory per app, and the gateway's cost.

The reference infrastructure service (`python -m infra_service`, local deploy target) with
moto and Debian's docker-registry; examples/hello/app.py built and pushed once by the service.

- Cold start: from the 202 of `POST /v1/deployments` to the first 200 from the app's endpoint
  (polled every 10 ms), for a new app name each run: without the compiled cache (emptied
  before the run: the host compiles the component) and with it (the host loads the serialised
  copy). Each app is undeployed afterwards.
- Memory: VmRSS of one replica's host process, idle (2 s after its first answer) and its peak
  under the load below.
- Requests through the gateway vs straight to the replica's own port, same load generator
  (asyncio + httpx, N concurrent GETs of `/` for a fixed time), alternating, 2 rounds each.

    python bench/runtime_deploy.py [--quick]
"""

import asyncio
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import boto3
import httpx
from harness import (
    PYTHON,
    ROOT,
    TOKEN,
    ProcStats,
    RssSampler,
    Section,
    cli,
    free_port,
    local_infra_env,
    log,
    median,
    percentile,
    running_aws,
    spawn,
    stop,
    wait_http,
)

from testing.infra_service import running_registry

NAME = "runtime_deploy"
TITLE = "6. Local runtime (deploy cold start, memory per app, gateway vs direct)"
INFRA = ROOT / "infra"
BUCKET = "sfbank-blue-functions-code-bucket"
TARGET_WARM_START = 2.0  # seconds, with the compiled cache
TARGET_MEMORY_MIB = 200  # per replica
CONCURRENCY = 4


class Service:
    """The service process and the calls the benchmark makes."""

    def __init__(self, port: int, gateway: int, scratch: Path) -> None:
        self.http = httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{port}",
            headers={"Authorization": f"Bearer {TOKEN}"},
            timeout=60,
            trust_env=False,
        )
        self.gateway = f"http://127.0.0.1:{gateway}"
        self.runtime = scratch / "runtime"

    async def run(self, collection: str, body: dict[str, Any]) -> dict[str, Any]:
        posted = await self.http.post(f"/v1/{collection}", json=body)
        posted.raise_for_status()
        while True:
            job: dict[str, Any] = (
                await self.http.get(f"/v1/{collection}/{posted.json()['job_id']}")
            ).json()
            if job["status"] == "succeeded":
                return job
            if job["status"] == "failed":
                raise RuntimeError(f"{collection} failed: {job['error']}")
            await asyncio.sleep(0.05)

    async def manifest(self, image: str, name: str) -> str:
        job = await self.run(
            "scaffolds",
            {
                "job_key": f"{name}:scaffold",
                "image_url": image,
                "app_name": name,
                "replicas": 1,
            },
        )
        manifest: str = job["result"]["manifest"]
        return manifest

    async def cold_start(self, image: str, name: str) -> float:
        """202 of the deploy → first 200 from the endpoint, in seconds."""
        manifest = await self.manifest(image, name)
        body = {"job_key": f"{name}:deploy", "namespace": "bench", "manifest": manifest}
        async with httpx.AsyncClient(trust_env=False, timeout=10) as probe:
            posted = await self.http.post("/v1/deployments", json=body)
            posted.raise_for_status()
            started = time.perf_counter()
            while True:
                try:
                    if (await probe.get(f"{self.gateway}/bench/{name}/")).status_code == 200:
                        return time.perf_counter() - started
                except httpx.HTTPError:
                    pass
                if time.perf_counter() - started > 300:
                    raise RuntimeError(f"{name} did not answer within 300 s")
                await asyncio.sleep(0.01)

    async def undeploy(self, name: str) -> None:
        (await self.http.delete(f"/v1/deployments/bench/{name}")).raise_for_status()

    def host_pid(self, name: str) -> int:
        (pid_file,) = (self.runtime / "apps" / "bench" / name / "replicas").glob("*.pid")
        return int(pid_file.read_text())


def listening_port(pid: int) -> int:
    """The TCP port a process listens on (its socket inodes matched in /proc/net/tcp)."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        target = os.readlink(fd)
        if target.startswith("socket:["):
            inodes.add(target[len("socket:[") : -1])
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[3] == "0A" and fields[9] in inodes:  # 0A: LISTEN
            return int(fields[1].split(":")[1], 16)
    raise RuntimeError(f"process {pid} listens on no TCP port")


async def load(url: str, seconds: float) -> tuple[float, list[float], int]:
    """Requests/s, latencies (ms) and failures of CONCURRENCY clients for `seconds`."""
    latencies: list[float] = []
    failures = 0
    limits = httpx.Limits(max_connections=CONCURRENCY, max_keepalive_connections=CONCURRENCY)
    async with httpx.AsyncClient(trust_env=False, timeout=30, limits=limits) as http:
        end = time.perf_counter() + seconds

        async def worker() -> None:
            nonlocal failures
            while time.perf_counter() < end:
                started = time.perf_counter()
                response = await http.get(url)
                latencies.append((time.perf_counter() - started) * 1000)
                failures += response.status_code != 200

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
        elapsed = time.perf_counter() - started
    return len(latencies) / elapsed, latencies, failures


def run(*, quick: bool = False, profile: bool = False) -> Section:
    section = Section(NAME, TITLE)
    cold_runs, warm_runs, seconds = (1, 2, 3.0) if quick else (2, 5, 8.0)
    with (
        running_aws() as aws,
        running_registry() as registry,
        tempfile.TemporaryDirectory(prefix="bench-runtime-") as tmp,
    ):
        port, gateway, scratch = free_port(), free_port(), Path(tmp) / "service"
        env = local_infra_env(
            port=port,
            gateway=gateway,
            aws_url=aws.url,
            registry_host=registry.host,
            scratch=scratch,
        )
        process = spawn([PYTHON, "-m", "infra_service"], env=env, cwd=INFRA, log_name="infra")
        try:
            wait_http(f"http://127.0.0.1:{port}/health", process)
            # running_aws() made the backend's bucket, which is the one the service uses here.
            s3 = boto3.client("s3", endpoint_url=aws.url, region_name="us-east-1")
            if BUCKET not in {b["Name"] for b in s3.list_buckets()["Buckets"]}:
                s3.create_bucket(Bucket=BUCKET)
            figures = asyncio.run(
                _measure(Service(port, gateway, scratch), s3, cold_runs, warm_runs, seconds)
            )
        finally:
            stop(process)
    _report(section, figures, seconds)
    return section


async def _measure(
    service: Service, s3: Any, cold_runs: int, warm_runs: int, seconds: float
) -> dict[str, Any]:
    source = (ROOT / "examples" / "hello" / "app.py").read_bytes()
    s3.put_object(Bucket=BUCKET, Key="build-sources/bench/hello/app.py", Body=source)
    build = await service.run(
        "builds",
        {
            "job_key": "hello:build",
            "workspace_id": "bench",
            "app_name": "hello",
            "source": f"s3://{BUCKET}/build-sources/bench/hello/app.py",
            "artifact": f"s3://{BUCKET}/build-artifacts/hello/hello.wasm",
        },
    )
    push = await service.run(
        "pushes",
        {
            "job_key": "hello:push",
            "wasm_path": build["result"]["wasm_path"],
            "app_name": "hello",
            "repository": "bench/hello",
            "tag": "v1",
        },
    )
    image = push["result"]["image_url"]
    figures: dict[str, Any] = {"cold": [], "warm": []}
    for number in range(cold_runs):
        shutil.rmtree(service.runtime / "compiled", ignore_errors=True)
        (service.runtime / "compiled").mkdir(parents=True)
        figures["cold"].append(await service.cold_start(image, f"cold-{number}"))
        log(f"cold start without the compiled cache: {figures['cold'][-1]:.2f} s")
        await service.undeploy(f"cold-{number}")
    for number in range(warm_runs):
        figures["warm"].append(await service.cold_start(image, f"warm-{number}"))
        log(f"cold start with the compiled cache: {figures['warm'][-1]:.2f} s")
        await service.undeploy(f"warm-{number}")

    await service.cold_start(image, "hello")
    pid = service.host_pid("hello")
    await asyncio.sleep(2)
    figures["idle_kib"] = ProcStats(pid).memory_kib()["VmRSS"]
    direct = f"http://127.0.0.1:{listening_port(pid)}/"
    through = f"{service.gateway}/bench/hello/"
    await load(through, 1.0)  # warm-up: connections, caches
    figures["direct"], figures["gateway"] = [], []
    with RssSampler(pid, interval=0.05) as sampler:
        for _ in range(2):
            figures["direct"].append(await load(direct, seconds))
            figures["gateway"].append(await load(through, seconds))
    figures["peak_kib"] = sampler.peak_kib
    log("load runs done")
    return figures


def _report(section: Section, figures: dict[str, Any], seconds: float) -> None:
    cold, warm = figures["cold"], figures["warm"]
    section.add(
        "deploy accepted → first answer, no compiled cache (host compiles)",
        f"{median(cold):.2f} s (runs: {', '.join(f'{c:.2f}' for c in cold)})",
    )
    section.add(
        "deploy accepted → first answer, with the compiled cache",
        f"{median(warm):.2f} s (runs: {', '.join(f'{w:.2f}' for w in warm)})",
        f"≤ {TARGET_WARM_START:.0f} s",
        median(warm) <= TARGET_WARM_START,
    )
    idle, peak = figures["idle_kib"] / 1024, figures["peak_kib"] / 1024
    section.add(
        "one replica's host process, idle (VmRSS)",
        f"{idle:.0f} MiB",
        f"≤ {TARGET_MEMORY_MIB} MiB",
        idle <= TARGET_MEMORY_MIB,
    )
    section.add(
        "… under load (peak VmRSS)",
        f"{peak:.0f} MiB",
        f"≤ {TARGET_MEMORY_MIB} MiB",
        peak <= TARGET_MEMORY_MIB,
    )
    for name in ("direct", "gateway"):
        runs = figures[name]
        rps = median([r[0] for r in runs])
        latencies = [latency for r in runs for latency in r[1]]
        failures = sum(r[2] for r in runs)
        where = "through the gateway" if name == "gateway" else "straight to the replica"
        section.add(
            f"hello, {CONCURRENCY} concurrent clients, {where}",
            f"{rps:.0f} req/s, p50 {percentile(latencies, 50):.1f} ms, "
            f"p99 {percentile(latencies, 99):.1f} ms, {failures} failed",
        )
    p50 = {n: percentile([x for r in figures[n] for x in r[1]], 50) for n in ("direct", "gateway")}
    section.add("gateway p50 ÷ direct p50", f"{p50['gateway'] / p50['direct']:.2f}x")
    section.note(
        f"One replica (the host's default concurrency), {seconds:.0f} s per load run, direct "
        "and gateway runs alternating twice; the load generator runs in the benchmark's own "
        "process on the same 2 cores, so absolute figures are a floor, the ratio is the point."
    )


if __name__ == "__main__":
    cli(run, NAME)
