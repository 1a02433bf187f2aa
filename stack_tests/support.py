"""`make run`'s supervisor (scripts/run_stack.py) as a process under test, and what it holds.

The stack runs on free ports with its state in a temporary directory. Its backend may be
pointed at a fake of the infrastructure services (testing/fake_infra.py), in the test process:
real builds are slow, and the point here is what survives a crash, not compilation. The real
infrastructure service still runs under the supervisor (and is killed and restarted).
"""

import contextlib
import hashlib
import ipaddress
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import boto3
import httpx

from testing.moto import FAKE_CREDENTIALS, free_port

ROOT = Path(__file__).resolve().parent.parent
PORT_VARIABLES = (
    "BACKEND_PORT",
    "INFRA_PORT",
    "INFRA_GATEWAY_PORT",
    "REGISTRY_PORT",
    "MOTO_PORT",
    "DYNAMODB_PORT",
)


class LocalStack:
    """One `run_stack.py` process; start() and stop() may be called again on the same data."""

    def __init__(self, data: Path, *, infra_url: str | None = None, **env: str) -> None:
        self.data = data
        self.ports = {name: free_port() for name in PORT_VARIABLES}
        self.env = {
            **os.environ,
            **FAKE_CREDENTIALS,
            **{name: str(port) for name, port in self.ports.items()},
            "STACK_DATA_DIR": str(data),
            "MOTO_SNAPSHOT_SECONDS": "1",
            # Quick to notice a dead replica's tasks, quick to poll.
            "LEASE_SECONDS": "3",
            "POLL_INTERVAL_SECONDS": "0.5",
            "POLL_FIRST_DELAY_SECONDS": "0.1",
            "POLLER_TICK_SECONDS": "0.3",
            "POLL_MAX_ATTEMPTS": "10000",
            "INFRA_SERVICE_TOKEN": "stack-test-infra-token",
            **env,
        }
        if infra_url:
            for name in ("BUILD", "PUSH", "SCAFFOLD", "DEPLOY"):
                self.env[f"{name}_SERVICE_URL"] = infra_url
        self.process: subprocess.Popen | None = None
        self.output = data.parent / f"{data.name}-supervisor.log"

    # --- the supervisor -----------------------------------------------------------------

    def start(self, timeout: float = 120) -> None:
        with self.output.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, str(ROOT / "scripts" / "run_stack.py")],
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.wait_for_line("The local stack is up", timeout=timeout)

    def stop(self, signum: int = signal.SIGTERM, timeout: float = 60) -> int:
        """Signal the supervisor and wait for it; its exit code."""
        assert self.process is not None
        self.process.send_signal(signum)
        code = self.process.wait(timeout=timeout)
        self.process = None
        return code

    def kill_everything(self) -> None:
        """Last resort after a failed test: every process of the stack, -9."""
        pids = self.pids() if (self.data / "stack.json").exists() else {}
        for pid in pids.values():
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGKILL)
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None

    def log_text(self) -> str:
        return self.output.read_text(errors="replace")

    def wait_for_line(self, text: str, *, timeout: float, after: int = 0) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.log_text()[after:]:
            if self.process is not None and self.process.poll() is not None:
                raise AssertionError(f"the supervisor exited:\n{self.log_text()[-4000:]}")
            if time.monotonic() > deadline:
                raise AssertionError(f"no {text!r} in {timeout} s:\n{self.log_text()[-4000:]}")
            time.sleep(0.2)

    def pids(self) -> dict[str, int]:
        return json.loads((self.data / "stack.json").read_text())

    # --- its parts ----------------------------------------------------------------------

    @property
    def backend(self) -> str:
        return f"http://127.0.0.1:{self.ports['BACKEND_PORT']}"

    @property
    def registry(self) -> str:
        return f"127.0.0.1:{self.ports['REGISTRY_PORT']}"

    @property
    def moto(self) -> str:
        return f"http://127.0.0.1:{self.ports['MOTO_PORT']}"

    def s3(self) -> Any:
        return boto3.client(
            "s3",
            endpoint_url=self.moto,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )

    def wait_ready(self, timeout: float = 60) -> None:
        """Until the backend answers /health/ready with 200 (DynamoDB and S3 reachable)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                if httpx.get(f"{self.backend}/health/ready", timeout=3).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, f"backend not ready:\n{self.log_text()[-3000:]}"
            time.sleep(0.2)

    def wait_snapshot_written(self, timeout: float = 30) -> None:
        """Until moto's snapshot on disk holds every change made so far."""
        deadline = time.monotonic() + timeout
        while httpx.get(f"{self.moto}/_stack/snapshot", timeout=3).json()["dirty"]:
            assert time.monotonic() < deadline, "moto's snapshot stayed dirty"
            time.sleep(0.1)


def push_to_registry(registry: str, repository: str, content: bytes) -> str:
    """Push one blob and an OCI manifest naming it (registry API v2); the manifest's digest."""
    base = f"http://{registry}/v2/{repository}"
    blob_digest = "sha256:" + hashlib.sha256(content).hexdigest()
    config = b"{}"
    config_digest = "sha256:" + hashlib.sha256(config).hexdigest()
    with httpx.Client(timeout=30) as http:
        for data, digest in ((content, blob_digest), (config, config_digest)):
            start = http.post(f"{base}/blobs/uploads/")
            assert start.status_code == 202, start.text
            location = httpx.URL(start.headers["location"])
            if not location.is_absolute_url:
                location = httpx.URL(f"http://{registry}").join(location)
            put = http.put(location.copy_add_param("digest", digest), content=data)
            assert put.status_code == 201, put.text
        manifest = json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": {
                    "mediaType": "application/vnd.oci.image.config.v1+json",
                    "digest": config_digest,
                    "size": len(config),
                },
                "layers": [
                    {
                        "mediaType": "application/vnd.wasm.content.layer.v1+wasm",
                        "digest": blob_digest,
                        "size": len(content),
                    }
                ],
            }
        ).encode()
        put = http.put(
            f"{base}/manifests/v1",
            content=manifest,
            headers={"Content-Type": "application/vnd.oci.image.manifest.v1+json"},
        )
        assert put.status_code == 201, put.text
    return "sha256:" + hashlib.sha256(manifest).hexdigest()


def listening_sockets(
    pids: set[int],
) -> list[tuple[int, ipaddress.IPv4Address | ipaddress.IPv6Address, int]]:
    """(pid, local address, port) of every TCP socket in LISTEN state owned by `pids`."""
    inodes: dict[str, int] = {}
    for pid in pids:
        fd_dir = Path(f"/proc/{pid}/fd")
        try:
            for fd in fd_dir.iterdir():
                try:
                    target = os.readlink(fd)
                except OSError:
                    continue
                if target.startswith("socket:["):
                    inodes[target[8:-1]] = pid
        except (FileNotFoundError, PermissionError):
            continue
    found = []
    for table, width in (("/proc/net/tcp", 8), ("/proc/net/tcp6", 32)):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            local, state, inode = fields[1], fields[3], fields[9]
            if state != "0A" or inode not in inodes:  # 0A: LISTEN
                continue
            address, port = local.split(":")
            assert len(address) == width
            found.append((inodes[inode], _address(address), int(port, 16)))
    return found


def _address(hex_address: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    raw = bytes.fromhex(hex_address)
    # /proc/net/tcp* print each 32-bit word in host (little-endian) order.
    return ipaddress.ip_address(b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4)))


def is_loopback(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped.is_loopback
    return address.is_loopback


def descendants(root: int) -> set[int]:
    """`root` and every process below it."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(parent, []).append(int(entry.name))
    found, todo = set(), [root]
    while todo:
        pid = todo.pop()
        found.add(pid)
        todo.extend(children.get(pid, []))
    return found
