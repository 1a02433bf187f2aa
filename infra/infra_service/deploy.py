"""Deploy targets: SpinKube on a cluster, or the local runtime; `create_target` picks one.

Kubernetes: server-side apply of the workspace's namespace (infra_service.tenancy), then of
the SpinApp (and its HPA), labelled with their workspace and function, then wait until it is
ready.
"Deployed" means `status.readyReplicas ≥ 1` (docs/contract.md). A SpinApp that does not get there
within the deadline fails with the cluster's own reason: its conditions and the latest
warning events of the app's Deployment, ReplicaSets and pods. Undeploy deletes the SpinApp
and its HPA; runtime logs are the logs of the pods SpinKube labels with the app's name.
"""

import asyncio
import contextlib
import time
from collections.abc import Callable
from typing import Any, Protocol, TypeVar

from contract.runtime import (
    DeploymentState,
    NamespaceDeleteResult,
    RuntimeLogEntry,
    RuntimeLogPage,
    UndeployResult,
)
from infra_service import tenancy
from infra_service.config import Settings
from infra_service.errors import DependencyFailed, DeploymentNotFound, NamespaceNotManaged
from infra_service.jobs import Job, JobFailure
from infra_service.kube import KINDS, NAMESPACE, TENANT_KINDS, Kube, connect
from infra_service.manifest import SPINAPP, parse_manifest
from infra_service.runtime.logs import normalise_time, parse_time, stamp
from infra_service.runtime.store import AppKey
from infra_service.runtime.target import LocalTarget

HPA = ("autoscaling/v2", "HorizontalPodAutoscaler")
POD_LOG_BYTES = 1024 * 1024  # read per pod and call
T = TypeVar("T")


class DeployTarget(Protocol):
    """What the deploy service does with apps, wherever they run."""

    name: str

    async def start(self) -> None: ...
    async def stop(self) -> None: ...
    def check(self, request: dict[str, Any]) -> None: ...
    async def run(self, job: Job) -> dict[str, Any]: ...
    async def state(self, key: AppKey) -> DeploymentState: ...
    async def undeploy(self, key: AppKey) -> UndeployResult: ...
    async def logs(
        self, key: AppKey, *, since: str | None, limit: int, tail: int | None
    ) -> RuntimeLogPage: ...
    async def delete_namespace(self, namespace: str) -> NamespaceDeleteResult: ...


class KubernetesTarget:
    """SpinApps on the configured cluster."""

    name = "kubernetes"

    def __init__(self, *, settings: Settings) -> None:
        self._settings = settings
        self._deleted = tenancy.DeletedNamespaces()

    async def start(self) -> None:
        """Nothing to start: every call connects with the current kubeconfig."""

    async def stop(self) -> None:
        """Nothing runs here between calls."""

    def check(self, request: dict[str, Any]) -> None:
        parse_manifest(request["manifest"], namespace=request["namespace"])

    async def run(self, job: Job) -> dict[str, Any]:
        """Apply, then poll the SpinApp until it reports a ready replica or the deadline passes."""
        request = job.request
        namespace = request["namespace"]
        self._deleted.refuse(namespace)
        documents = parse_manifest(request["manifest"], namespace=namespace)
        name = documents[0]["metadata"]["name"]
        workspace_id = request.get("workspace_id")
        owner = tenancy.owner_labels(
            workspace_id=workspace_id, function=request.get("function_id") or name
        )
        tenancy.label(documents, owner)
        settings = self._settings
        kube = await self._connect()
        try:
            await asyncio.to_thread(self._provision, kube, namespace, workspace_id)
            for doc in documents:
                resource = KINDS[(doc["apiVersion"], doc["kind"])]
                await asyncio.to_thread(
                    kube.apply,
                    resource,
                    namespace,
                    doc,
                    field_manager=settings.field_manager,
                    forbidden_grace=settings.deploy_rbac_settle_seconds,
                )
            ready = await self._wait_ready(kube, namespace, name)
        finally:
            await asyncio.to_thread(kube.close)
        return {
            "namespace": namespace,
            "name": name,
            "ready_replicas": ready,
            "endpoint": self._endpoint(namespace, name),
            "applied": [doc["kind"] for doc in documents],
        }

    def _provision(self, kube: Kube, namespace: str, workspace_id: str | None) -> None:
        """Apply the workspace's namespace and what it holds (idempotent: server-side apply)."""
        existing = kube.find(NAMESPACE, namespace, namespace)
        if existing is not None:
            labels = (existing.get("metadata") or {}).get("labels") or {}
            owner = labels.get(tenancy.WORKSPACE_LABEL)
            if not tenancy.is_managed(existing):
                raise JobFailure(
                    "NAMESPACE_NOT_MANAGED",
                    f"namespace {namespace} exists and is not managed by the platform "
                    f"(no label {tenancy.MANAGED_BY_LABEL}={tenancy.MANAGED_BY}); "
                    "the platform deploys only into namespaces it made.",
                )
            if workspace_id and owner and owner != workspace_id:
                raise JobFailure(
                    "NAMESPACE_NOT_MANAGED",
                    f"namespace {namespace} belongs to another workspace.",
                )
            if (existing.get("status") or {}).get("phase") == "Terminating":
                raise JobFailure(
                    "DEPLOY_FAILED", f"namespace {namespace} is being deleted; deploy again later."
                )
        self._deleted.refuse(namespace)  # again: it may have been deleted since the job began
        documents = tenancy.namespace_documents(
            namespace=namespace, workspace_id=workspace_id, settings=self._settings
        )
        for doc in documents:
            resource = TENANT_KINDS[(doc["apiVersion"], doc["kind"])]
            # The Namespace and RoleBinding come from cluster-wide rights; what follows is
            # granted by that RoleBinding, which the authorizer may see a moment late.
            cluster_wide = doc["kind"] in ("Namespace", "RoleBinding")
            kube.apply(
                resource,
                namespace,
                doc,
                field_manager=self._settings.field_manager,
                forbidden_grace=0.0 if cluster_wide else self._settings.deploy_rbac_settle_seconds,
            )

    async def delete_namespace(self, namespace: str) -> NamespaceDeleteResult:
        """Delete a namespace the platform made (its apps go with it); idempotent."""

        def delete(kube: Kube) -> bool:
            existing = kube.find(NAMESPACE, namespace, namespace)
            if existing is None:
                self._deleted.add(namespace)
                return False
            if not tenancy.is_managed(existing):
                raise NamespaceNotManaged(
                    f"namespace {namespace} is not managed by the platform; it is left alone."
                )
            self._deleted.add(namespace)
            if (existing.get("status") or {}).get("phase") == "Terminating":
                return True  # deleted already, the API server is still emptying it
            return kube.delete(NAMESPACE, namespace, namespace)

        deleted = await self._call(delete)
        return NamespaceDeleteResult(namespace=namespace, deleted=deleted)

    async def state(self, key: AppKey) -> DeploymentState:
        app = await self._call(lambda kube: kube.find(KINDS[SPINAPP], key.namespace, key.name))
        if app is None:
            raise DeploymentNotFound(f"No SpinApp {key} in the cluster.")
        spec, status = app.get("spec") or {}, app.get("status") or {}
        metadata = app.get("metadata") or {}
        stamps = [f.get("time") for f in metadata.get("managedFields") or [] if f.get("time")]
        return DeploymentState(
            namespace=key.namespace,
            name=key.name,
            target="kubernetes",
            image=spec.get("image"),
            replicas=int(spec.get("replicas") or 0),
            ready_replicas=int(status.get("readyReplicas") or 0),
            endpoint=self._endpoint(key.namespace, key.name),
            updated_at=max(stamps, default=metadata.get("creationTimestamp")),
        )

    async def undeploy(self, key: AppKey) -> UndeployResult:
        """Delete the SpinApp (the operator's Deployment and Service go with it) and its HPA."""

        def delete(kube: Kube) -> bool:
            existed = kube.delete(KINDS[SPINAPP], key.namespace, key.name)
            kube.delete(KINDS[HPA], key.namespace, f"{key.name}-autoscaler")
            return existed

        deleted = await self._call(delete)
        return UndeployResult(namespace=key.namespace, name=key.name, deleted=deleted)

    async def logs(
        self, key: AppKey, *, since: str | None, limit: int, tail: int | None
    ) -> RuntimeLogPage:
        """The app's pods' log lines (stdout and stderr, which the kubelet does not tell apart)."""
        query = [("timestamps", "true"), ("limitBytes", str(POD_LOG_BYTES))]
        if since:  # the API takes whole seconds: read from there, cut exactly below
            query.append(("sinceTime", stamp(parse_time(since)).split(".")[0] + "Z"))
        if tail:
            query.append(("tailLines", str(tail)))

        def read(kube: Kube) -> list[RuntimeLogEntry] | None:
            if kube.find(KINDS[SPINAPP], key.namespace, key.name) is None:
                return None
            entries = []
            for pod in kube.app_pods(key.namespace, key.name):
                pod_name = (pod.get("metadata") or {}).get("name", "")
                with contextlib.suppress(JobFailure):  # a pod still starting has no log yet
                    text = kube.pod_log(key.namespace, pod_name, container=key.name, query=query)
                    entries += _pod_entries(text, replica=pod_name)
            return entries

        entries = await self._call(read)
        if entries is None:
            raise DeploymentNotFound(f"No SpinApp {key} in the cluster.")
        after = normalise_time(since) if since else ""
        entries = sorted((e for e in entries if e.time > after), key=lambda e: e.time)
        entries = entries[-tail:] if tail else entries[:limit]
        return RuntimeLogPage(entries=entries, next_since=entries[-1].time if entries else since)

    def _endpoint(self, namespace: str, name: str) -> str:
        return self._settings.endpoint_template.format(name=name, namespace=namespace)

    async def _connect(self) -> Kube:
        settings = self._settings
        return await asyncio.to_thread(
            connect,
            kubeconfig=settings.kubeconfig,
            context=settings.kube_context,
            timeout=settings.deploy_request_timeout_seconds,
        )

    async def _call(self, work: Callable[[Kube], T]) -> T:
        """One synchronous call with a fresh client; cluster failures become 502/503 answers."""
        try:
            kube = await self._connect()
            try:
                return await asyncio.to_thread(work, kube)
            finally:
                await asyncio.to_thread(kube.close)
        except JobFailure as failure:
            status = 502 if failure.code == "DEPLOY_FAILED" else 503
            raise DependencyFailed(failure.code, failure.message, status=status) from failure

    async def _wait_ready(self, kube: Kube, namespace: str, name: str) -> int:
        deadline = time.monotonic() + self._settings.deploy_ready_timeout_seconds
        app: dict[str, Any] = {}
        while True:
            app = await asyncio.to_thread(kube.get, KINDS[SPINAPP], namespace, name)
            ready = int((app.get("status") or {}).get("readyReplicas") or 0)
            if ready >= 1:
                return ready
            if time.monotonic() + self._settings.deploy_poll_seconds > deadline:
                break
            await asyncio.sleep(self._settings.deploy_poll_seconds)
        reason = await asyncio.to_thread(_not_ready_reason, kube, namespace, name, app)
        raise JobFailure(
            "DEPLOY_NOT_READY",
            f"SpinApp {namespace}/{name} reported no ready replica within "
            f"{self._settings.deploy_ready_timeout_seconds:.0f} s: {reason}",
        )


def create_target(settings: Settings, **local: Any) -> DeployTarget:
    """The target INFRA_DEPLOY_TARGET names (default: the cluster if configured, else local)."""
    if settings.deploy_target_name == "kubernetes":
        return KubernetesTarget(settings=settings)
    return LocalTarget(settings=settings, **local)


def _pod_entries(text: str, *, replica: str) -> list[RuntimeLogEntry]:
    """`<RFC 3339 nanoseconds> <message>` lines (timestamps=true)."""
    entries = []
    for line in text.splitlines():
        moment, _, message = line.partition(" ")
        with contextlib.suppress(ValueError):
            entries.append(
                RuntimeLogEntry(
                    time=normalise_time(moment),
                    replica=replica,
                    stream="stdout",
                    invocation_id=None,
                    message=message,
                )
            )
    return entries


def _not_ready_reason(kube: Kube, namespace: str, name: str, app: dict[str, Any]) -> str:
    """Conditions that are not True, then the newest warning events of the app's objects."""
    reasons = [
        f"{c.get('type')}={c.get('status')}: {c.get('reason', '')} {c.get('message', '')}".strip()
        for c in (app.get("status") or {}).get("conditions") or []
        if c.get("status") != "True"
    ]
    try:
        events = kube.events(namespace)
    except JobFailure:
        events = []
    mine = [
        event
        for event in events
        if (event.get("involvedObject") or {}).get("name", "").startswith(name)
        and event.get("type") == "Warning"
    ]
    mine.sort(key=lambda e: e.get("lastTimestamp") or e.get("eventTime") or "", reverse=True)
    for event in mine[:3]:
        involved = event.get("involvedObject") or {}
        reasons.append(
            f"{involved.get('kind')} {involved.get('name')}: {event.get('reason')}: "
            f"{event.get('message')}"
        )
    return "; ".join(reasons) or "the cluster gave no reason (no conditions, no warning events)"
