"""A fake Kubernetes API server over HTTP: just the paths the deploy target uses.

It stands in for a cluster running SpinKube, which cannot run here. Server-side apply (PATCH
application/apply-patch+yaml with fieldManager) creates or updates SpinApps and HPAs, and what
a workspace's namespace holds (the Namespace itself, ResourceQuota, LimitRange,
NetworkPolicy, SpinAppExecutor); deleting a Namespace deletes everything in it; GET
answers the stored object with a status the test controls; DELETE removes it (404 when
absent); events are listed per namespace; pods (which the test adds, as SpinKube's operator
would) are listed by label selector, and their logs answered as the kubelet does
(`timestamps`, `sinceTime`, `tailLines`, `limitBytes`; 400 while the container is waiting).
`kubeconfig(path)` writes a kubeconfig that points the real client here.
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
_CORE_OBJECT = re.compile(
    r"^/api/(?P<version>v1)/namespaces/(?P<ns>[^/]+)/(?P<plural>resourcequotas|limitranges)/(?P<name>[^/]+)$"
)
_NAMESPACE = re.compile(r"^/api/v1/namespaces/(?P<name>[^/]+)$")
_EVENTS = re.compile(r"^/api/v1/namespaces/(?P<ns>[^/]+)/events$")
_PODS = re.compile(r"^/api/v1/namespaces/(?P<ns>[^/]+)/pods$")
_POD_LOG = re.compile(r"^/api/v1/namespaces/(?P<ns>[^/]+)/pods/(?P<pod>[^/]+)/log$")
_SERVED = {
    "rbac.authorization.k8s.io/v1/rolebindings",
    "core.spinkube.dev/v1alpha1/spinapps",
    "core.spinkube.dev/v1alpha1/spinappexecutors",
    "autoscaling/v2/horizontalpodautoscalers",
    "networking.k8s.io/v1/networkpolicies",
}


def _target(path: str) -> tuple[str, str] | None:
    """(namespace, name) of an object path the fake serves, else None."""
    if match := _NAMESPACE.match(path):
        return match["name"], match["name"]
    if match := _CORE_OBJECT.match(path):
        return match["ns"], match["name"]
    match = _OBJECT.match(path)
    if match and f"{match['group']}/{match['version']}/{match['plural']}" in _SERVED:
        return match["ns"], match["name"]
    return None


@dataclass
class FakeCluster:
    """State and behaviour of the fake API; change the attributes from the test."""

    ready_after_gets: int | None = 1  # None: never ready
    conditions: list[dict[str, Any]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    crd_installed: bool = True
    # The next N applies of namespaced objects other than RoleBindings answer 403 (as while
    # the authorizer has not yet seen a new RoleBinding); None: all of them.
    forbidden_applies: int | None = 0
    # Pods: {"namespace", "name", "labels", "container", "lines": [(RFC 3339, text)], "waiting"}
    pods: list[dict[str, Any]] = field(default_factory=list)
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

    def add_namespace(self, name: str, *, labels: dict[str, str] | None = None) -> None:
        """A namespace somebody else made (no managed-by label unless given)."""
        with self.lock:
            self.objects[f"/api/v1/namespaces/{name}"] = {
                "apiVersion": "v1", "kind": "Namespace",
                "metadata": {"name": name, "labels": labels or {}, "generation": 1},
            }  # fmt: skip

    def in_namespace(self, namespace: str) -> dict[str, dict[str, Any]]:
        """The stored objects of a namespace (by path), the Namespace itself included."""
        with self.lock:
            return {
                path: obj
                for path, obj in self.objects.items()
                if f"/namespaces/{namespace}/" in path or path == f"/api/v1/namespaces/{namespace}"
            }

    def add_pod(
        self,
        namespace: str,
        name: str,
        *,
        app: str,
        lines: list[tuple[str, str]],
        waiting: bool = False,
    ) -> None:
        """A pod of a SpinApp as the operator labels it, with the log lines it wrote."""
        with self.lock:
            self.pods.append(
                {"namespace": namespace, "name": name, "container": app, "lines": lines,
                 "labels": {"core.spinkube.dev/app-name": app}, "waiting": waiting}
            )  # fmt: skip


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
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        if match := _PODS.match(url.path):
            key, _, value = query.get("labelSelector", "").partition("=")
            items = [
                {"metadata": {"name": pod["name"], "namespace": pod["namespace"],
                              "labels": pod["labels"]}}
                for pod in cluster.pods
                if pod["namespace"] == match["ns"] and (not key or pod["labels"].get(key) == value)
            ]  # fmt: skip
            self._answer(200, {"kind": "PodList", "apiVersion": "v1", "items": items})
            return
        if match := _POD_LOG.match(url.path):
            self._pod_log(match["ns"], match["pod"], query)
            return
        with cluster.lock:
            stored = cluster.objects.get(url.path)
            if stored is None:
                self._status(404, "NotFound", f"{url.path} not found")
                return
            seen = cluster.gets_since_apply[url.path] = (
                cluster.gets_since_apply.get(url.path, 0) + 1
            )
            answer = json.loads(json.dumps(stored))
        if answer["kind"] == "Namespace":
            answer.setdefault("status", {"phase": "Active"})
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

    def _pod_log(self, namespace: str, name: str, query: dict[str, str]) -> None:
        cluster = self.server.cluster
        pod = next(
            (p for p in cluster.pods if (p["namespace"], p["name"]) == (namespace, name)), None
        )
        if pod is None or query.get("container", pod["container"]) != pod["container"]:
            self._status(404, "NotFound", f'pods "{name}" not found')
            return
        if pod["waiting"]:
            message = f'container "{pod["container"]}" in pod "{name}" is waiting to start'
            self._status(400, "BadRequest", message)
            return
        lines = pod["lines"]
        if "sinceTime" in query:  # whole seconds, like the kubelet
            lines = [line for line in lines if line[0][:19] >= query["sinceTime"][:19]]
        if "tailLines" in query:
            lines = lines[-int(query["tailLines"]) :]
        stamp = query.get("timestamps") == "true"
        text = "".join(f"{t} {m}\n" if stamp else f"{m}\n" for t, m in lines).encode()
        text = text[: int(query.get("limitBytes", len(text)))]
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(text)))
        self.end_headers()
        self.wfile.write(text)

    def do_DELETE(self) -> None:
        cluster = self.server.cluster
        url = urlsplit(self.path)
        with cluster.lock:
            cluster.requests.append(("DELETE", url.path, None))
        if not self._authorised():
            return
        with cluster.lock:
            removed = cluster.objects.pop(url.path, None)
            if removed is not None and removed["kind"] == "Namespace":  # and all it holds
                name = removed["metadata"]["name"]
                for path in [p for p in cluster.objects if f"/namespaces/{name}/" in p]:
                    del cluster.objects[path]
        if removed is None:
            self._status(404, "NotFound", f"{url.path} not found")
            return
        self._answer(200, {"kind": "Status", "apiVersion": "v1", "status": "Success",
                           "details": {"name": removed["metadata"]["name"]}})  # fmt: skip

    def do_PATCH(self) -> None:
        cluster = self.server.cluster
        url = urlsplit(self.path)
        content_type = self.headers.get("Content-Type")
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        with cluster.lock:
            cluster.requests.append(("PATCH", url.path, content_type))
        if not self._authorised():
            return
        target = _target(url.path)
        if target is None:
            self._status(404, "NotFound", "the server could not find the requested resource")
            return
        namespace, name = target
        if "/core.spinkube.dev/" in url.path and not cluster.crd_installed:
            self._status(404, "NotFound", "the server could not find the requested resource")
            return
        with cluster.lock:
            forbid = (
                not _NAMESPACE.match(url.path)
                and "/rolebindings/" not in url.path
                and (cluster.forbidden_applies is None or cluster.forbidden_applies > 0)
            )
            if forbid and cluster.forbidden_applies is not None:
                cluster.forbidden_applies -= 1
        if forbid:
            self._status(403, "Forbidden", f"cannot patch {url.path}")
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
            applied["metadata"].get("name") != name
            or applied["metadata"].get("namespace", namespace) != namespace
        ):
            self._status(400, "BadRequest", "the name or namespace of the object does not match")
            return
        with cluster.lock:
            previous = cluster.objects.get(url.path)
            generation = 1 if previous is None else previous["metadata"]["generation"]
            if previous is not None and previous.get("spec") != applied.get("spec"):
                generation += 1
            if applied["kind"] != "Namespace" and (
                f"/api/v1/namespaces/{namespace}" not in cluster.objects
            ):
                self._status(404, "NotFound", f'namespaces "{namespace}" not found')
                return
            stored = {
                **applied,
                "metadata": {
                    **applied["metadata"],
                    **({} if applied["kind"] == "Namespace" else {"namespace": namespace}),
                    "generation": generation,
                    "creationTimestamp": (previous or {})
                    .get("metadata", {})
                    .get("creationTimestamp", "2026-01-01T00:00:00Z"),
                    "managedFields": [
                        {
                            "manager": query["fieldManager"][0],
                            "operation": "Apply",
                            "time": f"2026-01-01T00:00:{generation:02d}Z",
                        }
                    ],
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
