"""The jobs of the fake infrastructure services: their life cycle and made-up results.

Requests are validated and results shaped by the contract's own models (contract.jobs,
docs/contract.md), so the fake accepts exactly what the real service accepts and answers in
its format. Plain bookkeeping with no HTTP and no locking; `testing.fake_infra` serves it and
guards it.
"""

import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

from pydantic import ValidationError

from contract.jobs import (
    COLLECTIONS,
    REQUESTS,
    BuildRequest,
    BuildResult,
    DeployRequest,
    DeployResult,
    JobRequest,
    PushRequest,
    PushResult,
    ScaffoldRequest,
    ScaffoldResult,
    StageName,
    view_of,
)
from contract.problems import field_errors

__all__ = [
    "COLLECTIONS",
    "FakeJob",
    "JobBook",
    "KeyConflict",
    "Outcome",
    "app_name_of",
    "parse_request",
]
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
    kind: StageName
    job_key: str
    app_name: str | None
    request: JobRequest
    outcome: Outcome
    status: str = "queued"
    polls: int = 0
    result: dict[str, Any] | None = None
    error: dict[str, str] | None = None
    log_path: str | None = None
    created_at: str = field(default_factory=lambda: _now())
    started_at: str | None = None
    finished_at: str | None = None

    def view(self) -> dict[str, Any]:
        """The job as POST and GET /v1/<kind>[/{job_id}] show it (contract.jobs.JobView)."""
        return view_of(self)


class KeyConflict(Exception):
    """A known job_key came with a different request (the real service answers 409)."""


def _asked(request: JobRequest) -> dict[str, Any]:
    return request.model_dump(mode="json", exclude={"job_key"})


class JobBook:
    """Jobs by id and by (kind, job_key); a job's outcome is fixed when it is created."""

    def __init__(
        self,
        *,
        registry: str,
        storage_prefix: str,
        log_path: str | None,
        endpoint_of: Callable[[str, str], str] | None = None,
        succeeded: Callable[[FakeJob], None] | None = None,
    ) -> None:
        """`endpoint_of(namespace, name)`: a deploy result's endpoint; `succeeded(job)` is
        told of every job that succeeds (the fake runtime deploys what a deploy job made)."""
        self.registry = registry
        self.storage_prefix = storage_prefix
        self.log_path_template = log_path
        self.endpoint_of = endpoint_of
        self.succeeded = succeeded
        self._jobs: dict[str, FakeJob] = {}
        self._by_key: dict[tuple[str, str], str] = {}

    def get(self, job_id: str) -> FakeJob | None:
        return self._jobs.get(job_id)

    def forget(self) -> None:
        self._jobs.clear()
        self._by_key.clear()

    def submit(
        self, *, kind: StageName, request: JobRequest, app_name: str | None, outcome: Outcome
    ) -> tuple[FakeJob, bool]:
        """The job for this job_key, and whether it was created just now.

        Raises KeyConflict for a known key with another request, as the real service does.
        """
        job_key = request.job_key
        existing = self._jobs.get(self._by_key.get((kind, job_key), ""))
        if existing is not None:
            if _asked(existing.request) != _asked(request):
                raise KeyConflict(f"job_key {job_key!r} was used with another request")
            return existing, False
        job = FakeJob(f"{kind}-{uuid4().hex[:12]}", kind, job_key, app_name, request, outcome)
        if outcome.polls <= 0:
            self._finish(job)
        self._jobs[job.job_id] = job
        self._by_key[(kind, job_key)] = job.job_id
        return job, True

    def pushed_images(self) -> set[str]:
        """`repository@digest` of every succeeded push job (what the registry would hold)."""
        images = set()
        for job in self._jobs.values():
            if job.kind == "push" and job.status == "succeeded" and job.result:
                name, _, digest = str(job.result["image_url"]).partition("@")
                images.add(f"{name.partition('/')[2]}@{digest}")
        return images

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
            if self.succeeded is not None:
                self.succeeded(job)

    def _result(self, job: FakeJob) -> dict[str, Any]:
        request, app_name = job.request, job.app_name or "app"
        digest = hashlib.sha256(f"{job.kind}:{job.job_key}".encode()).hexdigest()
        result: BuildResult | PushResult | ScaffoldResult | DeployResult
        if isinstance(request, BuildRequest):
            result = BuildResult(wasm_path=request.artifact, sha256=digest, size=4096)
        elif isinstance(request, PushRequest):
            image = f"{self.registry}/{request.repository}"
            result = PushResult(
                image_url=f"{image}@sha256:{digest}", tag_url=f"{image}:{request.tag}"
            )
        elif isinstance(request, ScaffoldRequest):
            path = request.manifest_path or (
                f"{self.storage_prefix}/manifests/{job.job_id}/{request.app_name}.yaml"
            )
            result = ScaffoldResult(manifest=spinapp_yaml(request), manifest_path=path)
        else:
            assert isinstance(request, DeployRequest)
            namespace = request.namespace
            result = DeployResult(
                namespace=namespace,
                name=app_name,
                ready_replicas=1,
                endpoint=(
                    self.endpoint_of(namespace, app_name)
                    if self.endpoint_of
                    else f"http://{app_name}.{namespace}.svc.cluster.local"
                ),
            )
        return result.model_dump(mode="json")


def parse_request(kind: StageName, body: object) -> JobRequest | list[dict[str, str]]:
    """The body as the contract's request model of `kind`, or its field errors."""
    try:
        return REQUESTS[kind].model_validate(body)
    except ValidationError as exc:
        return field_errors(exc.errors())


def app_name_of(request: JobRequest) -> str | None:
    """The request's app_name, or for a deploy the SpinApp's metadata.name."""
    if isinstance(request, DeployRequest):
        match = _MANIFEST_NAME.search(request.manifest)
        return match.group(1) if match else None
    name = getattr(request, "app_name", None)
    return str(name) if name else None


def spinapp_yaml(request: ScaffoldRequest) -> str:
    """The SpinApp `spin kube scaffold` would write, for the fields the fake understands."""
    lines = [
        "apiVersion: core.spinkube.dev/v1alpha1",
        "kind: SpinApp",
        "metadata:",
        f"  name: {request.app_name}",
        "spec:",
        f"  image: {json.dumps(request.image_url)}",
        f"  executor: {request.executor}",
    ]
    if request.autoscaling is not None:
        lines.append("  enableAutoscaling: true")
    else:
        lines.append(f"  replicas: {request.replicas}")
    if request.image_pull_secrets:
        lines.append("  imagePullSecrets:")
        lines += [f"    - name: {secret}" for secret in request.image_pull_secrets]
    if request.variables:
        lines.append("  variables:")
        for name, value in request.variables.items():
            lines += [f"    - name: {name}", f"      value: {json.dumps(value)}"]
    return "\n".join(lines) + "\n"


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
