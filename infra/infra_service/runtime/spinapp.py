"""What a SpinApp manifest asks of the local target: image, replicas, variables.

Only what can run here passes: a plain value per variable (`valueFrom` needs a cluster's
Secrets), a replica count the machine allows, an image reference that names its registry.
With `enableAutoscaling` the HPA's `minReplicas` is what runs (there is no autoscaler here).
"""

from dataclasses import dataclass

from infra_service.errors import InvalidRequest
from infra_service.jobs import JobFailure
from infra_service.manifest import parse_manifest
from infra_service.runtime.registry_pull import parse_image
from infra_service.runtime.store import AppKey


@dataclass(frozen=True)
class Wanted:
    """What a SpinApp asks of the local target."""

    key: AppKey
    image: str
    replicas: int
    variables: dict[str, str]
    kinds: list[str]


def wanted_from_manifest(text: str, *, namespace: str, max_replicas: int) -> Wanted:
    """The SpinApp's image, replicas and variables; InvalidRequest for what cannot run here."""
    documents = parse_manifest(text, namespace=namespace)
    app = documents[0]
    spec = app.get("spec")
    if not isinstance(spec, dict) or not isinstance(spec.get("image"), str):
        raise InvalidRequest("manifest: the SpinApp has no spec.image.")
    try:
        parse_image(spec["image"])  # refuses a reference that names no registry
    except JobFailure as failure:
        raise InvalidRequest(f"manifest: {failure.message}") from failure
    replicas = spec.get("replicas")
    if spec.get("enableAutoscaling"):  # the HPA's floor is what runs here
        hpas = [d for d in documents[1:] if d.get("kind") == "HorizontalPodAutoscaler"]
        replicas = (hpas[0].get("spec") or {}).get("minReplicas", 1) if hpas else 1
    replicas = 1 if replicas is None else replicas
    if not isinstance(replicas, int) or isinstance(replicas, bool) or replicas < 0:
        raise InvalidRequest(
            f"manifest: spec.replicas must be a whole number ≥ 0, not {replicas!r}."
        )
    if replicas > max_replicas:
        raise InvalidRequest(
            f"manifest: {replicas} replicas; this machine runs at most {max_replicas}."
        )
    variables: dict[str, str] = {}
    for item in spec.get("variables") or []:
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            raise InvalidRequest("manifest: every spec.variables entry needs a name.")
        if "valueFrom" in item:
            raise InvalidRequest(
                f"manifest: variable {item['name']} takes valueFrom (a Secret or ConfigMap), "
                "which needs a cluster; the local target takes plain values."
            )
        variables[item["name"]] = str(item.get("value", ""))
    name = app["metadata"]["name"]
    try:
        key = AppKey(namespace, name)
    except ValueError as exc:
        raise InvalidRequest(f"manifest: {name!r} is not a DNS-1123 label.") from exc
    return Wanted(key, spec["image"], replicas, variables, [d["kind"] for d in documents])
