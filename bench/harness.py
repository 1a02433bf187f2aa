"""What every benchmark shares: servers on loopback, process probes, statistics, result tables.

Servers are real processes bound to 127.0.0.1 on free ports: DynamoDB Local (AWS's emulator,
as `make run` and the tests use it; data on disk), moto for S3/ECR, uvicorn. Each is started
with PR_SET_PDEATHSIG (and the moto wrapper watches its parent), so they stop by themselves if
the benchmark dies; the context managers stop them otherwise.
"""

import asyncio
import contextlib
import ctypes
import datetime as dt
import json
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
# BENCH_BACKEND_DIR runs another copy of backend/ (e.g. `git archive` of a commit) instead.
BACKEND = Path(os.environ.get("BENCH_BACKEND_DIR") or ROOT / "backend").resolve()
for _path in (ROOT, BACKEND):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

from testing import dynamodb_local  # noqa: E402  (needs ROOT on sys.path)
from testing.dynamodb_local import reset_dynamodb  # noqa: E402

PYTHON = sys.executable
# BENCH_DYNAMODB_ON_DISK=1: the table's file where `make run` keeps it (a disk, fsync'd).
DYNAMODB_ON_TMPFS = os.environ.get("BENCH_DYNAMODB_ON_DISK") != "1"
TOKEN = "bench-infra-token"
MIB = 1024 * 1024
AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
}
for _name, _value in AWS_ENV.items():
    os.environ.setdefault(_name, _value)

HELLO = b"""from spin_sdk import http
from spin_sdk.http import Request, Response


class IncomingHandler(http.IncomingHandler):
    def handle_request(self, request: Request) -> Response:
        return Response(200, {"content-type": "text/plain"}, b"hello")
"""


# --- results ------------------------------------------------------------------------------


@dataclass
class Row:
    figure: str
    value: str
    target: str = ""
    met: bool | None = None  # None: informational, no target


@dataclass
class Section:
    name: str
    title: str
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def add(self, figure: str, value: str, target: str = "", met: bool | None = None) -> None:
        self.rows.append(Row(figure, value, target, met))

    def note(self, text: str) -> None:
        self.notes.append(text)

    def markdown(self) -> str:
        lines = [f"### {self.title}", "", "| figure | value | target | met? |", "|---|---|---|---|"]
        for row in self.rows:
            met = {True: "yes", False: "**no**", None: ""}[row.met]
            lines.append(f"| {row.figure} | {row.value} | {row.target} | {met} |")
        lines.append("")
        lines += [f"- {note}" for note in self.notes]
        if self.notes:
            lines.append("")
        return "\n".join(lines)


def print_section(section: Section) -> None:
    print()
    print(section.markdown())
    print(f"({section.name}: {section.seconds:.0f} s)", flush=True)


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def machine() -> dict[str, str]:
    """CPU model, cores, RAM, Python, OS and date of this run."""
    model = platform.processor() or "?"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    ram = "?"
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                ram = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    return {
        "CPU": model,
        "cores": str(os.cpu_count()),
        "RAM": ram,
        "Python": platform.python_version(),
        "OS": f"{platform.system()} {platform.release()}",
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
    }


def backend_revision() -> str:
    """The commit of the code under test (and whether backend/ differs from it)."""
    if os.environ.get("BENCH_BACKEND_DIR"):
        return f"BENCH_BACKEND_DIR={os.environ['BENCH_BACKEND_DIR']}"
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "backend", "infra"],
            cwd=ROOT, capture_output=True, text=True,
        ).stdout.strip()  # fmt: skip
    except OSError:
        return "?"
    return f"{commit}" + (" + uncommitted changes in backend/ or infra/" if dirty else "")


# --- statistics ---------------------------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100) by linear interpolation; nan for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = (len(ordered) - 1) * q / 100
    low = int(k)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (k - low)


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


# --- processes ----------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _die_with_parent() -> None:
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def local_infra_env(
    *, port: int, gateway: int, aws_url: str, registry_host: str, scratch: Path
) -> dict[str, str]:
    """The environment of a reference infrastructure service on loopback with the local deploy
    target (the runtime benchmarks start it as `python -m infra_service` in `infra/`)."""
    return {
        **os.environ,
        "INFRA_HOST": "127.0.0.1",
        "INFRA_PORT": str(port),
        "INFRA_SERVICE_TOKEN": TOKEN,
        "INFRA_AWS_ENDPOINT_URL": aws_url,
        "INFRA_SCRATCH_DIR": str(scratch),
        "INFRA_REGISTRY_URL": registry_host,
        "INFRA_REGISTRY_INSECURE": "true",
        "INFRA_GATEWAY_PORT": str(gateway),
        "INFRA_DEPLOY_TARGET": "local",
        "INFRA_LOG_LEVEL": "WARNING",
        "PYTHONPATH": os.pathsep.join([str(ROOT / "infra"), str(ROOT)]),
    }


def spawn(command: list[str], *, env: dict[str, str], cwd: Path, log_name: str) -> subprocess.Popen:
    log_dir = BENCH / ".logs"
    log_dir.mkdir(exist_ok=True)
    out = (log_dir / f"{log_name}.log").open("wb")
    return subprocess.Popen(
        command,
        cwd=cwd,
        env=env,
        stdout=out,
        stderr=subprocess.STDOUT,
        preexec_fn=_die_with_parent,
    )


def stop(process: subprocess.Popen, timeout: float = 15) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def wait_http(url: str, process: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args!r} exited with {process.returncode}")
        with contextlib.suppress(OSError), urllib.request.urlopen(url, timeout=2):
            return
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer within {timeout:.0f} s")


class ProcStats:
    """CPU time and memory of a process, from /proc."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self._ticks = os.sysconf("SC_CLK_TCK")

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / self._ticks  # utime + stime

    def memory_kib(self) -> dict[str, int]:
        """VmRSS and VmHWM (peak RSS since start), in KiB."""
        values = {}
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            name, _, rest = line.partition(":")
            if name in {"VmRSS", "VmHWM"}:
                values[name] = int(rest.split()[0])
        return values


class RssSampler:
    """Samples a process's VmRSS every `interval` seconds in a thread; keeps the peak."""

    def __init__(self, pid: int, interval: float = 0.005) -> None:
        self._stats = ProcStats(pid)
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.peak_kib = 0
        self.samples = 0

    def _run(self) -> None:
        while not self._stop.is_set():
            rss = self._stats.memory_kib()["VmRSS"]
            self.peak_kib = max(self.peak_kib, rss)
            self.samples += 1
            self._stop.wait(self._interval)

    def __enter__(self) -> "RssSampler":
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join()


# --- the AWS stand-ins --------------------------------------------------------------------


class LocalAws:
    """DynamoDB Local (data on disk, as `make run`) and a counting moto server for S3/ECR.

    `counts()` merges DynamoDB Local's own request counts ("dynamodb:Query", from the launcher's
    /_counts) with moto's ("s3:PUT"); neither adds a hop between client and server.
    """

    def __init__(
        self, dynamodb: subprocess.Popen, dynamodb_port: int, moto: subprocess.Popen, port: int
    ) -> None:
        self.process = moto
        self.url = f"http://127.0.0.1:{port}"
        self.stats = ProcStats(moto.pid)
        self.dynamodb_process = dynamodb
        self.dynamodb_url = f"http://127.0.0.1:{dynamodb_port}"
        self.dynamodb_stats = ProcStats(dynamodb.pid)

    def _get(self, url: str) -> Any:
        with urllib.request.urlopen(url, timeout=60) as response:
            return json.load(response)

    def _post(self, url: str) -> None:
        with urllib.request.urlopen(urllib.request.Request(url, method="POST"), timeout=60):
            pass

    def counts(self) -> dict[str, int]:
        dynamodb = self._get(f"{self.dynamodb_url}/_counts")
        return self._get(f"{self.url}/_bench/counts") | {
            f"dynamodb:{name}": n for name, n in dynamodb.items()
        }

    def first_seen(self) -> dict[str, float]:
        return self._get(f"{self.url}/_bench/first-seen")

    def reset_counts(self) -> None:
        self._post(f"{self.url}/_bench/reset")
        self._post(f"{self.dynamodb_url}/_counts/reset")

    def cpu_seconds(self) -> float:
        """CPU of both emulators together."""
        return self.stats.cpu_seconds() + self.dynamodb_stats.cpu_seconds()

    def reset(self) -> None:
        """Forget every resource, then create the backend's again."""
        from app.bootstrap import ensure_resources

        self._post(f"{self.url}/moto-api/reset")
        reset_dynamodb(self.dynamodb_url)
        ensure_resources(settings_for(self))
        self.reset_counts()

    def dynamodb_requests(self) -> int:
        return sum(n for name, n in self.counts().items() if name.startswith("dynamodb:"))


@contextlib.contextmanager
def running_aws() -> Iterator[LocalAws]:
    """DynamoDB Local and moto, with the backend's table, bucket and ECR repository created."""
    from app.bootstrap import ensure_resources

    port, dynamodb_port = free_port(), free_port()
    env = {**os.environ, **AWS_ENV, "MOTO_PORT": str(port)}
    # The table's SQLite file on tmpfs where there is one: DynamoDB Local commits every write
    # with an fsync, which on this machine's disk serialises the writers (~6 tasks/s in
    # bench/scale.py) — a figure of the disk, not of the backend. `make run` keeps it on disk.
    shm = Path("/dev/shm")
    with tempfile.TemporaryDirectory(
        prefix="bench-dynamodb-", dir=shm if shm.is_dir() and DYNAMODB_ON_TMPFS else None
    ) as data:
        dynamodb = spawn(
            dynamodb_local.command(dynamodb_port, Path(data), count_requests=True),
            env=dynamodb_local.environment(), cwd=ROOT, log_name=f"dynamodb-{dynamodb_port}",
        )  # fmt: skip
        moto = spawn(
            [PYTHON, str(BENCH / "moto_counting.py"), "--port", str(port), "--parent-pid",
             str(os.getpid())],
            env=env, cwd=ROOT, log_name=f"moto-{port}",
        )  # fmt: skip
        try:
            aws = LocalAws(dynamodb, dynamodb_port, moto, port)
            wait_http(f"{aws.url}/_bench/counts", moto)
            wait_http(f"{aws.dynamodb_url}/_counts", dynamodb)
            ensure_resources(settings_for(aws))
            aws.reset_counts()
            yield aws
        finally:
            stop(moto)
            stop(dynamodb)


def settings_for(aws: LocalAws, **overrides: Any) -> Any:
    from app.config import Settings

    values: dict[str, Any] = {
        "aws_endpoint_url": aws.url,
        "dynamodb_endpoint_url": aws.dynamodb_url,
        "aws_region": "us-east-1",
        "aws_access_key_id": "testing",
        "aws_secret_access_key": "testing",
    }
    return Settings(_env_file=None, **(values | overrides))  # type: ignore[call-arg]


# --- the backend --------------------------------------------------------------------------


class Backend:
    """A uvicorn process serving app.main:app."""

    def __init__(self, process: subprocess.Popen, port: int) -> None:
        self.process = process
        self.pid = process.pid
        self.url = f"http://127.0.0.1:{port}"
        self.stats = ProcStats(process.pid)


def backend_env(aws: LocalAws, infra_url: str | None = None, **settings: Any) -> dict[str, str]:
    """The backend's environment: the AWS stand-ins, the (fake) infra service, quiet logs."""
    infra = infra_url or "http://127.0.0.1:9"  # nothing listens: the pollers see it down
    env = {
        **os.environ,
        **AWS_ENV,
        "APP_ENV": "development",
        "AUTH_MODE": "none",
        # Per-workspace abuse limits (where the backend has them) would throttle the benchmarks.
        "WORKSPACE_MAX_ACTIVE_TASKS": "1000000",
        "WORKSPACE_MAX_TASKS_PER_MINUTE": "1000000",
        "LOG_LEVEL": "WARNING",
        "AWS_ENDPOINT_URL": aws.url,
        "DYNAMODB_ENDPOINT_URL": aws.dynamodb_url,
        "INFRA_SERVICE_TOKEN": TOKEN,
        "BUILD_SERVICE_URL": infra,
        "PUSH_SERVICE_URL": infra,
        "SCAFFOLD_SERVICE_URL": infra,
        "DEPLOY_SERVICE_URL": infra,
        "PYTHONPATH": os.pathsep.join([str(BACKEND), str(BACKEND.parent)]),  # app, contract
    }
    env |= {name.upper(): str(value) for name, value in settings.items()}
    return env


@contextlib.contextmanager
def running_backend(
    env: dict[str, str],
    *,
    name: str = "backend",
    app: str = "app.main:app",
    backend_dir: Path = BACKEND,
) -> Iterator[Backend]:
    """`uvicorn app.main:app` (one process, no access log) until the block ends."""
    port = free_port()
    process = spawn(
        [PYTHON, "-m", "uvicorn", app, "--host", "127.0.0.1", "--port", str(port),
         "--no-access-log", "--log-level", "warning"],
        env=env, cwd=backend_dir, log_name=f"{name}-{port}",
    )  # fmt: skip
    try:
        backend = Backend(process, port)
        wait_http(f"{backend.url}/{'health' if app == 'app.main:app' else 'docs'}", process)
        yield backend
    finally:
        stop(process, timeout=40)


class LeanHttp:
    """A minimal HTTP/1.1 keep-alive GET client: one connection, one request at a time.

    httpx costs the load generator several CPU-ms per request; on a 2-core machine that CPU is
    taken from the servers being measured. This client costs a small fraction of that.
    """

    def __init__(self, url: str) -> None:
        host, port = url.removeprefix("http://").split(":")
        self._address = (host, int(port))
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def get(self, path: str) -> tuple[int, bytes]:
        try:
            return await self._get(path)
        except (asyncio.IncompleteReadError, ConnectionError):
            await self.close()  # the server closed an idle keep-alive connection: reconnect
            return await self._get(path)

    async def _get(self, path: str) -> tuple[int, bytes]:
        if self._writer is None:
            self._reader, self._writer = await asyncio.open_connection(*self._address)
        assert self._reader is not None
        self._writer.write(f"GET {path} HTTP/1.1\r\nHost: bench\r\n\r\n".encode())
        head = await self._reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length = 0
        for line in head.split(b"\r\n"):
            name, _, value = line.partition(b":")
            if name.lower() == b"content-length":
                length = int(value)
        body = await self._reader.readexactly(length)
        return status, body

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            with contextlib.suppress(OSError):
                await self._writer.wait_closed()
            self._writer = None


async def create_workspace(client: Any, name: str = "bench") -> str:
    response = await client.post("/api/workspaces", json={"name": name})
    response.raise_for_status()
    return response.json()["id"]


async def upload_build(
    client: Any, workspace_id: str, *, content: bytes = HELLO, app_name: str = "hello"
) -> dict[str, Any]:
    response = await client.post(
        "/api/v1/build",
        data={"workspace_id": workspace_id, "app_name": app_name},
        files={"file": ("app.py", content)},
    )
    if response.status_code != 202:
        raise RuntimeError(f"upload answered {response.status_code}: {response.text[:300]}")
    return response.json()


def fmt_ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms" if seconds < 10 else f"{seconds:.1f} s"


def cli(run: Any, name: str) -> None:
    """`python bench/<name>.py [--quick] [--profile]`: run one benchmark and print its table."""
    import argparse

    parser = argparse.ArgumentParser(description=f"The {name} benchmark.")
    parser.add_argument("--quick", action="store_true", help="fewer, shorter runs")
    parser.add_argument("--profile", action="store_true", help="sample the backend with py-spy")
    args = parser.parse_args()
    started = time.monotonic()
    section = run(quick=args.quick, profile=args.profile)
    section.seconds = time.monotonic() - started
    print_section(section)
