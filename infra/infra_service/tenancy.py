"""A workspace's namespace on the cluster, and the labels on everything the platform creates.

Every deploy on the Kubernetes target first applies (server-side, so it is idempotent) the
namespace it targets with what a tenant needs and no more:

- the `Namespace`, labelled `app.kubernetes.io/managed-by: faas-platform` and
  `faas.dev/workspace: <id>`;
- a `ResourceQuota` (CPU, memory, pods, SpinApps) and a `LimitRange` (defaults for containers
  that name no resources) from the INFRA_TENANT_* settings;
- a default-deny `NetworkPolicy` for ingress, and one that admits the gateway: pods of the
  platform's namespace (the backend's invoke proxy) on the apps' port;
- the `SpinAppExecutor` the SpinApps name (SpinKube resolves executors per namespace);
- a `RoleBinding` of the ClusterRole `faas-infra-service-tenant` to this service's account:
  its rights on apps hold in the namespaces it made, and nowhere else.

A namespace that exists without the managed-by label is somebody else's: nothing is applied
to it and nothing in it is deleted (docs/deploying.md, "Tenancy"). The RBAC in
manifests/infra-service/ enforces the same rule on the API server's side.
"""

from typing import Any

from infra_service.config import Settings
from infra_service.jobs import JobFailure

MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
MANAGED_BY = "faas-platform"
WORKSPACE_LABEL = "faas.dev/workspace"
FUNCTION_LABEL = "faas.dev/function"
EXECUTOR = "containerd-shim-spin"


class DeletedNamespaces:
    """Namespaces deleted with their workspace: no deploy may make one again.

    Workspace ids are never reused, so a deleted workspace's namespace is never wanted again;
    a deploy job still queued when its workspace was deleted fails instead of bringing the
    namespace back. Kept for the process's life, as its queued jobs are.
    """

    def __init__(self) -> None:
        self._names: set[str] = set()

    def add(self, namespace: str) -> None:
        self._names.add(namespace)

    def refuse(self, namespace: str) -> None:
        """JobFailure NAMESPACE_DELETED when `namespace` was deleted."""
        if namespace in self._names:
            raise JobFailure(
                "NAMESPACE_DELETED",
                f"namespace {namespace} was deleted with its workspace; nothing is deployed there.",
            )


def is_managed(namespace: dict[str, Any] | None) -> bool:
    """Whether a Namespace object carries the platform's managed-by label."""
    labels = ((namespace or {}).get("metadata") or {}).get("labels") or {}
    return labels.get(MANAGED_BY_LABEL) == MANAGED_BY


def owner_labels(*, workspace_id: str | None, function: str) -> dict[str, str]:
    """The labels of an app's objects: its workspace (when known) and its function."""
    labels = {MANAGED_BY_LABEL: MANAGED_BY, FUNCTION_LABEL: function}
    if workspace_id:
        labels[WORKSPACE_LABEL] = workspace_id
    return labels


def label(documents: list[dict[str, Any]], labels: dict[str, str]) -> None:
    """Put `labels` on every document (over whatever the manifest said for the same keys)."""
    for doc in documents:
        metadata = doc.setdefault("metadata", {})
        metadata["labels"] = {**(metadata.get("labels") or {}), **labels}


def namespace_documents(
    *, namespace: str, workspace_id: str | None, settings: Settings
) -> list[dict[str, Any]]:
    """What a workspace's namespace is made of, Namespace first (the order they are applied)."""
    labels = {MANAGED_BY_LABEL: MANAGED_BY}
    if workspace_id:
        labels[WORKSPACE_LABEL] = workspace_id

    def meta(name: str) -> dict[str, Any]:
        return {"name": name, "namespace": namespace, "labels": dict(labels)}

    cpu, memory = settings.tenant_quota_cpu, settings.tenant_quota_memory
    gateway = [
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": name}}}
        for name in settings.tenant_ingress_namespaces
    ]
    binding = []
    if settings.tenant_service_account:
        binding = [
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "RoleBinding",
                "metadata": meta("faas-infra-service"),
                "roleRef": {
                    "apiGroup": "rbac.authorization.k8s.io",
                    "kind": "ClusterRole",
                    "name": settings.tenant_cluster_role,
                },
                "subjects": [
                    {
                        "kind": "ServiceAccount",
                        "name": settings.tenant_service_account,
                        "namespace": settings.tenant_service_account_namespace,
                    }
                ],
            }
        ]
    return [
        {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": namespace, "labels": labels},
        },
        *binding,
        {
            "apiVersion": "v1",
            "kind": "ResourceQuota",
            "metadata": meta("faas-quota"),
            "spec": {
                "hard": {
                    "requests.cpu": cpu,
                    "limits.cpu": cpu,
                    "requests.memory": memory,
                    "limits.memory": memory,
                    "pods": str(settings.tenant_quota_pods),
                    "count/spinapps.core.spinkube.dev": str(settings.tenant_quota_apps),
                }
            },
        },
        {
            "apiVersion": "v1",
            "kind": "LimitRange",
            "metadata": meta("faas-limits"),
            "spec": {
                "limits": [
                    {
                        "type": "Container",
                        "default": {
                            "cpu": settings.tenant_default_cpu_limit,
                            "memory": settings.tenant_default_memory_limit,
                        },
                        "defaultRequest": {
                            "cpu": settings.tenant_default_cpu_request,
                            "memory": settings.tenant_default_memory_request,
                        },
                    }
                ]
            },
        },
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": meta("faas-default-deny"),
            "spec": {"podSelector": {}, "policyTypes": ["Ingress"]},
        },
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": meta("faas-allow-gateway"),
            "spec": {
                "podSelector": {},
                "policyTypes": ["Ingress"],
                "ingress": [
                    {
                        "from": gateway,
                        "ports": [{"protocol": "TCP", "port": settings.tenant_app_port}],
                    }
                ],
            },
        },
        {
            "apiVersion": "core.spinkube.dev/v1alpha1",
            "kind": "SpinAppExecutor",
            "metadata": meta(EXECUTOR),
            "spec": {
                "createDeployment": True,
                "deploymentConfig": {
                    "runtimeClassName": settings.tenant_runtime_class,
                    "installDefaultCACerts": True,
                },
            },
        },
    ]
