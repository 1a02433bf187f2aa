"""The push service's image call (docs/contract.md, "Deleting images"): one small client.

Only images of our own registry, in the repositories of the function's own workspace
(`{ecr_repository}/{workspace short id}/…`, app.storage.keys), are ever asked for:
`own_image` says which those are.
"""

import logging

import httpx
from pydantic import ValidationError

from app.config import Settings
from app.errors import ServiceUnavailable
from app.storage import keys
from contract.images import ImageDeletion, image_path, split_image_url

log = logging.getLogger(__name__)


class ImageClient:
    """Bearer-authenticated image deletions at the push service, over the shared client."""

    def __init__(self, *, http: httpx.AsyncClient, settings: Settings) -> None:
        self._http = http
        self._base = settings.push_service_url.rstrip("/")
        self._registry = settings.ecr_registry_url.rstrip("/")
        self._repository = settings.ecr_repository
        self._headers = {
            "Authorization": f"Bearer {settings.infra_service_token.get_secret_value()}"
        }

    def own_image(self, image_url: str | None, *, workspace_id: str) -> tuple[str, str] | None:
        """(repository, reference) of an image in our registry under the workspace's own
        repositories, else None."""
        parts = split_image_url(image_url or "")
        if parts is None:
            return None
        registry, repository, reference = parts
        prefix = keys.workspace_repository_prefix(workspace_id, self._repository)
        if registry != self._registry or not repository.startswith(prefix):
            return None
        return repository, reference

    async def delete(self, *, repository: str, reference: str) -> bool:
        """Delete an image (idempotent); whether it was there. 503 when the service fails."""
        url = self._base + image_path(repository, reference)
        try:
            response = await self._http.delete(url, headers=self._headers)
        except httpx.HTTPError as exc:
            raise ServiceUnavailable(
                "The push service could not be reached to delete the function's images; "
                "retry the delete",
                code="INFRA_UNAVAILABLE",
            ) from exc
        if response.status_code != 200:
            log.warning(
                "image delete %s@%s answered %s", repository, reference, response.status_code
            )
            raise ServiceUnavailable(
                f"The push service refused to delete an image (HTTP {response.status_code}); "
                "retry the delete",
                code="INFRA_UNAVAILABLE",
            )
        try:
            return ImageDeletion.model_validate_json(response.content).deleted
        except ValidationError as exc:
            raise ServiceUnavailable(
                "The push service answered an image delete unreadably", code="INFRA_UNAVAILABLE"
            ) from exc
