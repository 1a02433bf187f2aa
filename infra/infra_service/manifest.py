"""Deploy manifests: the documents the scaffold step writes, checked before anything runs."""

from typing import Any

import yaml

from infra_service.errors import InvalidRequest
from infra_service.kube import KINDS

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
