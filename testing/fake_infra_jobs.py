"""The jobs of the fake infrastructure services: their life cycle and made-up results (SPEC §4).

Plain bookkeeping with no HTTP and no locking; `testing.fake_infra` serves it and guards it.
"""

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

COLLECTIONS = {
    "build": "builds",
    "push": "pushes",
    "scaffold": "scaffolds",
    "deploy": "deployments",
}
REQUIRED_FIELDS = {
    "build": ("job_key", "workspace_id", "app_name", "source", "artifact"),
    "push": ("job_key", "wasm_path", "app_name", "repository"),
    "scaffold": ("job_key", "image_url", "app_name"),
    "deploy": ("job_key", "namespace", "manifest"),
}
_MANIFEST_NAME = re.compile(r"^metadata:\s*\n(?:[ \t]+.*\n)*?[ \t]+name:\s*[\"']?([\w.-]+)", re.M)


@dataclass(frozen=True)
class Outcome:
    """How a job ends: after `polls` GETs (0: already in the POST answer), with `error` or not."""

    polls: int = 1
    error: tuple[str, str] | None = None  # (code, message)
    log_path: str | None = None


@dataclass
class FakeJob:
    job_id: str
    kind: str
    job_key: str
    app_name: str | None
    request: dict[str, Any]
    outcome: Outcome
    status: str = "queued"
    polls: int = 0
    result: dict[str, Any] | None = None
    error: dict[str, str] | None = None
    log_path: str | None = None
    started_at: str | None = None
    finished_at: str | None = None

    def view(self) -> dict[str, Any]:
        """The job as GET /v1/<kind>/{job_id} shows it."""
        return {
            "job_id": self.job_id,
            "status": self.status,
            "result": self.result,
            "error": self.error,
            "log_path": self.log_path,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
        }


class JobBook:
    """Jobs by id and by (kind, job_key); a job's outcome is fixed when it is created."""

    def __init__(self, *, registry: str, storage_prefix: str, log_path: str | None) -> None:
        self.registry = registry
        self.storage_prefix = storage_prefix
        self.log_path_template = log_path
        self._jobs: dict[str, FakeJob] = {}
        self._by_key: dict[tuple[str, str], str] = {}

    def get(self, job_id: str) -> FakeJob | None:
        return self._jobs.get(job_id)

    def forget(self) -> None:
        self._jobs.clear()
        self._by_key.clear()

    def submit(
        self, *, kind: str, body: dict[str, Any], app_name: str | None, outcome: Outcome
    ) -> tuple[FakeJob, bool]:
        """The job for this job_key, and whether it was created just now."""
        job_key = body["job_key"]
        existing = self._jobs.get(self._by_key.get((kind, job_key), ""))
        if existing is not None:
            return existing, False
        job = FakeJob(f"{kind}-{uuid4().hex[:12]}", kind, job_key, app_name, body, outcome)
        if outcome.polls <= 0:
            self._finish(job)
        self._jobs[job.job_id] = job
        self._by_key[(kind, job_key)] = job.job_id
        return job, True

    def poll(self, *, kind: str, job_id: str) -> FakeJob | None:
        """One GET: the job moves on (running, then its outcome); None if unknown."""
        job = self._jobs.get(job_id)
        if job is None or job.kind != kind:
            return None
        if job.status not in ("succeeded", "failed"):
            job.polls += 1
            job.started_at = job.started_at or _now()
            if job.polls >= job.outcome.polls:
                self._finish(job)
            else:
                job.status = "running"
        return job

    def _finish(self, job: FakeJob) -> None:
        job.started_at = job.started_at or _now()
        job.finished_at = _now()
        if self.log_path_template:
            job.log_path = self.log_path_template.format(
                kind=job.kind, job_id=job.job_id, job_key=job.job_key
            )
        if job.outcome.error:
            code, message = job.outcome.error
            job.status, job.error = "failed", {"code": code, "message": message}
            job.log_path = job.outcome.log_path or job.log_path
        else:
            job.status, job.result = "succeeded", self._result(job)

    def _result(self, job: FakeJob) -> dict[str, Any]:
        request, app_name = job.request, job.app_name or "app"
        digest = hashlib.sha256(f"{job.kind}:{job.job_key}".encode()).hexdigest()
        if job.kind == "build":
            return {"wasm_path": request["artifact"], "sha256": digest, "size": 4096}
        if job.kind == "push":
            return {"image_url": f"{self.registry}/{request['repository']}@sha256:{digest}"}
        if job.kind == "scaffold":
            path = f"{self.storage_prefix}/manifests/{app_name}/{job.job_id}.yaml"
            return {"manifest": spinapp_yaml(request), "manifest_path": path}
        namespace = request["namespace"]
        return {
            "namespace": namespace,
            "name": app_name,
            "ready_replicas": 1,
            "endpoint": f"http://{app_name}.{namespace}.svc.cluster.local",
        }


def missing_fields(kind: str, body: dict[str, Any]) -> list[str]:
    """Required fields of a `kind` request that are absent or empty (job_key must be a string)."""
    missing = [name for name in REQUIRED_FIELDS[kind] if body.get(name) in (None, "")]
    if "job_key" not in missing and not isinstance(body["job_key"], str):
        missing.insert(0, "job_key")
    return missing


def app_name_of(body: dict[str, Any]) -> str | None:
    """The request's app_name, or for a deploy the SpinApp's metadata.name."""
    if body.get("app_name"):
        return str(body["app_name"])
    manifest = body.get("manifest")
    match = _MANIFEST_NAME.search(manifest) if isinstance(manifest, str) else None
    return match.group(1) if match else None


def spinapp_yaml(request: dict[str, Any]) -> str:
    """The SpinApp `spin kube scaffold` would write, for the fields the fake understands."""
    lines = [
        "apiVersion: core.spinkube.dev/v1alpha1",
        "kind: SpinApp",
        "metadata:",
        f"  name: {request['app_name']}",
        "spec:",
        f"  image: {json.dumps(request['image_url'])}",
        f"  executor: {request.get('executor') or 'containerd-shim-spin'}",
    ]
    if request.get("autoscaling"):
        lines.append("  enableAutoscaling: true")
    else:
        lines.append(f"  replicas: {request.get('replicas') or 2}")
    secrets = request.get("image_pull_secrets") or []
    if secrets:
        lines.append("  imagePullSecrets:")
        lines += [f"    - name: {s['name'] if isinstance(s, dict) else s}" for s in secrets]
    variables = request.get("variables") or {}
    if isinstance(variables, list):
        variables = {item["name"]: item.get("value", "") for item in variables}
    if variables:
        lines.append("  variables:")
        for name, value in variables.items():
            lines += [f"    - name: {name}", f"      value: {json.dumps(str(value))}"]
    return "\n".join(lines) + "\n"


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
