"""`make run`: the whole local stack on loopback, stopped together by Ctrl-C.

Starts, in order: moto (DynamoDB, S3, ECR) → creates the table, bucket and repository →
Debian's docker-registry (the OCI registry) → the infrastructure service → the backend.
State lives in memory (moto) and under .data/ (registry blobs); nothing listens beyond 127.0.0.1.
"""

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / ".data"
PYTHON = sys.executable

MOTO_PORT = int(os.environ.get("MOTO_PORT", "4566"))
REGISTRY_PORT = int(os.environ.get("REGISTRY_PORT", "5001"))
INFRA_PORT = int(os.environ.get("INFRA_PORT", "8001"))
BACKEND_PORT = int(os.environ.get("BACKEND_PORT", "8000"))
GATEWAY_PORT = int(os.environ.get("INFRA_GATEWAY_PORT", "8002"))  # deployed functions
TOKEN = os.environ.get("INFRA_SERVICE_TOKEN", "dev-infra-token")

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


def wait_for_port(port: int, name: str, process: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"{name} exited with {process.returncode} before listening")
        with socket.socket() as sock:
            sock.settimeout(0.5)
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise SystemExit(f"{name} did not listen on 127.0.0.1:{port} within {timeout:.0f}s")


def port_free(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


def main() -> int:
    for port, name in [
        (MOTO_PORT, "moto"),
        (REGISTRY_PORT, "registry"),
        (INFRA_PORT, "infra service"),
        (GATEWAY_PORT, "function gateway"),
        (BACKEND_PORT, "backend"),
    ]:
        if not port_free(port):
            print(f"port {port} ({name}) is already in use; stop what holds it and retry")
            return 1
    DATA.mkdir(exist_ok=True)
    aws = {
        "AWS_ACCESS_KEY_ID": os.environ.get("AWS_ACCESS_KEY_ID", "testing"),
        "AWS_SECRET_ACCESS_KEY": os.environ.get("AWS_SECRET_ACCESS_KEY", "testing"),
        "AWS_DEFAULT_REGION": os.environ.get("AWS_REGION", "us-east-1"),
        "AWS_REGION": os.environ.get("AWS_REGION", "us-east-1"),
    }
    endpoint = f"http://127.0.0.1:{MOTO_PORT}"
    env = {
        **os.environ,
        **aws,
        "AWS_ENDPOINT_URL": endpoint,
        "INFRA_SERVICE_TOKEN": TOKEN,
        "ECR_REGISTRY_URL": f"127.0.0.1:{REGISTRY_PORT}",
        "BUILD_SERVICE_URL": f"http://127.0.0.1:{INFRA_PORT}",
        "PUSH_SERVICE_URL": f"http://127.0.0.1:{INFRA_PORT}",
        "SCAFFOLD_SERVICE_URL": f"http://127.0.0.1:{INFRA_PORT}",
        "DEPLOY_SERVICE_URL": f"http://127.0.0.1:{INFRA_PORT}",
        # The infrastructure service reads its own INFRA_* settings.
        "INFRA_AWS_ENDPOINT_URL": endpoint,
        "INFRA_REGISTRY_URL": f"127.0.0.1:{REGISTRY_PORT}",
        "INFRA_REGISTRY_INSECURE": "true",
        "INFRA_PORT": str(INFRA_PORT),
        "INFRA_HOST": "127.0.0.1",
        # The local deploy target: functions answer on the gateway; apps survive restarts.
        "INFRA_GATEWAY_PORT": str(GATEWAY_PORT),
        "INFRA_RUNTIME_DIR": str(DATA / "runtime"),
        "PYTHONPATH": os.pathsep.join([str(ROOT / "infra"), str(ROOT)]),  # contract/ too
    }
    processes: list[tuple[str, subprocess.Popen]] = []

    def start(
        name: str, command: list[str], cwd: Path = ROOT, log: str | None = None
    ) -> subprocess.Popen:
        """Start a process in its own group; chatty ones log to .data/<log> instead."""
        output = (DATA / log).open("ab") if log else None
        process = subprocess.Popen(
            command, cwd=cwd, env=env, start_new_session=True, stdout=output, stderr=output
        )
        processes.append((name, process))
        return process

    def stop_all(*_: object) -> None:
        for _, process in reversed(processes):
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for name, process in reversed(processes):
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
            print(f"stopped {name}")

    def on_sigterm(*_: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_sigterm)
    try:
        moto = start(
            "moto",
            [str(Path(PYTHON).parent / "moto_server"), "-H", "127.0.0.1", "-p", str(MOTO_PORT)],
            log="moto.log",
        )
        wait_for_port(MOTO_PORT, "moto", moto)
        subprocess.run([PYTHON, "-m", "app.bootstrap"], cwd=ROOT / "backend", env=env, check=True)

        registry_binary = shutil.which("docker-registry")
        if registry_binary:
            config = DATA / "registry.yml"
            config.write_text(REGISTRY_CONFIG.format(root=DATA / "registry", port=REGISTRY_PORT))
            registry = start(
                "registry", [registry_binary, "serve", str(config)], log="registry.log"
            )
            wait_for_port(REGISTRY_PORT, "registry", registry)
        else:
            print("docker-registry not found (make system-deps installs it); pushes will fail")

        infra = start("infra service", [PYTHON, "-m", "infra_service"], cwd=ROOT / "infra")
        wait_for_port(INFRA_PORT, "infra service", infra)

        backend = start(
            "backend",
            [PYTHON, "-m", "uvicorn", "app.main:app", "--host", "127.0.0.1",
             "--port", str(BACKEND_PORT),
             "--http", "app.api.http_protocol:BoundedHttpToolsProtocol"],
            cwd=ROOT / "backend",
        )  # fmt: skip
        wait_for_port(BACKEND_PORT, "backend", backend)

        print(
            "\nThe local stack is up (Ctrl-C stops everything):\n"
            f"  backend API        http://127.0.0.1:{BACKEND_PORT}   (docs: /docs, /redoc)\n"
            f"  infra service      http://127.0.0.1:{INFRA_PORT}   (token: {TOKEN})\n"
            f"  functions          http://127.0.0.1:{GATEWAY_PORT}/<namespace>/<name>/\n"
            f"  OCI registry       http://127.0.0.1:{REGISTRY_PORT}/v2/\n"
            f"  AWS (moto server)  {endpoint}\n"
            f"  (moto and registry logs: {DATA}/moto.log, {DATA}/registry.log)\n",
            flush=True,
        )
        while True:
            for name, process in processes:
                if process.poll() is not None:
                    print(f"{name} exited with {process.returncode}; stopping the stack")
                    return 1
            time.sleep(1)
    except KeyboardInterrupt:
        print("\nstopping…")
        return 0
    finally:
        stop_all()


if __name__ == "__main__":
    sys.exit(main())
