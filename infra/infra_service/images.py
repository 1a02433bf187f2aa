"""Deleting images from the registry pushes go to (docs/contract.md, "Deleting images").

ECR: `BatchDeleteImage` (by digest or tag; ECR untags and removes the image). Any other OCI
registry: the distribution API's manifest DELETE (by digest; a tag is resolved first). Either
way idempotent: an image that is not there answers `deleted: false`.
"""

import logging
from typing import Any

import httpx

from contract.images import ImageDeletion
from infra_service.config import Settings
from infra_service.errors import DependencyFailed
from infra_service.oci import RegistryAuth, RegistryClient, RegistryError
from infra_service.push import CredentialSource

log = logging.getLogger(__name__)


class ImageRemover:
    def __init__(
        self,
        *,
        settings: Settings,
        http: httpx.AsyncClient,
        credentials: CredentialSource,
        ecr: Any | None,
    ) -> None:
        self._settings = settings
        self._http = http
        self._credentials = credentials
        self._ecr = ecr

    async def delete(self, *, repository: str, reference: str) -> ImageDeletion:
        """Delete `repository@reference` (a digest or a tag)."""
        if self._ecr is not None:
            deleted = await self._delete_in_ecr(repository, reference)
        else:
            deleted = await self._delete_in_registry(repository, reference)
        log.info("image %s@%s: %s", repository, reference, "deleted" if deleted else "not there")
        return ImageDeletion(repository=repository, reference=reference, deleted=deleted)

    async def _delete_in_registry(self, repository: str, reference: str) -> bool:
        registry = RegistryClient(
            http=self._http,
            base_url=self._settings.registry_base_url,
            auth=RegistryAuth(await self._credentials()),
            chunk_bytes=self._settings.push_chunk_bytes,
            failure_code="REGISTRY_UNAVAILABLE",
        )
        try:
            return await registry.delete_manifest(repository, reference)
        except RegistryError as exc:
            status = 503 if exc.code == "REGISTRY_UNAVAILABLE" else 502
            raise DependencyFailed(exc.code, exc.message, status=status) from exc

    async def _delete_in_ecr(self, repository: str, reference: str) -> bool:
        key = "imageDigest" if reference.startswith("sha256:") else "imageTag"
        assert self._ecr is not None
        try:
            answer = await self._ecr.batch_delete_image(
                repositoryName=repository, imageIds=[{key: reference}]
            )
        except Exception as exc:  # botocore errors: translated, never shown raw
            code = getattr(exc, "response", {}).get("Error", {}).get("Code", "")
            if code == "RepositoryNotFoundException":
                return False
            raise DependencyFailed(
                "REGISTRY_UNAVAILABLE", "ECR BatchDeleteImage failed; check the IAM permissions."
            ) from exc
        failures = [
            f for f in answer.get("failures", []) if f.get("failureCode") != "ImageNotFound"
        ]
        if failures:
            raise DependencyFailed(
                "REGISTRY_UNAVAILABLE",
                f"ECR refused to delete {repository}@{reference}: {failures[0].get('failureCode')}",
                status=502,
            )
        return bool(answer.get("imageIds"))
