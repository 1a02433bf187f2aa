"""From an HTTP request to what the guest sees, as Spin's HTTP trigger does it."""

import json
import re
import uuid
from dataclasses import dataclass

from infra_service.runtime.context import IncomingRequestData
from infra_service.runtime.manifest import ComponentManifest, RouteMatch, match_route

WELL_KNOWN_PREFIX = "/.well-known/spin/"
_INVOCATION_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")


@dataclass(frozen=True)
class FixedAnswer:
    """An answer the host gives itself, without calling the component."""

    status: int
    content_type: str | None
    body: bytes


def invocation_id(headers: list[tuple[str, bytes]]) -> str:
    """The caller's `X-Invocation-Id` when it is a sane token, else a new one."""
    for name, value in headers:
        if name == "x-invocation-id":
            text = value.decode("latin-1").strip()
            if _INVOCATION_ID.match(text):
                return text
    return uuid.uuid4().hex


def well_known(path: str, manifest: ComponentManifest) -> FixedAnswer | None:
    """Spin's `/.well-known/spin/health` and `/info`; other well-known paths are 404."""
    if not path.startswith(WELL_KNOWN_PREFIX):
        return None
    name = path[len(WELL_KNOWN_PREFIX) :]
    if name == "health":
        return FixedAnswer(200, None, b"OK")
    if name == "info":
        info: dict[str, str] = {"name": manifest.app_name}
        if manifest.app_version:
            info["version"] = manifest.app_version
        if manifest.oci_image_digest:
            info["oci_image_digest"] = manifest.oci_image_digest
        return FixedAnswer(200, "application/json", json.dumps(info, indent=2).encode())
    return FixedAnswer(404, None, b"")


def route(path: str, manifest: ComponentManifest) -> RouteMatch | None:
    return match_route(manifest.route, path)


def guest_request(
    *,
    method: str,
    path_with_query: str,
    scheme: str,
    headers: list[tuple[str, bytes]],
    matched: RouteMatch,
    client_addr: str,
) -> IncomingRequestData:
    """The request as the component gets it: Spin's `spin-*` headers added, `connection` gone."""
    host = next((v.decode("latin-1") for n, v in headers if n == "host"), "localhost")
    kept = [(n, v) for n, v in headers if n != "connection" and not n.startswith("spin-")]
    spin = {
        "spin-path-info": matched.path_info,
        "spin-full-url": f"{scheme}://{host}{path_with_query}",
        "spin-matched-route": matched.matched_route,
        "spin-base-path": "/",
        "spin-raw-component-route": matched.raw_component_route,
        "spin-component-route": matched.component_route,
        "spin-client-addr": client_addr,
    }
    kept.extend((name, value.encode()) for name, value in spin.items())
    return IncomingRequestData(
        method=method,
        path_with_query=path_with_query,
        scheme=scheme,
        authority=host,
        headers=kept,
    )
