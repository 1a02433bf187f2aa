"""The deploy service's second-wave side, faked: deployed apps that answer HTTP, their logs,
undeploy and test invocations (docs/contract.md "Calls added in the second wave").

`FakeInfraService` owns one `FakeRuntime`. A deploy job that succeeds registers its app here,
and its result's `endpoint` is `http://127.0.0.1:<port>/<namespace>/<name>` on a real HTTP
server of this module — so the backend's invoke proxy is tested against real sockets. The app
every deployment runs is `echo_app` (below), and a test invocation runs the same code, so
both answer alike:

    /echo[/…]           200 JSON of what arrived: method, path, query, headers, body (text)
    /status/<code>      that status, text body
    /sleep/<seconds>    answers after sleeping
    /bytes/<n>          n bytes with Content-Length;  /stream/<n>: n bytes, chunked
    /variables          the app's variables (from the SpinApp manifest) as JSON
    /print/<text>       prints <text> to stdout (a runtime log line) and answers it
    any other path      200 text/plain "hello from <name>" (as examples/hello answers all)

Every answer carries X-Invocation-Id (the caller's when valid, else a new one), a `Date`,
a `Server` and a hop-by-hop `Keep-Alive` header, as a real server's would. Each request
leaves a runtime log line (`<METHOD> <path> -> <status>`) with its invocation id.
"""

import json
import re
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from socketserver import TCPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import yaml
from pydantic import ValidationError

from contract.problems import PROBLEM_JSON, field_errors, problem_body
from contract.runtime import (
    MAX_LOG_PAGE,
    DeploymentState,
    InvocationRequest,
    LogStream,
    RuntimeLogEntry,
    RuntimeLogPage,
    TestInvocationRequest,
    TestInvocationResult,
    UndeployResult,
)

__all__ = ["EchoAnswer", "FakeApp", "FakeRuntime", "echo_app"]

_INVOCATION_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
Answer = tuple[int, dict[str, Any]]


@dataclass
class EchoAnswer:
    status: int
    headers: dict[str, str]
    body: bytes
    stdout: str = ""
    chunked: bool = False


def echo_app(
    *, name: str, variables: dict[str, str], method: str, target: str, headers: dict[str, str],
    body: bytes,
) -> EchoAnswer:  # fmt: skip
    """What every fake function answers (`target`: the path and query it was called with)."""
    parts = urlsplit(target)
    path = parts.path or "/"
    text = {"content-type": "text/plain; charset=utf-8"}
    segments = path.strip("/").split("/", 1)
    head, rest = segments[0], segments[1] if len(segments) > 1 else ""
    if head == "echo":
        echoed = {
            "method": method,
            "path": path,
            "query": parts.query,
            "headers": {k.lower(): v for k, v in headers.items()},
            "body": body.decode("utf-8", "replace"),
        }
        return EchoAnswer(200, {"content-type": "application/json"}, json.dumps(echoed).encode())
    if head == "status" and rest.isdigit() and 200 <= int(rest) <= 599:
        return EchoAnswer(int(rest), text, f"status {rest}".encode())
    if head == "sleep":
        time.sleep(min(float(rest or 0), 30.0))
        return EchoAnswer(200, text, b"awake")
    if head in ("bytes", "stream") and rest.isdigit():
        return EchoAnswer(200, text, b"x" * int(rest), chunked=head == "stream")
    if head == "variables":
        return EchoAnswer(200, {"content-type": "application/json"}, json.dumps(variables).encode())
    if head == "print":
        return EchoAnswer(200, text, rest.encode(), stdout=rest + "\n")
    return EchoAnswer(200, text, f"hello from {name}".encode())  # as examples/hello: any path


@dataclass
class FakeApp:
    namespace: str
    name: str
    image: str | None
    replicas: int
    variables: dict[str, str]
    updated_at: str
    logs: list[RuntimeLogEntry] = field(default_factory=list)


class FakeRuntime:
    """Deployed apps (by (namespace, name)), their HTTP server, logs and test invocations."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._apps: dict[tuple[str, str], FakeApp] = {}
        self._artifacts: set[str] = set()  # wasm paths a fake build produced
        self._last_time = ""
        self.invocations = 0
        self._tests: list[dict[str, Any]] = []
        self._server: _AppServer | None = None
        self._thread: threading.Thread | None = None

    # --- lifecycle ----------------------------------------------------------------------

    def start(self) -> None:
        if self._server is not None:
            return
        server = _AppServer(("127.0.0.1", 0), _AppHandler)
        server.runtime = self
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        server, thread = self._server, self._thread
        self._server = self._thread = None
        if server is not None:
            server.shutdown()
            server.server_close()
        if thread is not None:
            thread.join(timeout=5)

    def reset(self) -> None:
        with self._lock:
            self._apps.clear()
            self._artifacts.clear()
            self._tests.clear()
            self.invocations = 0

    @property
    def url(self) -> str:
        assert self._server is not None, "the fake runtime is not started"
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def endpoint(self, namespace: str, name: str) -> str:
        return f"{self.url}/{namespace}/{name}"

    # --- what the job side tells it -----------------------------------------------------

    def built(self, wasm_path: str) -> None:
        """A fake build produced `wasm_path`: test invocations may run it."""
        with self._lock:
            self._artifacts.add(wasm_path)

    def deployed(self, *, namespace: str, name: str, manifest: str) -> None:
        """A deploy job succeeded: the app now answers at its endpoint."""
        spec = _spec(manifest)
        variables = {
            str(v["name"]): str(v.get("value", ""))
            for v in spec.get("variables") or []
            if isinstance(v, dict) and "name" in v
        }
        replicas = spec.get("replicas", 1)
        with self._lock:
            old = self._apps.get((namespace, name))
            self._apps[(namespace, name)] = FakeApp(
                namespace=namespace,
                name=name,
                image=spec.get("image"),
                replicas=replicas if isinstance(replicas, int) else 1,
                variables=variables,
                updated_at=self._now(),
                logs=old.logs if old else [],
            )

    def forget_namespace(self, namespace: str) -> bool:
        """A workspace's namespace was deleted: its apps are gone; whether there were any."""
        with self._lock:
            gone = [key for key in self._apps if key[0] == namespace]
            for key in gone:
                del self._apps[key]
        return bool(gone)

    def app(self, namespace: str, name: str) -> FakeApp | None:
        with self._lock:
            return self._apps.get((namespace, name))

    @property
    def test_requests(self) -> list[dict[str, Any]]:
        """The valid test-invocation requests received, oldest first."""
        with self._lock:
            return [dict(body) for body in self._tests]

    @property
    def apps(self) -> list[tuple[str, str]]:
        with self._lock:
            return sorted(self._apps)

    # --- the contract calls (called by FakeInfraService with the path's parts) ----------

    def serve(self, method: str, parts: list[str], query: str, body: object) -> Answer | None:
        """The answer to a second-wave call, or None when `parts` names none of them."""
        if parts[:2] == ["v1", "test-invocations"] and len(parts) == 2:
            if method != "POST":
                return _problem(405, "METHOD_NOT_ALLOWED", f"{method} is not allowed here")
            return self._test_invocation(body)
        if parts[:2] != ["v1", "deployments"] or len(parts) not in (4, 5):
            return None
        namespace, name = parts[2], parts[3]
        if len(parts) == 5 and parts[4] != "logs":
            return None
        if not (_LABEL.match(namespace) and _LABEL.match(name)):
            return _problem(422, "VALIDATION_ERROR", "namespace and name must be DNS labels")
        if len(parts) == 5:
            if method != "GET":
                return _problem(405, "METHOD_NOT_ALLOWED", f"{method} is not allowed here")
            return self._logs(namespace, name, dict(parse_qsl(query)))
        if method == "GET":
            return self._state(namespace, name)
        if method == "DELETE":
            with self._lock:
                deleted = self._apps.pop((namespace, name), None) is not None
            result = UndeployResult(namespace=namespace, name=name, deleted=deleted)
            return 200, result.model_dump(mode="json")
        return _problem(405, "METHOD_NOT_ALLOWED", f"{method} is not allowed here")

    def _state(self, namespace: str, name: str) -> Answer:
        app = self.app(namespace, name)
        if app is None:
            return _not_found(namespace, name)
        state = DeploymentState(
            namespace=namespace,
            name=name,
            target="local",
            image=app.image,
            replicas=app.replicas,
            ready_replicas=app.replicas,
            endpoint=self.endpoint(namespace, name),
            updated_at=app.updated_at,
        )
        return 200, state.model_dump(mode="json")

    def _logs(self, namespace: str, name: str, query: dict[str, str]) -> Answer:
        # The query is checked before the app is looked up, as the real service's route does.
        try:
            limit = int(query.get("limit", 100))
            tail = int(query["tail"]) if "tail" in query else None
        except ValueError:
            return _problem(422, "VALIDATION_ERROR", "limit and tail must be integers")
        if not 1 <= limit <= MAX_LOG_PAGE or (tail is not None and not 1 <= tail <= MAX_LOG_PAGE):
            return _problem(422, "VALIDATION_ERROR", f"limit and tail are 1..{MAX_LOG_PAGE}")
        since = query.get("since")
        if since is not None:
            try:
                since = _normalise(since)
            except ValueError:
                return _problem(422, "VALIDATION_ERROR", f"since is not a time: {since!r}")
        app = self.app(namespace, name)
        if app is None:
            return _not_found(namespace, name)
        with self._lock:
            entries = [e for e in app.logs if since is None or e.time > since]
        entries = entries[-tail:] if tail else entries[:limit]
        page = RuntimeLogPage(entries=entries, next_since=entries[-1].time if entries else since)
        return 200, page.model_dump(mode="json")

    def _test_invocation(self, body: Any) -> Answer:
        try:
            request = TestInvocationRequest.model_validate(body)
        except ValidationError as exc:
            errors = field_errors(exc.errors())
            return _problem(422, "VALIDATION_ERROR", "The request body is not valid", errors=errors)
        with self._lock:
            self._tests.append(request.model_dump(mode="json"))
            known = request.wasm_path in self._artifacts
        if not known:
            return _problem(404, "ARTIFACT_NOT_FOUND", f"no component at {request.wasm_path}")
        started = time.monotonic()
        answer = _run(request.app_name, request.variables, request.request)
        headers = {k.lower(): v for k, v in answer.headers.items()}
        try:
            text, encoding = answer.body.decode("utf-8"), "utf-8"
        except UnicodeDecodeError:
            import base64

            text, encoding = base64.b64encode(answer.body).decode(), "base64"
        result = TestInvocationResult(
            status=answer.status,
            headers=headers,
            body=text,
            body_encoding=encoding,  # type: ignore[arg-type]
            stdout=answer.stdout,
            stderr="",
            duration_ms=round((time.monotonic() - started) * 1000, 3),
        )
        return 200, result.model_dump(mode="json")

    # --- the apps' HTTP side ------------------------------------------------------------

    def invoke(self, handler: "_AppHandler") -> None:
        split = urlsplit(handler.path)
        segments = split.path.split("/", 3)  # "", namespace, name, rest
        given = handler.headers.get("X-Invocation-Id", "")
        invocation = given if _INVOCATION_ID.match(given) else uuid.uuid4().hex
        app = self.app(segments[1], segments[2]) if len(segments) >= 3 else None
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length) if length else b""
        if handler.headers.get("Transfer-Encoding", "").lower() == "chunked":
            body = _read_chunked(handler)
        if app is None:
            detail = "nothing is deployed here"
            _write_problem(handler, 404, "FUNCTION_NOT_DEPLOYED", detail, invocation)
            return
        if app.replicas == 0:
            _write_problem(handler, 503, "FUNCTION_SCALED_TO_ZERO", "scaled to zero", invocation)
            return
        target = "/" + (segments[3] if len(segments) > 3 else "")
        if split.query:
            target += "?" + split.query
        headers = {k: v for k, v in handler.headers.items()}
        answer = echo_app(
            name=app.name, variables=app.variables, method=handler.command, target=target,
            headers=headers, body=body,
        )  # fmt: skip
        with self._lock:
            self.invocations += 1
            now = self._now()
            if answer.stdout:
                app.logs.append(_entry(now, "stdout", invocation, answer.stdout.rstrip("\n")))
                now = self._now()
            line = f"{handler.command} {urlsplit(target).path} -> {answer.status}"
            app.logs.append(_entry(now, "stderr", invocation, line))
        handler.send_response(answer.status)
        for key, value in answer.headers.items():
            handler.send_header(key, value)
        handler.send_header("X-Invocation-Id", invocation)
        handler.send_header("Keep-Alive", "timeout=5")
        if answer.chunked:
            handler.send_header("Transfer-Encoding", "chunked")
            handler.end_headers()
            for start in range(0, len(answer.body), 65536):
                chunk = answer.body[start : start + 65536]
                handler.wfile.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
            handler.wfile.write(b"0\r\n\r\n")
        else:
            handler.send_header("Content-Length", str(len(answer.body)))
            handler.end_headers()
            handler.wfile.write(answer.body)

    def _now(self) -> str:
        """Strictly increasing times (the contract's exact cursor); called under the lock."""
        stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        if stamp <= self._last_time:
            moment = datetime.strptime(self._last_time, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
            stamp = datetime.fromtimestamp(moment.timestamp() + 1e-6, UTC).strftime(
                "%Y-%m-%dT%H:%M:%S.%fZ"
            )
        self._last_time = stamp
        return stamp


def _run(name: str, variables: dict[str, str], request: InvocationRequest) -> EchoAnswer:
    import base64

    body = (
        base64.b64decode(request.body)
        if request.body_encoding == "base64"
        else request.body.encode("utf-8")
    )
    return echo_app(
        name=name, variables=variables, method=request.method, target=request.path,
        headers=request.headers, body=body,
    )  # fmt: skip


def _entry(time_: str, stream: LogStream, invocation: str, message: str) -> RuntimeLogEntry:
    return RuntimeLogEntry(
        time=time_,
        replica="g1-r0",
        stream=stream,
        invocation_id=invocation,
        message=message,
    )


def _spec(manifest: str) -> dict[str, Any]:
    for document in yaml.safe_load_all(manifest):
        if isinstance(document, dict) and document.get("kind") == "SpinApp":
            spec = document.get("spec")
            return spec if isinstance(spec, dict) else {}
    return {}


def _normalise(value: str) -> str:
    moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _problem(status: int, code: str, detail: str, **extra: Any) -> Answer:
    title = code.replace("_", " ").capitalize()
    return status, problem_body(status=status, code=code, title=title, detail=detail, **extra)


def _not_found(namespace: str, name: str) -> Answer:
    return _problem(404, "DEPLOYMENT_NOT_FOUND", f"nothing is deployed as {namespace}/{name}")


def _read_chunked(handler: BaseHTTPRequestHandler) -> bytes:
    body = b""
    while True:
        size = int(handler.rfile.readline().strip().split(b";")[0], 16)
        if size == 0:
            handler.rfile.readline()
            return body
        body += handler.rfile.read(size)
        handler.rfile.readline()


def _write_problem(
    handler: BaseHTTPRequestHandler, status: int, code: str, detail: str, invocation: str
) -> None:
    data = json.dumps(problem_body(status=status, code=code, title=code.title(), detail=detail))
    handler.send_response(status)
    handler.send_header("Content-Type", PROBLEM_JSON)
    handler.send_header("Content-Length", str(len(data)))
    handler.send_header("X-Invocation-Id", invocation)
    if status == 503:
        handler.send_header("Retry-After", "1")
    handler.end_headers()
    handler.wfile.write(data.encode())


class _AppServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    runtime: FakeRuntime

    def server_bind(self) -> None:
        TCPServer.server_bind(self)  # no FQDN lookup (it can stall without DNS)
        self.server_name, self.server_port = "127.0.0.1", self.server_address[1]


class _AppHandler(BaseHTTPRequestHandler):
    server: _AppServer
    protocol_version = "HTTP/1.1"  # keep-alive, as a real function server
    # Headers and body go out as two writes: without TCP_NODELAY the body waits ~40 ms for the
    # delayed ACK of the headers on a kept-alive connection.
    disable_nagle_algorithm = True

    def handle_one_request(self) -> None:
        try:
            super().handle_one_request()
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def __getattr__(self, name: str) -> Any:
        if name.startswith("do_"):
            return lambda: self.server.runtime.invoke(self)
        raise AttributeError(name)

    def log_message(self, format: str, *args: Any) -> None:
        pass
