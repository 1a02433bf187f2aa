"""A fake Kubernetes API server over HTTP: just the paths the deploy step uses.

Server-side apply (PATCH application/apply-patch+yaml with fieldManager) creates or updates
SpinApps and HPAs; GET answers the stored object with a status the test controls; events are
listed per namespace. `kubeconfig(path)` writes a kubeconfig that points the real client here.
"""

import json
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

TOKEN = "fake-cluster-token"
_OBJECT = re.compile(
    r"^/apis/(?P<group>[^/]+)/(?P<version>[^/]+)/namespaces/(?P<ns>[^/]+)/(?P<plural>[^/]+)/(?P<name>[^/]+)$"
)
_EVENTS = re.compile(r"^/api/v1/namespaces/(?P<ns>[^/]+)/events$")
_SERVED = {"core.spinkube.dev/v1alpha1/spinapps", "autoscaling/v2/horizontalpodautoscalers"}


@dataclass
class FakeCluster:
    """State and behaviour of the fake API; change the attributes from the test."""

    ready_after_gets: int | None = 1  # None: never ready
    conditions: list[dict[str, Any]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    crd_installed: bool = True
    objects: dict[str, dict[str, Any]] = field(default_factory=dict)
    requests: list[tuple[str, str, str | None]] = field(default_factory=list)  # method, path, CT
    gets_since_apply: dict[str, int] = field(default_factory=dict)
    port: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def kubeconfig(self, path: Path) -> Path:
        path.write_text(
            json.dumps(
                {
                    "apiVersion": "v1",
                    "kind": "Config",
                    "clusters": [{"name": "fake", "cluster": {"server": self.url}}],
                    "users": [{"name": "fake", "user": {"token": TOKEN}}],
                    "contexts": [{"name": "fake", "context": {"cluster": "fake", "user": "fake"}}],
                    "current-context": "fake",
                }
            )
        )
        return path

    def object(self, path: str) -> dict[str, Any] | None:
        with self.lock:
            return self.objects.get(path)


class _Handler(BaseHTTPRequestHandler):
    server: "_Server"

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def _answer(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _status(self, code: int, reason: str, message: str) -> None:
        self._answer(
            code,
            {"kind": "Status", "apiVersion": "v1", "status": "Failure", "message": message,
             "reason": reason, "code": code},
        )  # fmt: skip

    def _authorised(self) -> bool:
        if self.headers.get("Authorization") == f"Bearer {TOKEN}":
            return True
        self._status(401, "Unauthorized", "Unauthorized")
        return False

    def do_GET(self) -> None:
        cluster = self.server.cluster
        url = urlsplit(self.path)
        with cluster.lock:
            cluster.requests.append(("GET", url.path, None))
        if not self._authorised():
            return
        if match := _EVENTS.match(url.path):
            items = [e for e in cluster.events if e["metadata"]["namespace"] == match["ns"]]
            self._answer(200, {"kind": "EventList", "apiVersion": "v1", "items": items})
            return
        with cluster.lock:
            stored = cluster.objects.get(url.path)
            if stored is None:
                self._status(404, "NotFound", f"{url.path} not found")
                return
            seen = cluster.gets_since_apply[url.path] = cluster.gets_since_apply[url.path] + 1
            answer = json.loads(json.dumps(stored))
        if answer["kind"] == "SpinApp":
            ready = cluster.ready_after_gets is not None and seen >= cluster.ready_after_gets
            replicas = answer["spec"].get("replicas", 1)
            answer["status"] = {
                "readyReplicas": replicas if ready else 0,
                "activeScheduler": answer["spec"].get("executor"),
                "conditions": (
                    [{"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable"}]
                    if ready
                    else cluster.conditions
                ),
            }
        self._answer(200, answer)

    def do_PATCH(self) -> None:
        cluster = self.server.cluster
        url = urlsplit(self.path)
        content_type = self.headers.get("Content-Type")
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        with cluster.lock:
            cluster.requests.append(("PATCH", url.path, content_type))
        if not self._authorised():
            return
        match = _OBJECT.match(url.path)
        if not match or f"{match['group']}/{match['version']}/{match['plural']}" not in _SERVED:
            self._status(404, "NotFound", "the server could not find the requested resource")
            return
        if match["plural"] == "spinapps" and not cluster.crd_installed:
            self._status(404, "NotFound", "the server could not find the requested resource")
            return
        if content_type != "application/apply-patch+yaml":
            self._status(415, "UnsupportedMediaType", f"unsupported patch type {content_type}")
            return
        query = parse_qs(url.query)
        if not query.get("fieldManager"):
            self._status(422, "Invalid", "PATCH with apply requires a fieldManager")
            return
        applied = json.loads(body)
        if (
            applied["metadata"].get("name") != match["name"]
            or applied["metadata"].get("namespace", match["ns"]) != match["ns"]
        ):
            self._status(400, "BadRequest", "the name or namespace of the object does not match")
            return
        with cluster.lock:
            previous = cluster.objects.get(url.path)
            generation = 1 if previous is None else previous["metadata"]["generation"]
            if previous is not None and previous["spec"] != applied["spec"]:
                generation += 1
            stored = {
                **applied,
                "metadata": {
                    **applied["metadata"],
                    "namespace": match["ns"],
                    "generation": generation,
                    "managedFields": [{"manager": query["fieldManager"][0], "operation": "Apply"}],
                },
            }
            cluster.objects[url.path] = stored
            cluster.gets_since_apply[url.path] = 0
        self._answer(201 if previous is None else 200, stored)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    cluster: FakeCluster


@contextmanager
def running_fake_cluster(**options: Any) -> Iterator[FakeCluster]:
    """The fake API on 127.0.0.1:<free port>, stopped afterwards."""
    cluster = FakeCluster(**options)
    server = _Server(("127.0.0.1", 0), _Handler)
    server.cluster = cluster
    cluster.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield cluster
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
