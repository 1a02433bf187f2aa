"""What the locked app (spin.json) says about the component to run: grants, config, routes."""

from dataclasses import dataclass, field
from typing import Any


class ManifestError(ValueError):
    """The locked app cannot be run as given."""


@dataclass(frozen=True)
class AppVariable:
    default: str | None
    secret: bool


@dataclass(frozen=True)
class ComponentManifest:
    app_name: str
    app_version: str | None
    oci_image_digest: str | None
    component_id: str
    route: str
    allowed_outbound_hosts: list[str]
    key_value_stores: list[str]
    config: dict[str, str]  # component config key -> template
    variables: dict[str, AppVariable]  # app-level variables
    environment: dict[str, str] = field(default_factory=dict)


def _strings(value: Any, what: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ManifestError(f"{what} must be a list of strings")
    return list(value)


def _string_map(value: Any, what: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise ManifestError(f"{what} must map strings to strings")
    return dict(value)


def _http_trigger(locked: dict[str, Any]) -> tuple[str | None, str]:
    for trigger in locked.get("triggers") or []:
        if isinstance(trigger, dict) and trigger.get("trigger_type") == "http":
            config = trigger.get("trigger_config") or {}
            component = config.get("component")
            route = config.get("route", "/...")
            return (component if isinstance(component, str) else None), str(route)
    return None, "/..."


def component_manifest(locked: dict[str, Any], *, fallback_name: str) -> ComponentManifest:
    """The HTTP-triggered component of a locked app (or a grant-less one when there is none)."""
    metadata = locked.get("metadata") or {}
    component_id, route = _http_trigger(locked)
    components = [c for c in locked.get("components") or [] if isinstance(c, dict)]
    chosen = next((c for c in components if c.get("id") == component_id), None)
    if chosen is None and components:
        chosen = components[0]
    chosen = chosen or {"id": fallback_name}
    component_meta = chosen.get("metadata") or {}
    variables: dict[str, AppVariable] = {}
    for name, spec in (locked.get("variables") or {}).items():
        spec = spec if isinstance(spec, dict) else {}
        default = spec.get("default")
        variables[name] = AppVariable(
            default=default if isinstance(default, str) else None,
            secret=bool(spec.get("secret", False)),
        )
    return ComponentManifest(
        app_name=str(metadata.get("name") or fallback_name),
        app_version=metadata.get("version") if isinstance(metadata.get("version"), str) else None,
        oci_image_digest=(
            metadata["oci_image_digest"]
            if isinstance(metadata.get("oci_image_digest"), str)
            else None
        ),
        component_id=str(chosen.get("id") or fallback_name),
        route=route,
        allowed_outbound_hosts=_strings(
            component_meta.get("allowed_outbound_hosts"), "allowed_outbound_hosts"
        ),
        key_value_stores=_strings(component_meta.get("key_value_stores"), "key_value_stores"),
        config=_string_map(chosen.get("config"), "component config"),
        variables=variables,
        environment=_string_map(chosen.get("env"), "component env"),
    )


@dataclass(frozen=True)
class RouteMatch:
    matched_route: str
    raw_component_route: str
    component_route: str
    path_info: str


def match_route(route: str, path: str) -> RouteMatch | None:
    """Spin's HTTP route rule: an exact path, or a prefix ending in `/...` (base `/`)."""
    if route.endswith("/..."):
        prefix = route[: -len("/...")]
        if path == prefix or path.startswith(prefix + "/") or prefix == "":
            return RouteMatch(route, route, prefix, path[len(prefix) :])
        return None
    exact = route.rstrip("/") or "/"
    if (path.rstrip("/") or "/") == exact:
        return RouteMatch(route, route, exact, "")
    return None
