"""Reading and re-rendering a stored SpinApp manifest (with a real YAML parser, never regexes).

A redeploy of a live revision (scale, new variable values) changes `spec.replicas` or
`spec.variables` of the SpinApp the scaffold service wrote and keeps everything else, so that
the deployed app differs from its revision in exactly what was asked.
"""

from dataclasses import dataclass
from typing import Any

import yaml

from app.errors import Conflict

SPINAPP_KIND = "SpinApp"


class ManifestUnreadable(Conflict):
    """The stored manifest holds no SpinApp this module can change."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail, code="MANIFEST_UNREADABLE")


@dataclass(frozen=True)
class SpinAppSettings:
    """What a manifest deploys: the image, replicas (None when autoscaled) and variables."""

    name: str | None
    image: str | None
    replicas: int | None
    variables: dict[str, str]
    autoscaled: bool


def _documents(manifest: str) -> list[Any]:
    try:
        return [doc for doc in yaml.safe_load_all(manifest) if doc is not None]
    except yaml.YAMLError as exc:
        raise ManifestUnreadable("The stored manifest is not valid YAML") from exc


def _spinapp(documents: list[Any]) -> dict[str, Any]:
    for doc in documents:
        if isinstance(doc, dict) and doc.get("kind") == SPINAPP_KIND:
            if not isinstance(doc.get("spec"), dict):
                raise ManifestUnreadable("The stored SpinApp has no spec")
            return doc
    raise ManifestUnreadable("The stored manifest holds no SpinApp")


def settings_of(manifest: str) -> SpinAppSettings:
    """The SpinApp's image, replicas and literal variables."""
    app = _spinapp(_documents(manifest))
    spec, metadata = app["spec"], app.get("metadata") or {}
    replicas = spec.get("replicas")
    # Scalars only: a value built of YAML aliases could expand enormously when turned to text.
    variables = {
        str(item["name"]): str(item["value"])
        for item in spec.get("variables") or []
        if isinstance(item, dict)
        and isinstance(item.get("name"), str)
        and isinstance(item.get("value"), str | int | float | bool)
    }
    return SpinAppSettings(
        name=metadata.get("name") if isinstance(metadata, dict) else None,
        image=spec.get("image"),
        replicas=replicas if isinstance(replicas, int) else None,
        variables=variables,
        autoscaled=bool(spec.get("enableAutoscaling")),
    )


def with_settings(
    manifest: str, *, replicas: int | None = None, variables: dict[str, str] | None = None
) -> str:
    """The manifest with the SpinApp's replicas and/or variable values replaced."""
    documents = _documents(manifest)
    spec = _spinapp(documents)["spec"]
    if replicas is not None:
        if spec.get("enableAutoscaling"):
            raise Conflict(
                "The function is autoscaled: its replicas follow the load",
                code="FUNCTION_AUTOSCALED",
            )
        spec["replicas"] = replicas
    if variables is not None:
        if variables:
            spec["variables"] = [{"name": k, "value": v} for k, v in sorted(variables.items())]
        else:
            spec.pop("variables", None)
    # Strings that look like numbers or booleans come out quoted: the values stay strings.
    return yaml.safe_dump_all(documents, sort_keys=False, default_flow_style=False)
