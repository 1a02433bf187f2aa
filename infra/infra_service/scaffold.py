"""The scaffold job: the SpinApp (and HPA) `spin kube scaffold --from IMAGE` writes (SPEC §7).

YAML is written by hand so that every user-supplied string is a double-quoted scalar (JSON
string syntax, which YAML accepts): a variable value like `yes`, `0x10` or `a: b` stays a
string, and no value can add keys of its own.
"""

import json
from typing import Any

from infra_service import tenancy
from infra_service.jobs import Job
from infra_service.schemas import ScaffoldRequest
from infra_service.storage import ObjectStore, parse_s3_path

API_VERSION = "core.spinkube.dev/v1alpha1"


def _q(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)


def spinapp_yaml(request: ScaffoldRequest) -> str:
    """The SpinApp document, plus an autoscaling/v2 HPA when autoscaling is asked for."""
    name = request.app_name
    lines = [
        f"apiVersion: {API_VERSION}",
        "kind: SpinApp",
        "metadata:",
        f"  name: {name}",
        *_label_lines(request),
        "spec:",
        f"  image: {_q(request.image_url)}",
        f"  executor: {request.executor}",
    ]
    if request.autoscaling is not None:
        lines.append("  enableAutoscaling: true")
    else:
        lines.append(f"  replicas: {request.replicas}")
    resources = request.resources
    if resources is not None and (resources.limits or resources.requests):
        lines.append("  resources:")
        for block, values in (("limits", resources.limits), ("requests", resources.requests)):
            if values:
                lines.append(f"    {block}:")
                lines += [f"      {key}: {_q(values[key])}" for key in sorted(values)]
    if request.image_pull_secrets:
        lines.append("  imagePullSecrets:")
        lines += [f"    - name: {secret}" for secret in request.image_pull_secrets]
    if request.variables:
        lines.append("  variables:")
        for key, value in request.variables.items():
            lines += [f"    - name: {key}", f"      value: {_q(value)}"]
    if request.autoscaling is not None:
        lines += ["---", *_hpa_lines(request)]
    return "\n".join(lines) + "\n"


def _label_lines(request: ScaffoldRequest) -> list[str]:
    """The workspace and function labels (the deploy puts them on again, whatever it is sent)."""
    labels = tenancy.owner_labels(
        workspace_id=request.workspace_id, function=request.function_id or request.app_name
    )
    return ["  labels:", *(f"    {key}: {_q(value)}" for key, value in sorted(labels.items()))]


def _hpa_lines(request: ScaffoldRequest) -> list[str]:
    scaling = request.autoscaling
    assert scaling is not None
    lines = [
        "apiVersion: autoscaling/v2",
        "kind: HorizontalPodAutoscaler",
        "metadata:",
        f"  name: {request.app_name}-autoscaler",
        *_label_lines(request),
        "spec:",
        "  scaleTargetRef:",
        "    apiVersion: apps/v1",
        "    kind: Deployment",
        f"    name: {request.app_name}",
        f"  minReplicas: {scaling.min_replicas}",
        f"  maxReplicas: {scaling.max_replicas}",
        "  metrics:",
    ]
    for resource, target in (
        ("cpu", scaling.target_cpu_utilization),
        ("memory", scaling.target_memory_utilization),
    ):
        lines += [
            "    - type: Resource",
            "      resource:",
            f"        name: {resource}",
            "        target:",
            "          type: Utilization",
            f"          averageUtilization: {target}",
        ]
    return lines


class Scaffolder:
    def __init__(self, *, objects: ObjectStore) -> None:
        self._objects = objects

    def check(self, request: dict[str, Any]) -> None:
        """Refuse at once (422) a manifest_path outside the service's bucket."""
        if request.get("manifest_path"):
            parse_s3_path(
                request["manifest_path"], bucket=self._objects.bucket, field="manifest_path"
            )

    async def run(self, job: Job) -> dict[str, Any]:
        """Write the manifest and store it at the request's `manifest_path`.

        Without one it goes to `manifests/{job_id}/{app_name}.yaml`.
        """
        request = ScaffoldRequest.model_validate(job.request)
        manifest = spinapp_yaml(request)
        target = (
            parse_s3_path(request.manifest_path, bucket=self._objects.bucket, field="manifest_path")
            if request.manifest_path
            else self._objects.location(f"manifests/{job.job_id}/{request.app_name}.yaml")
        )
        await self._objects.put_text(target, manifest, content_type="application/yaml")
        kinds = ["SpinApp"] + (["HorizontalPodAutoscaler"] if request.autoscaling else [])
        return {
            "manifest": manifest,
            "manifest_path": target.url,
            "name": request.app_name,
            "kinds": kinds,
        }
