"""A workspace's namespace where its functions run: removed with the workspace.

The deploy service makes the namespace on the workspace's first deploy; the backend asks it
to delete the namespace (`DELETE /v1/namespaces/{namespace}`, docs/contract.md) before it
deletes the workspace, so that no function of a deleted workspace keeps running. The
namespace's name is built in app.storage.keys, and only there.
"""

import logging

import httpx
from pydantic import ValidationError

from app.config import Settings
from app.errors import ServiceUnavailable
from app.storage import keys
from contract.runtime import NamespaceDeleteResult

log = logging.getLogger(__name__)


class NamespaceUnavailable(ServiceUnavailable):
    code = "INFRA_UNAVAILABLE"


class NamespaceClient:
    """Bearer-authenticated namespace calls of the deploy service over the shared client."""

    def __init__(self, *, http: httpx.AsyncClient, settings: Settings) -> None:
        self._http = http
        self._base_url = settings.deploy_service_url.rstrip("/")
        self._prefix = settings.deploy_namespace_prefix
        self._headers = {
            "Authorization": f"Bearer {settings.infra_service_token.get_secret_value()}"
        }

    def namespace_of(self, workspace_id: str) -> str:
        return keys.workspace_namespace(workspace_id, self._prefix)

    async def delete(self, *, namespace: str) -> bool:
        """Delete the namespace and every app in it; whether there was one (idempotent).

        NamespaceUnavailable when the service cannot do it now (unreachable, 5xx, no cluster).
        """
        url = f"{self._base_url}/v1/namespaces/{namespace}"
        try:
            response = await self._http.delete(url, headers=self._headers)
        except httpx.HTTPError as exc:
            raise _unavailable(f"{type(exc).__name__}") from exc
        if response.status_code == 409:  # a namespace of that name the platform did not make
            log.warning("namespace %s is not the platform's; left alone", namespace)
            return False
        if response.status_code != 200:
            raise _unavailable(f"HTTP {response.status_code}")
        try:
            return NamespaceDeleteResult.model_validate_json(response.content).deleted
        except ValidationError as exc:
            raise _unavailable("an unreadable answer") from exc


def _unavailable(reason: str) -> NamespaceUnavailable:
    log.warning("the deploy service could not delete a namespace: %s", reason)
    return NamespaceUnavailable(
        "The deploy service cannot remove the workspace's functions right now; the workspace "
        "is kept. Retry shortly.",
        headers={"Retry-After": "5"},
    )


async def remove_workspace_namespace(*, namespaces: NamespaceClient, workspace_id: str) -> None:
    """Stop and remove everything the workspace runs (before its records go)."""
    namespace = namespaces.namespace_of(workspace_id)
    deleted = await namespaces.delete(namespace=namespace)
    log.info("workspace %s: namespace %s %s", workspace_id, namespace,
             "deleted" if deleted else "was not there")  # fmt: skip
