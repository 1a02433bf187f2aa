"""The few Kubernetes API calls the deploy target makes, through the official client.

Blocking (the client uses urllib3): callers run these in a thread. Server-side apply is a
PATCH with `application/apply-patch+yaml` and a field manager, which creates the object or
updates the fields this manager owns; the generated CustomObjectsApi cannot send that content
type, so the calls go through `ApiClient.call_api`.
"""

import contextlib
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kubernetes import client, config
from kubernetes.client.rest import ApiException
from kubernetes.config.config_exception import ConfigException
from urllib3.exceptions import HTTPError as Urllib3Error

from infra_service.jobs import JobFailure

NOT_CONFIGURED = "no Kubernetes cluster configured: set INFRA_KUBECONFIG or run in-cluster"


@dataclass(frozen=True)
class Resource:
    """Where a kind lives in the API."""

    api_version: str
    plural: str
    namespaced: bool = True

    def path(self, namespace: str, name: str | None = None) -> str:
        """The object's path (a cluster-scoped kind ignores `namespace`)."""
        prefix = "/api" if "/" not in self.api_version else "/apis"
        if not self.namespaced:
            base = f"{prefix}/{self.api_version}/{self.plural}"
        else:
            base = f"{prefix}/{self.api_version}/namespaces/{namespace}/{self.plural}"
        return f"{base}/{name}" if name else base


KINDS = {
    ("core.spinkube.dev/v1alpha1", "SpinApp"): Resource("core.spinkube.dev/v1alpha1", "spinapps"),
    ("autoscaling/v2", "HorizontalPodAutoscaler"): Resource(
        "autoscaling/v2", "horizontalpodautoscalers"
    ),
}
# What a workspace's namespace is made of (infra_service.tenancy), besides its apps.
NAMESPACE = Resource("v1", "namespaces", namespaced=False)
TENANT_KINDS = {
    ("v1", "Namespace"): NAMESPACE,
    ("v1", "ResourceQuota"): Resource("v1", "resourcequotas"),
    ("v1", "LimitRange"): Resource("v1", "limitranges"),
    ("networking.k8s.io/v1", "NetworkPolicy"): Resource("networking.k8s.io/v1", "networkpolicies"),
    ("core.spinkube.dev/v1alpha1", "SpinAppExecutor"): Resource(
        "core.spinkube.dev/v1alpha1", "spinappexecutors"
    ),
    ("rbac.authorization.k8s.io/v1", "RoleBinding"): Resource(
        "rbac.authorization.k8s.io/v1", "rolebindings"
    ),
}
EVENTS = Resource("v1", "events")
PODS = Resource("v1", "pods")
# The label SpinKube's operator puts on an app's Deployment and pods.
APP_NAME_LABEL = "core.spinkube.dev/app-name"


def connect(*, kubeconfig: str | None, context: str | None, timeout: float) -> "Kube":
    """A client from the kubeconfig, or the pod's service account; else DEPLOY_NOT_CONFIGURED."""
    configuration = client.Configuration()
    try:
        if kubeconfig:
            path = kubeconfig.split(os.pathsep)[0]
            if not Path(path).is_file():
                raise JobFailure("DEPLOY_NOT_CONFIGURED", f"{NOT_CONFIGURED} (no file {path})")
            config.load_kube_config(
                config_file=path, context=context, client_configuration=configuration
            )
        elif os.environ.get("KUBERNETES_SERVICE_HOST"):
            config.load_incluster_config(client_configuration=configuration)
        else:
            raise JobFailure("DEPLOY_NOT_CONFIGURED", NOT_CONFIGURED)
    except ConfigException as exc:
        raise JobFailure("DEPLOY_NOT_CONFIGURED", f"{NOT_CONFIGURED} ({exc})") from exc
    configuration.retries = 1
    return Kube(client.ApiClient(configuration), timeout=timeout)


class Kube:
    def __init__(self, api: client.ApiClient, *, timeout: float) -> None:
        self._api = api
        self._timeout = timeout
        self.host = api.configuration.host

    def close(self) -> None:
        self._api.close()

    def apply(
        self,
        resource: Resource,
        namespace: str,
        body: dict[str, Any],
        *,
        field_manager: str,
        forbidden_grace: float = 0.0,
    ) -> dict[str, Any]:
        """Server-side apply (create or update), taking over conflicting fields.

        A 403 is retried for `forbidden_grace` seconds: the RoleBinding that grants the right
        may have been applied a moment ago, and the API server's authorizer sees it late.
        """
        deadline = time.monotonic() + forbidden_grace
        while True:
            try:
                applied: dict[str, Any] = self._call(
                    "PATCH",
                    resource.path(namespace, body["metadata"]["name"]),
                    query=[("fieldManager", field_manager), ("force", "true")],
                    body=body,
                    content_type="application/apply-patch+yaml",
                )
                return applied
            except JobFailure as failure:
                if failure.status != 403 or time.monotonic() + 0.25 > deadline:
                    raise
                time.sleep(0.25)

    def get(self, resource: Resource, namespace: str, name: str) -> dict[str, Any]:
        found: dict[str, Any] = self._call("GET", resource.path(namespace, name))
        return found

    def find(self, resource: Resource, namespace: str, name: str) -> dict[str, Any] | None:
        """The object, or None when there is none."""
        found: dict[str, Any] | None = self._call(
            "GET", resource.path(namespace, name), missing_ok=True
        )
        return found

    def delete(self, resource: Resource, namespace: str, name: str) -> bool:
        """Delete the object (its dependents by garbage collection); whether it existed."""
        answer = self._call(
            "DELETE",
            resource.path(namespace, name),
            query=[("propagationPolicy", "Background")],
            missing_ok=True,
        )
        return answer is not None

    def events(self, namespace: str) -> list[dict[str, Any]]:
        listed = self._call("GET", EVENTS.path(namespace), query=[("limit", "500")])
        items: list[dict[str, Any]] = listed.get("items", [])
        return items

    def app_pods(self, namespace: str, app_name: str) -> list[dict[str, Any]]:
        """The pods SpinKube runs for an app (by its app-name label)."""
        query = [("labelSelector", f"{APP_NAME_LABEL}={app_name}"), ("limit", "100")]
        items: list[dict[str, Any]] = self._call("GET", PODS.path(namespace), query=query).get(
            "items", []
        )
        return items

    def pod_log(
        self, namespace: str, pod: str, *, container: str, query: list[tuple[str, str]]
    ) -> str:
        """A container's log as text (timestamps, sinceTime, tailLines… in `query`)."""
        path = PODS.path(namespace, pod) + "/log"
        try:
            response = self._api.call_api(
                path,
                "GET",
                query_params=[("container", container), *query],
                header_params={"Accept": "text/plain"},
                auth_settings=["BearerToken"],
                _return_http_data_only=True,
                _preload_content=False,
                _request_timeout=self._timeout,
            )
        except ApiException as exc:
            raise api_failure(exc, method="GET", path=path) from exc
        except (Urllib3Error, OSError) as exc:
            raise self._unreachable(exc) from exc
        data: bytes = response.data
        return data.decode("utf-8", errors="replace")

    def _call(
        self,
        method: str,
        path: str,
        *,
        query: list[tuple[str, str]] | None = None,
        body: dict[str, Any] | None = None,
        content_type: str = "application/json",
        missing_ok: bool = False,
    ) -> Any:
        try:
            data, _, _ = self._api.call_api(
                path,
                method,
                query_params=query or [],
                header_params={"Accept": "application/json", "Content-Type": content_type},
                body=body,
                response_type="object",
                auth_settings=["BearerToken"],
                _return_http_data_only=False,
                _preload_content=True,
                _request_timeout=self._timeout,
            )
        except ApiException as exc:
            if missing_ok and exc.status == 404:
                return None
            raise api_failure(exc, method=method, path=path) from exc
        except (Urllib3Error, OSError) as exc:
            raise self._unreachable(exc) from exc
        return data or {}

    def _unreachable(self, exc: Exception) -> JobFailure:
        return JobFailure(
            "DEPLOY_UNAVAILABLE",
            f"The Kubernetes API at {self.host} is unreachable ({type(exc).__name__}).",
        )


def api_failure(exc: ApiException, *, method: str, path: str) -> JobFailure:
    """The API server's own message (a Status object), with a hint for the usual causes."""
    message = exc.reason or ""
    with contextlib.suppress(ValueError):
        message = json.loads(exc.body or "{}").get("message") or message
    if exc.status == 404 and "/core.spinkube.dev/" in path and method == "PATCH":
        message += " (is the SpinApp CRD of SpinKube installed in the cluster?)"
    if exc.status in (401, 403):
        message += " (check the service account's RBAC: manifests/infra-service/rbac.yaml)"
    return JobFailure(
        "DEPLOY_FAILED",
        f"Kubernetes refused {method} {path}: {exc.status} {message}",
        status=exc.status,
    )
