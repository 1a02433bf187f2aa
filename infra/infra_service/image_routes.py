"""The push service's image call (docs/contract.md, "Deleting images"): thin, as the others."""

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request

from contract.images import REFERENCE_PATTERN, REPOSITORY_PATTERN, ImageDeletion
from infra_service.auth import Authenticated
from infra_service.images import ImageRemover


def image_remover(request: Request) -> ImageRemover:
    remover: ImageRemover = request.app.state.images
    return remover


images = APIRouter(prefix="/v1/images", tags=["images"], dependencies=[Authenticated])


# `{repository:path}`: a repository name may hold slashes; the reference is the last segment.
@images.delete("/{repository:path}/{reference}", summary="Delete an image (idempotent)")
async def delete_image(
    repository: Annotated[str, Path(max_length=255, pattern=REPOSITORY_PATTERN)],
    reference: Annotated[str, Path(max_length=128, pattern=REFERENCE_PATTERN)],
    remover: Annotated[ImageRemover, Depends(image_remover)],
) -> ImageDeletion:
    return await remover.delete(repository=repository, reference=reference)


routers = [images]
