"""`make run`: the whole local stack on loopback, supervised, its state kept under .data/.

Starts DynamoDB Local (data in .data/dynamodb) and moto for S3/ECR (snapshots in .data/moto),
creates the table, bucket and repository (python -m app.bootstrap), then Debian's
docker-registry (blobs in .data/registry), the infrastructure service and the backend. When one
process dies it is restarted, with backoff, and a line says which and why; the others go on.
Ctrl-C or SIGTERM stops everything, the backend first, and the emulators write their state.
Nothing listens beyond 127.0.0.1.

    python scripts/run_stack.py                # run (STACK_DATA_DIR moves the state elsewhere)
    python scripts/run_stack.py --clean-data   # wipe the state (the stack must be stopped)

Ports: BACKEND_PORT, INFRA_PORT, INFRA_GATEWAY_PORT, REGISTRY_PORT, MOTO_PORT, DYNAMODB_PORT.
`.data/stack.json` names the process id of each part while the stack runs.
"""

import argparse
import contextlib
import ctypes
import fcntl
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from testing import dynamodb_local  # noqa: E402  (the repository root is not on sys.path)

DATA = Path(os.environ.get("STACK_DATA_DIR", ROOT / ".data")).resolve()
PYTHON = sys.executable

DYNAMODB_PORT = int(os.environ.get("DYNAMODB_PORT", "8005"))
MOTO_PORT = int(os.environ.get("MOTO_PORT", "4566"))
REGISTRY_PORT = int(os.environ.get("REGISTRY_PORT", "5001"))
INFRA_PORT = int(os.environ.get("INFRA_PORT", "8001"))
GATEWAY_PORT = int(os.environ.get("INFRA_GATEWAY_PORT", "8002"))
BACKEND_PORT = int(os.environ.get("BACKEND_PORT", "8000"))
TOKEN = os.environ.get("INFRA_SERVICE_TOKEN", "dev-infra-token")
SNAPSHOT_SECONDS = os.environ.get("MOTO_SNAPSHOT_SECONDS", "2")

# A process that dies is restarted after 1, 2, 4 … 30 s; one that ran this long starts at 1 again.
BACKOFF_MAX_SECONDS = 30.0
HEALTHY_AFTER_SECONDS = 30.0

REGISTRY_CONFIG = """\
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: {root}
  delete:
    enabled: true
http:
  addr: 127.0.0.1:{port}
"""


def say(message: str) -> None:
    print(f"stack: {message}", flush=True)


def _die_with_parent() -> None:
    # A child of a supervisor that is itself killed (-9) gets SIGTERM instead of living on.
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def listening(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def describe_exit(code: int) -> str:
    if code < 0:
        with contextlib.suppress(ValueError):
            return f"was killed by {signal.Signals(-code).name}"
        return f"was killed by signal {-code}"
    return f"exited with code {code}"


@dataclass
class Service:
    """One process of the stack, and how it has fared."""

    name: str
    command: list[str]
    port: int
    cwd: Path = ROOT
    log: Path | None = None  # None: the supervisor's own output
    needs_bootstrap: bool = False  # holds AWS state: re-run the bootstrap after a restart
    process: subprocess.Popen | None = None
    started_at: float = 0.0
    restarts: int = 0
    backoff: float = 1.0
    restart_at: float | None = None
    output: object = field(default=None, repr=False)


class Stack:
    def __init__(self, services: list[list[Service]], env: dict[str, str]) -> None:
        self.waves = services
        self.services = [service for wave in services for service in wave]
        self.env = env
        self.stopping = threading.Event()

    # --- processes ----------------------------------------------------------------------

    def _spawn(self, service: Service) -> None:
        if service.log is not None:
            if service.output is not None:
                service.output.close()  # type: ignore[attr-defined]
            service.log.parent.mkdir(parents=True, exist_ok=True)
            service.output = service.log.open("ab")
        service.process = subprocess.Popen(
            service.command,
            cwd=service.cwd,
            env=self.env,
            stdout=service.output,
            stderr=service.output,
            start_new_session=True,  # Ctrl-C reaches the supervisor only, which stops in order
            preexec_fn=_die_with_parent,
        )
        service.started_at = time.monotonic()
        self._write_pids()

    def _wait_listening(self, service: Service, timeout: float = 90) -> bool:
        deadline = time.monotonic() + timeout
        while not self.stopping.is_set():
            assert service.process is not None
            if service.process.poll() is not None:
                return False
            if listening(service.port):
                return True
            if time.monotonic() > deadline:
                say(f"{service.name} did not listen on 127.0.0.1:{service.port} in {timeout:.0f} s")
                self._terminate(service)
                return False
            self.stopping.wait(0.1)
        return False

    def _terminate(self, service: Service, timeout: float = 20) -> None:
        process = service.process
        if process is None or process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            say(f"{service.name} did not stop in {timeout:.0f} s; killing it")
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()

    def _write_pids(self) -> None:
        pids = {
            s.name: s.process.pid for s in self.services if s.process and s.process.poll() is None
        }
        (DATA / "stack.json").write_text(json.dumps({"supervisor": os.getpid(), **pids}))

    def bootstrap(self) -> bool:
        """Create the table, bucket and repository if missing (idempotent)."""
        result = subprocess.run(
            [PYTHON, "-m", "app.bootstrap"], cwd=ROOT / "backend", env=self.env, check=False
        )
        if result.returncode != 0:
            say("creating the table, bucket and repository failed (see above)")
        return result.returncode == 0

    # --- the stack ----------------------------------------------------------------------

    def start(self) -> bool:
        """Start every wave, each process of a wave at once; False if one did not come up."""
        for index, wave in enumerate(self.waves):
            for service in wave:
                self._spawn(service)
            for service in wave:
                if not self._wait_listening(service):
                    if not self.stopping.is_set():
                        code = service.process.poll() if service.process else None
                        why = describe_exit(code) if code is not None else "did not come up"
                        log = f" (log: {service.log})" if service.log else ""
                        say(f"{service.name} {why} while starting{log}")
                    return False
            if index == 0 and not self.bootstrap():
                return False
        self._write_pids()
        return True

    def supervise(self) -> None:
        """Restart what dies, until asked to stop."""
        while not self.stopping.wait(0.5):
            now = time.monotonic()
            for service in self.services:
                process = service.process
                if service.restart_at is None and process and process.poll() is not None:
                    ran = now - service.started_at
                    if ran >= HEALTHY_AFTER_SECONDS:
                        service.backoff = 1.0
                    service.restart_at = now + service.backoff
                    log = f"; its log: {service.log}" if service.log else ""
                    say(
                        f"{service.name} {describe_exit(process.returncode)} after {ran:.0f} s; "
                        f"restarting it in {service.backoff:.0f} s{log}"
                    )
                    service.backoff = min(service.backoff * 2, BACKOFF_MAX_SECONDS)
                    self._write_pids()
                elif service.restart_at is not None and now >= service.restart_at:
                    service.restart_at = None
                    service.restarts += 1
                    self._spawn(service)
                    if self._wait_listening(service):
                        if service.needs_bootstrap:
                            self.bootstrap()
                        say(f"{service.name} is back (restart {service.restarts})")

    def stop(self) -> None:
        """Stop everything, the last started first (the emulators write their state)."""
        for service in reversed(self.services):
            if service.process is not None and service.process.poll() is None:
                self._terminate(service)
                say(f"stopped {service.name}")
        with contextlib.suppress(FileNotFoundError):
            (DATA / "stack.json").unlink()


def environment() -> dict[str, str]:
    """What every process of the stack sees: loopback endpoints, fake AWS credentials."""
    region = os.environ.get("AWS_REGION", "us-east-1")
    moto = f"http://127.0.0.1:{MOTO_PORT}"
    infra = f"http://127.0.0.1:{INFRA_PORT}"
    env = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": os.environ.get("AWS_ACCESS_KEY_ID", "testing"),
        "AWS_SECRET_ACCESS_KEY": os.environ.get("AWS_SECRET_ACCESS_KEY", "testing"),
        "AWS_DEFAULT_REGION": region,
        "AWS_REGION": region,
        # The backend: DynamoDB on DynamoDB Local, S3 on moto.
        "AWS_ENDPOINT_URL": moto,
        "DYNAMODB_ENDPOINT_URL": f"http://127.0.0.1:{DYNAMODB_PORT}",
        "INFRA_SERVICE_TOKEN": TOKEN,
        "ECR_REGISTRY_URL": f"127.0.0.1:{REGISTRY_PORT}",
        # The infrastructure service reads its own INFRA_* settings.
        "INFRA_AWS_ENDPOINT_URL": moto,
        "INFRA_REGISTRY_URL": f"127.0.0.1:{REGISTRY_PORT}",
        "INFRA_REGISTRY_INSECURE": "true",
        "INFRA_PORT": str(INFRA_PORT),
        "INFRA_HOST": "127.0.0.1",
        # The local deploy target: functions answer on the gateway; apps survive restarts.
        "INFRA_GATEWAY_PORT": str(GATEWAY_PORT),
        "INFRA_RUNTIME_DIR": str(DATA / "runtime"),
        "PYTHONPATH": os.pathsep.join([str(ROOT / "infra"), str(ROOT)]),  # contract/ too
    }
    for name in ("BUILD", "PUSH", "SCAFFOLD", "DEPLOY"):
        # Overridable, e.g. to point the backend at a fake of the services.
        env[f"{name}_SERVICE_URL"] = os.environ.get(f"{name}_SERVICE_URL", infra)
    return env


def services() -> list[list[Service]]:
    """The stack, in waves: the emulators; then the registry, infra service and backend."""
    logs = DATA / "logs"
    (DATA / "dynamodb").mkdir(parents=True, exist_ok=True)
    emulators = [
        Service(
            "DynamoDB Local",
            dynamodb_local.command(DYNAMODB_PORT, DATA / "dynamodb"),
            DYNAMODB_PORT,
            log=logs / "dynamodb.log",
            needs_bootstrap=True,
        ),
        Service(
            "moto (S3, ECR)",
            [PYTHON, "-m", "testing.moto_durable", "--port", str(MOTO_PORT),
             "--snapshot", str(DATA / "moto" / "snapshot.pickle"),
             "--interval", SNAPSHOT_SECONDS],
            MOTO_PORT,
            log=logs / "moto.log",
            needs_bootstrap=True,
        ),
    ]  # fmt: skip
    rest: list[Service] = []
    registry_binary = shutil.which("docker-registry")
    if registry_binary:
        config = DATA / "registry.yml"
        config.write_text(REGISTRY_CONFIG.format(root=DATA / "registry", port=REGISTRY_PORT))
        rest.append(
            Service(
                "registry",
                [registry_binary, "serve", str(config)],
                REGISTRY_PORT,
                log=logs / "registry.log",
            )
        )
    else:
        say("docker-registry not found (make system-deps installs it); pushes will fail")
    rest.append(
        Service("infra service", [PYTHON, "-m", "infra_service"], INFRA_PORT, cwd=ROOT / "infra")
    )
    rest.append(
        Service(
            "backend",
            [PYTHON, "-m", "uvicorn", "app.main:app", "--host", "127.0.0.1",
             "--port", str(BACKEND_PORT),
             # Bounded request line and headers (431) before the app sees anything.
             "--http", "app.api.http_protocol:BoundedHttpToolsProtocol",
             # Open event streams (the console's) must not hold a stop forever.
             "--timeout-graceful-shutdown", "5"],
            BACKEND_PORT,
            cwd=ROOT / "backend",
        )
    )  # fmt: skip
    return [emulators, rest]


def lock_data_dir() -> object | None:
    """Hold .data/stack.lock for the life of the stack: one stack per data directory."""
    DATA.mkdir(parents=True, exist_ok=True)
    lock = (DATA / "stack.lock").open("w")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        lock.close()
        return None
    return lock


def clean_data() -> int:
    if not DATA.exists():
        say(f"nothing to wipe: {DATA} does not exist")
        return 0
    lock = lock_data_dir()
    if lock is None:
        say(f"a stack is running on {DATA}; stop it (Ctrl-C) before wiping its data")
        return 1
    shutil.rmtree(DATA)
    say(f"wiped {DATA}: tables, S3 objects, ECR repositories, registry blobs, deployed apps, logs")
    return 0


def banner() -> str:
    return (
        "\nThe local stack is up (Ctrl-C stops everything; state in "
        f"{DATA}):\n"
        f"  backend API        http://127.0.0.1:{BACKEND_PORT}   (docs: /docs, /redoc)\n"
        f"  infra service      http://127.0.0.1:{INFRA_PORT}   (token: {TOKEN})\n"
        f"  functions          http://127.0.0.1:{GATEWAY_PORT}/<namespace>/<name>/\n"
        f"  OCI registry       http://127.0.0.1:{REGISTRY_PORT}/v2/\n"
        f"  DynamoDB Local     http://127.0.0.1:{DYNAMODB_PORT}\n"
        f"  S3 and ECR (moto)  http://127.0.0.1:{MOTO_PORT}\n"
        f"  (emulator and registry logs: {DATA / 'logs'})\n"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clean-data", action="store_true", help="wipe the stack's state")
    if parser.parse_args().clean_data:
        return clean_data()

    lock = lock_data_dir()
    if lock is None:
        say(f"another stack is running on {DATA}; stop it first")
        return 1
    ports = {
        "DynamoDB Local": DYNAMODB_PORT,
        "moto": MOTO_PORT,
        "registry": REGISTRY_PORT,
        "infra service": INFRA_PORT,
        "function gateway": GATEWAY_PORT,
        "backend": BACKEND_PORT,
    }
    for name, port in ports.items():
        if listening(port):
            say(f"port {port} ({name}) is already in use; stop what holds it and retry")
            return 1
    try:
        stack = Stack(services(), environment())
    except dynamodb_local.DynamoDBLocalMissing as exc:
        say(str(exc))
        return 1

    def on_signal(signum: int, _frame: object) -> None:
        if not stack.stopping.is_set():
            print(flush=True)
            say(f"{signal.Signals(signum).name}: stopping…")
        stack.stopping.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        if not stack.start():
            return 0 if stack.stopping.is_set() else 1
        print(banner(), flush=True)
        stack.supervise()
        return 0
    finally:
        stack.stop()
        say("stopped")


if __name__ == "__main__":
    sys.exit(main())
