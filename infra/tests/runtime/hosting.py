"""Helpers for the host tests: the probe's source, replica configs, host processes (CLI)."""

import contextlib
import http.server
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

INFRA = Path(__file__).resolve().parents[2]
READY_TIMEOUT = 240.0  # the first start compiles a 37 MB component on a shared machine

PROBE = '''\
"""Probe: one route per host feature the runtime tests exercise."""

import json
import sys
import time
from urllib.parse import parse_qs, urlsplit

from spin_sdk import http, key_value, redis, variables
# spin_sdk.sqlite imports a module name that componentize-py 0.17.2 does not generate.
from spin_sdk.wit.imports import atomics, fermyon_spin_sqlite, wasi_keyvalue_store
from spin_sdk.http import Request, Response


def text(status, body, **headers):
    return Response(status, {"content-type": "text/plain", **headers}, body.encode())


class IncomingHandler(http.IncomingHandler):
    def handle_request(self, request: Request) -> Response:
        url = urlsplit(request.uri)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        route = url.path
        if route == "/hello":
            return text(200, "hello from probe\\n")
        if route == "/echo":
            reply = {"method": request.method, "uri": request.uri,
                     "headers": dict(request.headers), "body": (request.body or b"").decode()}
            return Response(int(query.get("status", "200")),
                            {"content-type": "application/json", "x-probe": "echo"},
                            json.dumps(reply).encode())
        if route == "/print":
            print("line one from the guest")
            print("line two to stderr", file=sys.stderr)
            return text(200, "printed\\n")
        if route == "/var":
            return text(200, variables.get(query["name"]))
        if route == "/kv":
            store = key_value.open_default()
            count = int((store.get("count") or b"0").decode()) + 1
            store.set("count", str(count).encode())
            return text(200, str(count))
        if route == "/wasi-kv":
            bucket = wasi_keyvalue_store.open("default")
            total = atomics.increment(bucket, "hits", 1)
            bucket.set("last", b"seen")
            return text(200, f"{total} {bucket.get('last').decode()} {bucket.exists('last')}")
        if route == "/kv-open":
            key_value.open(query["store"])
            return text(200, "opened")
        if route == "/outbound":
            answer = http.send(Request("GET", query["url"], {"x-from": "probe"}, None))
            return text(answer.status, (answer.body or b"").decode())
        if route == "/loop":
            while True:
                pass
        if route == "/sleep":
            print("sleeping", file=sys.stderr)
            time.sleep(float(query["s"]))
            return text(200, "slept")
        if route == "/hog":
            hoard = []
            while True:
                hoard.append(bytearray(8 * 1024 * 1024))
        if route == "/raise":
            raise RuntimeError("probe failure on purpose")
        if route == "/sqlite":
            fermyon_spin_sqlite.Connection.open("default")
            return text(200, "sqlite opened")
        if route == "/redis":
            redis.open("redis://127.0.0.1:6379").get("k")
            return text(200, "redis answered")
        if route == "/big":
            return text(200, "x" * int(query["n"]))
        if route == "/big-undeclared":
            # A wrong content-length: the host must count the bytes, not trust the header.
            return text(200, "y" * int(query["n"]), **{"content-length": "1"})
        if route == "/size":
            return text(200, str(len(request.body or b"")))
        return text(404, "no such probe route\\n")
'''


@dataclass(frozen=True)
class Component:
    wasm: Path
    sha256: str


class Upstream(http.server.BaseHTTPRequestHandler):
    """The outbound target: answers with what it received."""

    def do_GET(self) -> None:
        if self.path.startswith("/hang"):
            time.sleep(10)  # past any test's time limit
        body = f"upstream saw {self.path} from {self.headers.get('x-from')}".encode()
        self.send_response(200)
        self.send_header("content-type", "text/plain")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


def locked_app(
    name: str,
    digest: str,
    *,
    allowed_outbound_hosts: list[str] | None = None,
    key_value_stores: list[str] | None = None,
) -> dict[str, Any]:
    """A locked app (spin.json) as the pipeline pushes it, with the grants a test needs."""
    metadata: dict[str, Any] = {}
    if allowed_outbound_hosts is not None:
        metadata["allowed_outbound_hosts"] = allowed_outbound_hosts
    if key_value_stores is not None:
        metadata["key_value_stores"] = key_value_stores
    return {
        "spin_lock_version": 0,
        "metadata": {"name": name, "version": "1.2.3", "trigger": {"type": "http"}, "triggers": {}},
        "variables": {"greeting": {}, "fallback": {"default": "from-default"}, "unset": {}},
        "triggers": [
            {
                "id": f"{name}-http-trigger",
                "trigger_type": "http",
                "trigger_config": {"component": name, "route": "/..."},
            }
        ],
        "components": [
            {
                "id": name,
                "source": {"content_type": "application/wasm", "digest": f"sha256:{digest}"},
                "metadata": metadata,
                "config": {
                    "greeting": "hello {{ greeting }}!",
                    "fallback": "{{fallback}}",
                    "unset": "{{ unset }}",
                },
            }
        ],
    }


def write_config(directory: Path, component: Component, cache: Path, **overrides: Any) -> Path:
    """A replica.json in `directory`; `limits` merges into the defaults, the rest replaces."""
    limits = {
        "timeout_ms": 3000,
        "memory_bytes": 96 * 1024 * 1024,
        "max_request_bytes": 256 * 1024,
        "max_response_bytes": 256 * 1024,
        "concurrency": 2,
    }
    limits.update(overrides.pop("limits", {}))
    config = {
        "app": {"namespace": "ws-test", "name": "probe"},
        "replica": "r0",
        "component": str(component.wasm),
        "component_sha256": component.sha256,
        "compiled_cache_dir": str(cache),
        "locked_app": locked_app("probe", component.sha256, key_value_stores=["default"]),
        "variables": {"greeting": "world"},
        "kv_dir": str(directory / "kv"),
        "listen": {"host": "127.0.0.1", "port": 0},
        "limits": limits,
    }
    config.update(overrides)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "replica.json"
    path.write_text(json.dumps(config))
    return path


@dataclass(frozen=True)
class FirstStart:
    cache: Path
    ready: dict[str, Any]
    status: int


Found = Callable[[list[dict[str, Any]]], bool]


@dataclass
class Host:
    """A `host serve` process; its stdout JSON lines are collected as they come."""

    process: subprocess.Popen[bytes]
    stderr_path: Path
    events: list[dict[str, Any]] = field(default_factory=list)
    ready: dict[str, Any] | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        assert self.ready is not None
        return f"http://127.0.0.1:{self.ready['port']}"

    def read(self) -> None:
        assert self.process.stdout is not None
        for raw in self.process.stdout:
            event = json.loads(raw)  # every stdout line must be JSON
            with self._lock:
                self.events.append(event)

    def snapshot(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self.events)

    def wait_for(self, found: Found, timeout: float = 30) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while True:
            events = self.snapshot()
            if found(events):
                return events
            assert self.process.poll() is None or time.monotonic() < deadline, self.stderr()
            assert time.monotonic() < deadline, f"not seen within {timeout} s: {events[-5:]}"
            time.sleep(0.02)

    def invocation(self, invocation_id: str) -> dict[str, Any]:
        """The invocation line of `invocation_id` (it follows the answer closely)."""
        events = self.wait_for(lambda evs: any(_is_invocation(e, invocation_id) for e in evs))
        return next(e for e in events if _is_invocation(e, invocation_id))

    def logs(self, invocation_id: str) -> list[dict[str, Any]]:
        self.invocation(invocation_id)  # log lines of an invocation come before its record
        return [
            e for e in self.snapshot() if e["type"] == "log" and e["invocation_id"] == invocation_id
        ]

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def stop(self, timeout: float = 30) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise


def _is_invocation(event: dict[str, Any], invocation_id: str) -> bool:
    return event["type"] == "invocation" and event["invocation_id"] == invocation_id


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(INFRA), env.get("PYTHONPATH")]))
    return env


def start_host(config: Path) -> Host:
    """Start `host serve` and wait for its ready line."""
    stderr_path = config.with_name("host.stderr")
    with stderr_path.open("wb") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-m", "infra_service.runtime.host", "serve", "--config", str(config)],
            cwd=INFRA,
            env=_env(),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=stderr,
        )
    host = Host(process=process, stderr_path=stderr_path)
    threading.Thread(target=host.read, daemon=True).start()
    try:
        events = host.wait_for(lambda evs: bool(evs), timeout=READY_TIMEOUT)
    except AssertionError:
        host.stop()
        raise
    host.ready = events[0]
    assert host.ready["type"] == "ready", host.ready
    return host


@contextlib.contextmanager
def running_host(config: Path) -> Iterator[Host]:
    host = start_host(config)
    try:
        yield host
    finally:
        host.stop()


def run_once(config: Path, request: dict[str, Any]) -> dict[str, Any]:
    """`host once`: the TestInvocationResult it prints."""
    result = subprocess.run(
        [sys.executable, "-m", "infra_service.runtime.host", "once", "--config", str(config)],
        cwd=INFRA,
        env=_env(),
        input=json.dumps(request).encode(),
        capture_output=True,
        timeout=READY_TIMEOUT,
    )
    assert result.returncode == 0, result.stderr.decode()
    lines = result.stdout.decode().splitlines()
    assert len(lines) == 1, lines
    document: dict[str, Any] = json.loads(lines[0])
    return document
