"""A stand-in for the component host (infra_service/runtime/host.py) in unit tests.

It honours the host's interface — `serve --config replica.json` (a JSON `ready` line on
stdout, then `log` and `invocation` lines; the health route; SIGTERM drains and exits 0) and
`once --config replica.json` (request JSON on stdin, one TestInvocationResult line on stdout)
— without wasmtime, so the supervisor, gateway and deploy tests run in well under a second
per host. What it does is read from the "component", a JSON document instead of wasm:

    {"body": "text to answer", "crash": 3, "stderr": "why", "unhealthy": true, "print": "x"}

Paths: `/pid` answers the process id, `/slow` waits 0.3 s first, `/count` increments a
counter kept in kv_dir, `/vars` answers the variables, `/echo` answers the request body.
"""

import hashlib
import json
import os
import signal
import sys
import threading
import time
import uuid
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

_print_lock = threading.Lock()


def emit(message: dict[str, Any]) -> None:
    with _print_lock:
        sys.stdout.write(json.dumps(message) + "\n")
        sys.stdout.flush()


def now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


def load(config_path: str) -> tuple[dict[str, Any], dict[str, Any]]:
    config = json.loads(Path(config_path).read_text())
    data = Path(config["component"]).read_bytes()
    if hashlib.sha256(data).hexdigest() != config["component_sha256"]:
        print("component does not match its sha256", file=sys.stderr)
        sys.exit(2)
    return config, json.loads(data)


def answer(config: dict[str, Any], behaviour: dict[str, Any], path: str, body: bytes) -> bytes:
    if path == "/pid":
        return str(os.getpid()).encode()
    if path == "/vars":
        return json.dumps(config["variables"], sort_keys=True).encode()
    if path == "/echo":
        return body
    if path == "/count":
        counter = Path(config["kv_dir"]) / "counter"
        counter.parent.mkdir(parents=True, exist_ok=True)
        value = int(counter.read_text()) + 1 if counter.exists() else 1
        counter.write_text(str(value))
        return str(value).encode()
    if path == "/slow":
        time.sleep(0.3)
    return str(behaviour.get("body", "hello")).encode()


def serve(config_path: str) -> None:
    config, behaviour = load(config_path)
    if "crash" in behaviour:
        print(behaviour.get("stderr", "crashing on purpose"), file=sys.stderr, flush=True)
        sys.exit(int(behaviour["crash"]))

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _handle(self) -> None:
            started = time.monotonic()
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            invocation = self.headers.get("X-Invocation-Id") or uuid.uuid4().hex
            path = self.path.split("?")[0]
            if path == "/.well-known/spin/health":
                status, data = (503, b"unhealthy") if behaviour.get("unhealthy") else (200, b"OK")
            else:
                status, data = 200, answer(config, behaviour, path, body)
                emit(
                    {
                        "type": "log",
                        "time": now(),
                        "stream": "stdout",
                        "invocation_id": invocation,
                        "message": behaviour.get("print", f"handled {self.command} {self.path}"),
                    }
                )
            self.send_response(status)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("X-Invocation-Id", invocation)
            self.send_header("X-Replica", config["replica"])
            self.end_headers()
            self.wfile.write(data)
            if path != "/.well-known/spin/health":
                emit(
                    {
                        "type": "invocation",
                        "invocation_id": invocation,
                        "method": self.command,
                        "path": path,
                        "status": status,
                        "error_code": None,
                        "duration_ms": (time.monotonic() - started) * 1000,
                    }
                )

        do_GET = do_POST = do_PUT = do_DELETE = _handle

    listen = config["listen"]
    server = ThreadingHTTPServer((listen["host"], listen["port"]), Handler)
    server.daemon_threads = True

    def on_term(*_: Any) -> None:
        threading.Thread(target=server.shutdown).start()

    signal.signal(signal.SIGTERM, on_term)
    emit(
        {
            "type": "ready",
            "port": server.server_address[1],
            "pid": os.getpid(),
            "load_ms": 1.0,
            "compiled_from_cache": True,
        }
    )
    server.serve_forever(poll_interval=0.05)
    sys.exit(0)


def once(config_path: str) -> None:
    config, behaviour = load(config_path)
    request = json.loads(sys.stdin.read())
    if "crash" in behaviour:
        print(behaviour.get("stderr", "crashing on purpose"), file=sys.stderr, flush=True)
        sys.exit(int(behaviour["crash"]))
    body = answer(config, behaviour, request["path"].split("?")[0], request["body"].encode())
    result = {
        "status": 200,
        "headers": {"content-type": "text/plain"},
        "body": body.decode(),
        "body_encoding": "utf-8",
        "stdout": behaviour.get("print", "") + "\n",
        "stderr": "",
        "duration_ms": 1.5,
        "error_code": None,
        "error_message": None,
    }
    print(json.dumps(result))


if __name__ == "__main__":
    mode, flag, path = sys.argv[1:4]
    assert flag == "--config"
    serve(path) if mode == "serve" else once(path)
