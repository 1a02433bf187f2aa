"""A fake of the four infrastructure services over real HTTP, for backend tests.

It speaks the contract (contract.jobs, docs/contract.md): requests are validated with the same
models as the real service, answers are the same job views, errors the same problem+json.

    with FakeInfraService(token="t") as infra:
        infra.succeed_after("build", polls=3)
        infra.unavailable(2)             # the next two requests answer 503
        ...                              # point the backend's *_SERVICE_URLs at infra.url
        assert infra.jobs_created_per_key["task-1:build"] == 1

`DELETE /v1/namespaces/{namespace}` (a workspace's namespace, docs/contract.md) answers
`{namespace, deleted}` — deleted when a deploy job targeted it — and is counted in
`namespace_deletions`; faults of kind "deploy" apply to it.

Behaviour is set per kind ("build", "push", "scaffold", "deploy"; None for all) and optionally
per app_name; the most specific setting wins. A job's outcome is fixed when it is created.
Every setter and counter is safe to use from any thread while requests are being served.

The push service's image call (`DELETE /v1/images/{repository}/{reference}`) acts on what the
push jobs pushed: `infra.images` lists what is left, `infra.image_deletions` what was asked.
"""

import json
import re
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from socketserver import TCPServer
from typing import Any, NamedTuple, Self, TypeVar
from urllib.parse import urlsplit

from contract.build_log import LOG_CHUNK_DEFAULT, LOG_CHUNK_MAX, BuildLogChunk, utf8_chunk
from contract.images import ImageDeletion, image_path
from contract.jobs import (
    COLLECTIONS,
    STAGE_OF_COLLECTION,
    BuildRequest,
    DeployRequest,
    JobRequest,
    StageName,
)
from contract.problems import PROBLEM_JSON, problem_body
from testing.fake_infra_jobs import (
    FakeJob,
    JobBook,
    KeyConflict,
    Outcome,
    app_name_of,
    parse_request,
)
from testing.fake_runtime import FakeRuntime

__all__ = ["FakeInfraService", "Outcome", "RequestRecord"]

_MAX_BODY = 1 << 20
_NAMESPACE = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")
_T = TypeVar("_T")
Answer = tuple[int, dict[str, Any]]

Scope = tuple[str | None, str | None]  # (kind, app_name); None matches any


class RequestRecord(NamedTuple):
    method: str
    path: str
    at: float  # time.monotonic()


@dataclass
class _Fault:
    scope: Scope
    remaining: int | None  # None: until recover()
    after_processing: bool
    status: int = 503
    hang_seconds: float | None = None


class _Dropped(Exception):
    """The connection is closed without an answer (a hang ran out, or the server went down)."""


class FakeInfraService:
    """Build, push, scaffold and deploy services on 127.0.0.1, with programmable faults."""

    def __init__(
        self,
        *,
        token: str = "test-infra-token",
        registry: str = "registry.fake.test",
        storage_prefix: str = "s3://fake-infra",
        log_path: str | None = None,
    ) -> None:
        """`log_path` may hold {kind}, {job_id} and {job_key}; jobs have no log path without it."""
        self.token = token
        # Deployed apps that answer HTTP, their logs, test invocations (testing/fake_runtime.py).
        self.runtime = FakeRuntime()
        self._new_book = partial(
            JobBook,
            registry=registry,
            storage_prefix=storage_prefix,
            log_path=log_path,
            endpoint_of=self.runtime.endpoint,
            succeeded=_runtime_follows(self.runtime),
        )
        self._lock = threading.Lock()
        self._wake = threading.Event()  # set on down()/stop(): sleeping handlers give up
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._port = 0
        self.reset()

    # --- lifecycle ----------------------------------------------------------------------

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._port}"

    def start(self) -> None:
        """Listen (on a free port the first time, on the same port afterwards)."""
        self.up()

    def stop(self) -> None:
        self.down()
        self.runtime.stop()

    def down(self) -> None:
        """Close the listening socket: connections are refused; requests in flight are dropped."""
        self._wake.set()
        server, thread = self._server, self._thread
        self._server = self._thread = None
        if server is not None:
            server.shutdown()
            server.server_close()
        if thread is not None:
            thread.join(timeout=5)

    def up(self) -> None:
        """Listen again on the same port."""
        if self._server is not None:
            return
        self.runtime.start()
        self._wake.clear()
        server = _Server(("127.0.0.1", self._port), _Handler)
        server.fake = self
        self._port = server.server_address[1]
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    # --- behaviour ----------------------------------------------------------------------

    def reset(self) -> None:
        """Forget jobs, behaviour, faults and counters."""
        with self._lock:
            self._outcomes: dict[Scope, Outcome] = {}
            self._delays: dict[Scope, float] = {}
            self._faults: list[_Fault] = []
            self._book = self._new_book()
            self.runtime.reset()
            self._requests: list[RequestRecord] = []
            self._posts: Counter[str] = Counter()
            self._created: Counter[str] = Counter()
            self._gets: Counter[str] = Counter()
            self._in_flight: Counter[str] = Counter()
            self._max_in_flight: Counter[str] = Counter()
            self._bodies: dict[str, list[dict[str, Any]]] = defaultdict(list)
            self._live_logs: dict[str, bytearray] = defaultdict(bytearray)  # by job_key
            self._deleted_images: set[str] = set()
            self._image_deletions: list[tuple[str, str]] = []
            self._namespace_deletions: list[str] = []
            self._deleted_namespaces: set[str] = set()

    def succeed_after(
        self, kind: str | None, polls: int = 1, *, app_name: str | None = None
    ) -> None:
        """Jobs succeed on their `polls`-th GET (1 is the default)."""
        self._set_outcome(kind, app_name, Outcome(polls=polls))

    def instant(self, kind: str | None = None, *, app_name: str | None = None) -> None:
        """Jobs are already succeeded in the POST answer."""
        self._set_outcome(kind, app_name, Outcome(polls=0))

    def fail(
        self,
        kind: str | None,
        code: str = "BUILD_FAILED",
        message: str = "app.py:1: SyntaxError: invalid syntax",
        *,
        log_path: str | None = None,
        after_polls: int = 1,
        app_name: str | None = None,
    ) -> None:
        """Jobs fail with `code` and `message` on their `after_polls`-th GET."""
        outcome = Outcome(polls=after_polls, error=(code, message), log_path=log_path)
        self._set_outcome(kind, app_name, outcome)

    def unavailable(
        self,
        count: int | None = None,
        *,
        status: int = 503,
        kind: str | None = None,
        app_name: str | None = None,
        after_processing: bool = False,
    ) -> None:
        """Answer `status` to the next `count` matching requests (None: until `recover()`).

        With `after_processing` the request takes effect (a job is created or advanced) and only
        the answer is lost, as when a proxy fails on the way back.
        """
        fault = _Fault(_scope(kind, app_name), count, after_processing, status=status)
        with self._lock:
            self._faults.append(fault)

    def hang(
        self,
        count: int | None = None,
        *,
        seconds: float = 5.0,
        kind: str | None = None,
        app_name: str | None = None,
        after_processing: bool = False,
    ) -> None:
        """Hold the next `count` matching requests for `seconds`, then close without answering.

        Keep `seconds` above the client's timeout; `down()`/`stop()` end a hang early.
        """
        fault = _Fault(_scope(kind, app_name), count, after_processing, hang_seconds=seconds)
        with self._lock:
            self._faults.append(fault)

    def recover(self) -> None:
        """Stop answering errors and hanging (slowness stays until `slow(0)`)."""
        with self._lock:
            self._faults.clear()

    def slow(self, seconds: float, *, kind: str | None = None, app_name: str | None = None) -> None:
        """Delay every matching request by `seconds` before it is handled (0 clears)."""
        with self._lock:
            self._delays[_scope(kind, app_name)] = seconds

    def forget_jobs(self) -> None:
        """Lose every job: GETs answer 404 and a resubmitted job_key creates a fresh job."""
        with self._lock:
            self._book.forget()

    def _set_outcome(self, kind: str | None, app_name: str | None, outcome: Outcome) -> None:
        with self._lock:
            self._outcomes[_scope(kind, app_name)] = outcome

    # --- counters (snapshots) -----------------------------------------------------------

    @property
    def posts_per_key(self) -> Counter[str]:
        with self._lock:
            return Counter(self._posts)

    @property
    def jobs_created_per_key(self) -> Counter[str]:
        with self._lock:
            return Counter(self._created)

    @property
    def gets_per_job(self) -> Counter[str]:
        with self._lock:
            return Counter(self._gets)

    @property
    def max_concurrent_per_key(self) -> Counter[str]:
        with self._lock:
            return Counter(self._max_in_flight)

    @property
    def requests_log(self) -> list[RequestRecord]:
        with self._lock:
            return list(self._requests)

    @property
    def total_requests(self) -> int:
        with self._lock:
            return len(self._requests)

    @property
    def namespace_deletions(self) -> list[str]:
        """The namespaces `DELETE /v1/namespaces/{namespace}` was handled for, oldest first."""
        with self._lock:
            return list(self._namespace_deletions)

    def submissions(self, kind: str) -> list[dict[str, Any]]:
        """Bodies of the POSTs of `kind` that were handled, oldest first."""
        with self._lock:
            return [dict(body) for body in self._bodies[kind]]

    # --- the live build log (contract.build_log) -----------------------------------------

    def append_build_log(self, job_key: str, text: str) -> None:
        """Append `text` to the log of the build job with `job_key` (as a running build writes)."""
        with self._lock:
            self._live_logs[job_key] += text.encode()

    def _build_log(self, job_id: str, query: str) -> Answer:
        """GET /v1/builds/{job_id}/log?offset=N&limit=M: the appended text from byte N."""
        params = dict(pair.partition("=")[::2] for pair in query.split("&") if pair)
        try:
            offset = int(params.get("offset", "0"))
            limit = int(params.get("limit", str(LOG_CHUNK_DEFAULT)))
        except ValueError:
            return _problem(422, "VALIDATION_ERROR", "offset and limit must be integers")
        if offset < 0 or not 1 <= limit <= LOG_CHUNK_MAX:
            return _problem(422, "VALIDATION_ERROR", "offset or limit out of range")
        with self._lock:
            self._gets[f"{job_id}/log"] += 1
            job = self._book.get(job_id)
            if job is None or job.kind != "build":
                return _problem(404, "JOB_NOT_FOUND", f"no such build job: {job_id}")
            log = bytes(self._live_logs.get(job.job_key, b""))
            finished = job.status in ("succeeded", "failed")
        data = log[offset : offset + limit]
        if offset + len(data) < len(log) or not finished:
            data = utf8_chunk(data)
        chunk = BuildLogChunk(
            job_id=job_id,
            offset=offset,
            next_offset=offset + len(data),
            size=max(len(log), offset + len(data)),
            text=data.decode("utf-8", errors="replace"),
            finished=finished and offset + len(data) >= len(log),
        )
        return 200, chunk.model_dump(mode="json")

    # --- request handling (called from the server's threads) ----------------------------

    def _serve(self, request: "_Handler") -> Answer:
        path = urlsplit(request.path).path
        with self._lock:
            self._requests.append(RequestRecord(request.command, path, time.monotonic()))
        if request.headers.get("Authorization") != f"Bearer {self.token}":
            return _problem(401, "UNAUTHORIZED", "missing or invalid bearer token", path)
        parts = path.strip("/").split("/")
        if request.command == "GET" and _is_build_log(parts):  # contract.build_log
            return self._build_log(parts[2], urlsplit(request.path).query)
        if parts[:2] == ["v1", "images"]:
            return self._image_call(request.command, parts[2:], path)
        if request.command == "DELETE" and len(parts) == 3 and parts[:2] == ["v1", "namespaces"]:
            namespace = parts[2]
            return self._guarded("deploy", None, None, lambda: self._delete_namespace(namespace))
        answer = _serve_runtime(self, request, parts)
        if answer is not None:
            return answer
        kind = STAGE_OF_COLLECTION.get(parts[1]) if len(parts) in (2, 3) else None
        if parts[0] != "v1" or kind is None:
            return _problem(404, "NOT_FOUND", f"no such endpoint: {path}", path)
        if request.command == "POST" and len(parts) == 2:
            body = _read_json(request, path)
            if isinstance(body, tuple):
                return body
            parsed = parse_request(kind, body)
            if isinstance(parsed, list):
                return _problem(
                    422, "VALIDATION_ERROR", "The request body is not valid", path, errors=parsed
                )
            app_name = app_name_of(parsed)
            with self._lock:
                self._posts[parsed.job_key] += 1
            return self._guarded(
                kind,
                app_name,
                parsed.job_key,
                lambda: self._submit(kind, app_name, parsed, body),
            )
        if request.command == "GET" and len(parts) == 3:
            job_id = parts[2]
            with self._lock:
                self._gets[job_id] += 1
                job = self._book.get(job_id)
            app_name, job_key = (job.app_name, job.job_key) if job else (None, None)
            return self._guarded(kind, app_name, job_key, lambda: self._poll(kind, job_id))
        return _problem(
            405, "METHOD_NOT_ALLOWED", f"{request.command} is not allowed on {path}", path
        )

    def _guarded(
        self,
        kind: str,
        app_name: str | None,
        job_key: str | None,
        handle: Callable[[], Answer],
    ) -> Answer:
        """Apply delays and faults around `handle`, counting concurrency per job_key."""
        with self._lock:
            if job_key is not None:
                self._in_flight[job_key] += 1
                self._max_in_flight[job_key] = max(
                    self._max_in_flight[job_key], self._in_flight[job_key]
                )
            delay = _lookup(self._delays, kind, app_name, 0.0)
        try:
            if delay:
                self._sleep(delay)
            answer = self._apply_fault(kind, app_name, after_processing=False)
            if answer is None:
                answer = handle()
                answer = self._apply_fault(kind, app_name, after_processing=True) or answer
            return answer
        finally:
            if job_key is not None:
                with self._lock:
                    self._in_flight[job_key] -= 1

    def _apply_fault(
        self, kind: str, app_name: str | None, *, after_processing: bool
    ) -> Answer | None:
        with self._lock:
            fault = next(
                (
                    fault
                    for fault in self._faults
                    if fault.after_processing == after_processing
                    and _matches(fault.scope, kind, app_name)
                ),
                None,
            )
            if fault is None:
                return None
            if fault.remaining is not None:
                fault.remaining -= 1
                if fault.remaining <= 0:
                    self._faults.remove(fault)
        if fault.hang_seconds is not None:
            self._sleep(fault.hang_seconds)
            raise _Dropped
        return _problem(fault.status, "INJECTED_FAILURE", f"injected failure ({fault.status})")

    def _sleep(self, seconds: float) -> None:
        if self._wake.wait(seconds):
            raise _Dropped

    def _submit(
        self, kind: StageName, app_name: str | None, request: JobRequest, body: dict[str, Any]
    ) -> Answer:
        """202 and the job: a new one, or (as the real service) the one known for the key."""
        with self._lock:
            outcome = _lookup(self._outcomes, kind, app_name, Outcome())
            try:
                job, created = self._book.submit(
                    kind=kind, request=request, app_name=app_name, outcome=outcome
                )
            except KeyConflict as exc:
                return _problem(409, "JOB_KEY_CONFLICT", str(exc))
            if created:
                self._created[job.job_key] += 1
                self._bodies[kind].append(body)
            return 202, job.view()

    # --- the push service's images (DELETE /v1/images/{repository}/{reference}) -------

    @property
    def images(self) -> set[str]:
        """`repository@digest` of every image a push job made and no DELETE removed."""
        with self._lock:
            return self._book.pushed_images() - self._deleted_images

    @property
    def image_deletions(self) -> list[tuple[str, str]]:
        """(repository, reference) of every DELETE of an image, oldest first."""
        with self._lock:
            return list(self._image_deletions)

    def _image_call(self, method: str, parts: list[str], path: str) -> Answer:
        if len(parts) < 2:
            return _problem(404, "NOT_FOUND", f"no such endpoint: {path}", path)
        if method != "DELETE":
            return _problem(405, "METHOD_NOT_ALLOWED", f"{method} is not allowed on {path}", path)
        repository, reference = "/".join(parts[:-1]), parts[-1]
        try:
            image_path(repository, reference)
        except ValueError:
            return _problem(422, "VALIDATION_ERROR", "not an image reference", path)
        with self._lock:
            self._image_deletions.append((repository, reference))
            present = self._book.pushed_images() - self._deleted_images
            named = {image for image in present if image.startswith(f"{repository}@")}
            gone = {i for i in named if i.endswith(f"@{reference}") or i.endswith(f":{reference}")}
            self._deleted_images |= gone
        body = ImageDeletion(repository=repository, reference=reference, deleted=bool(gone))
        return 200, body.model_dump(mode="json")

    def _delete_namespace(self, namespace: str) -> Answer:
        if not _NAMESPACE.fullmatch(namespace):
            return _problem(422, "VALIDATION_ERROR", "the namespace must be a DNS label")
        with self._lock:
            self._namespace_deletions.append(namespace)
            targeted = any(body.get("namespace") == namespace for body in self._bodies["deploy"])
            deleted = targeted and namespace not in self._deleted_namespaces
            self._deleted_namespaces.add(namespace)
        deleted = self.runtime.forget_namespace(namespace) or deleted
        return 200, {"namespace": namespace, "deleted": deleted}

    def _poll(self, kind: StageName, job_id: str) -> Answer:
        with self._lock:
            job = self._book.poll(kind=kind, job_id=job_id)
            if job is None:
                return _problem(404, "JOB_NOT_FOUND", f"no such {kind} job: {job_id}")
            return 200, job.view()


def _runtime_follows(runtime: FakeRuntime) -> Callable[[FakeJob], None]:
    """What a succeeded job means to the fake runtime: a component to test, an app to serve."""

    def succeeded(job: FakeJob) -> None:
        request, result = job.request, job.result or {}
        if isinstance(request, BuildRequest):
            runtime.built(request.artifact)
        elif isinstance(request, DeployRequest):
            runtime.deployed(
                namespace=result["namespace"], name=result["name"], manifest=request.manifest
            )

    return succeeded


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    fake: FakeInfraService

    def server_bind(self) -> None:
        # HTTPServer.server_bind resolves the host's FQDN, which can stall without DNS.
        TCPServer.server_bind(self)
        self.server_name, self.server_port = "127.0.0.1", self.server_address[1]


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_GET(self) -> None:
        self._answer()

    def do_POST(self) -> None:
        self._answer()

    def do_DELETE(self) -> None:
        self._answer()

    def _answer(self) -> None:
        try:
            status, payload = self.server.fake._serve(self)
        except _Dropped:
            self.close_connection = True
            return
        except Exception as exc:  # a bug in the fake: make it visible to the test
            status, payload = _problem(500, "INTERNAL_ERROR", f"fake infra error: {exc!r}")
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", PROBLEM_JSON if status >= 400 else "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        pass


def _problem(
    status: int, code: str, detail: str, instance: str | None = None, **extra: Any
) -> Answer:
    try:
        title = HTTPStatus(status).phrase
    except ValueError:
        title = "Error"
    return status, problem_body(
        status=status, code=code, title=title, detail=detail, instance=instance, **extra
    )


def _read_json(request: _Handler, path: str) -> dict[str, Any] | Answer:
    length = int(request.headers.get("Content-Length") or 0)
    if length > _MAX_BODY:
        return _problem(413, "PAYLOAD_TOO_LARGE", "request body too large", path)
    try:
        body = json.loads(request.rfile.read(length) or b"null")
    except ValueError:
        return _problem(400, "INVALID_JSON", "the body is not JSON", path)
    if not isinstance(body, dict):
        return _problem(422, "VALIDATION_ERROR", "the body must be a JSON object", path)
    return body


def _scope(kind: str | None, app_name: str | None) -> Scope:
    if kind is not None and kind not in COLLECTIONS:
        raise ValueError(f"unknown kind {kind!r}; use one of {sorted(COLLECTIONS)}")
    return kind, app_name


def _matches(scope: Scope, kind: str, app_name: str | None) -> bool:
    return scope[0] in (None, kind) and scope[1] in (None, app_name)


def _lookup(table: dict[Scope, _T], kind: str, app_name: str | None, default: _T) -> _T:
    for scope in ((kind, app_name), (kind, None), (None, app_name), (None, None)):
        if scope in table:
            return table[scope]
    return default


def _is_build_log(parts: list[str]) -> bool:
    return len(parts) == 4 and parts[:2] == ["v1", "builds"] and parts[3] == "log"


# --- the second-wave calls (apps, logs, test invocations): testing/fake_runtime.py -----------


def _serve_runtime(fake: FakeInfraService, request: _Handler, parts: list[str]) -> Answer | None:
    """The answer to an app, logs or test-invocation call; None for the job collections.

    Faults and delays set for kind "deploy" apply to these calls too (the deploy service
    serves them).
    """
    split = urlsplit(request.path)
    if parts[:2] not in (["v1", "test-invocations"], ["v1", "deployments"]) or (
        parts[1] == "deployments" and len(parts) < 4
    ):
        return None
    body: object = None
    if request.command == "POST":
        body = _read_json(request, split.path)
        if isinstance(body, tuple):
            return body
    return fake._guarded(
        "deploy",
        parts[3] if len(parts) > 3 else None,
        None,
        lambda: (
            fake.runtime.serve(request.command, parts, split.query, body)
            or _problem(404, "NOT_FOUND", f"no such endpoint: {split.path}", split.path)
        ),
    )
