"""The deploy job: server-side apply of the SpinApp (and its HPA), then wait until it is ready.

"Deployed" means `status.readyReplicas ≥ 1` (docs/contract.md). A SpinApp that does not get there
within the deadline fails with the cluster's own reason: its conditions and the latest
warning events of the app's Deployment, ReplicaSets and pods.
"""

import asyncio
import time
from typing import Any

import yaml

from infra_service.config import Settings
from infra_service.errors import InvalidRequest
from infra_service.jobs import Job, JobFailure
from infra_service.kube import KINDS, Kube, connect

SPINAPP = ("core.spinkube.dev/v1alpha1", "SpinApp")


def parse_manifest(text: str, *, namespace: str) -> list[dict[str, Any]]:
    """The documents to apply, SpinApp first; only the kinds the scaffold step writes."""
    try:
        documents = [doc for doc in yaml.safe_load_all(text) if doc]
    except yaml.YAMLError as exc:
        raise InvalidRequest(f"manifest is not valid YAML: {exc}") from exc
    for doc in documents:
        if not isinstance(doc, dict) or (doc.get("apiVersion"), doc.get("kind")) not in KINDS:
            kind = doc.get("kind") if isinstance(doc, dict) else type(doc).__name__
            raise InvalidRequest(
                f"manifest may hold a SpinApp ({SPINAPP[0]}) and a HorizontalPodAutoscaler "
                f"(autoscaling/v2) only, not {kind!r}."
            )
        metadata = doc.get("metadata")
        if not isinstance(metadata, dict) or not isinstance(metadata.get("name"), str):
            raise InvalidRequest(f"manifest: a {doc['kind']} has no metadata.name.")
        if metadata.get("namespace", namespace) != namespace:
            raise InvalidRequest(
                f"manifest: {doc['kind']} {metadata['name']} names namespace "
                f"{metadata['namespace']!r}, but the deploy targets {namespace!r}."
            )
        metadata["namespace"] = namespace
    apps = [doc for doc in documents if (doc["apiVersion"], doc["kind"]) == SPINAPP]
    if len(apps) != 1:
        raise InvalidRequest(f"manifest must hold exactly one SpinApp, found {len(apps)}.")
    return apps + [doc for doc in documents if doc is not apps[0]]


class Deployer:
    def __init__(self, *, settings: Settings) -> None:
        self._settings = settings

    def check(self, request: dict[str, Any]) -> None:
        parse_manifest(request["manifest"], namespace=request["namespace"])

    async def run(self, job: Job) -> dict[str, Any]:
        """Apply, then poll the SpinApp until it reports a ready replica or the deadline passes."""
        namespace = job.request["namespace"]
        documents = parse_manifest(job.request["manifest"], namespace=namespace)
        name = documents[0]["metadata"]["name"]
        settings = self._settings
        kube = await asyncio.to_thread(
            connect,
            kubeconfig=settings.kubeconfig,
            context=settings.kube_context,
            timeout=settings.deploy_request_timeout_seconds,
        )
        try:
            for doc in documents:
                resource = KINDS[(doc["apiVersion"], doc["kind"])]
                await asyncio.to_thread(
                    kube.apply, resource, namespace, doc, field_manager=settings.field_manager
                )
            ready = await self._wait_ready(kube, namespace, name)
        finally:
            await asyncio.to_thread(kube.close)
        return {
            "namespace": namespace,
            "name": name,
            "ready_replicas": ready,
            "endpoint": settings.endpoint_template.format(name=name, namespace=namespace),
            "applied": [doc["kind"] for doc in documents],
        }

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
