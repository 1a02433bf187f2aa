"""The push service's image call of the second wave: delete an image from the registry.

docs/contract.md "Deleting images (push service)" is the prose of this model.
"""

import re
from typing import Final

from pydantic import BaseModel

# An OCI repository name (lower-case path components) and a reference: a tag or a digest.
REPOSITORY_PATTERN: Final = r"^[a-z0-9]+([._-][a-z0-9]+)*(/[a-z0-9]+([._-][a-z0-9]+)*)*$"
REFERENCE_PATTERN: Final = r"^(sha256:[a-f0-9]{64}|[A-Za-z0-9_][A-Za-z0-9._-]{0,127})$"
_REPOSITORY = re.compile(REPOSITORY_PATTERN)
_REFERENCE = re.compile(REFERENCE_PATTERN)


class ImageDeletion(BaseModel):
    """`DELETE /v1/images/{repository}/{reference}`: idempotent, `deleted` says if it was there.

    A digest removes the manifest and every tag that points at it; a tag removes what it names.
    """

    repository: str
    reference: str
    deleted: bool


def image_path(repository: str, reference: str) -> str:
    """`/v1/images/{repository}/{reference}` (the repository may hold slashes)."""
    if not _REPOSITORY.match(repository) or not _REFERENCE.match(reference):
        raise ValueError(f"not an image reference: {repository!r} {reference!r}")
    return f"/v1/images/{repository}/{reference}"


def split_image_url(image_url: str) -> tuple[str, str, str] | None:
    """`registry/repository@sha256:…` (or `registry/repository:tag`) → (registry, repository,
    reference); None when it is neither."""
    name, at, digest = image_url.partition("@")
    if at:
        reference = digest
    else:
        last_slash, colon = name.rfind("/"), name.rfind(":")
        if colon <= last_slash:
            return None
        name, reference = name[:colon], name[colon + 1 :]
    registry, slash, repository = name.partition("/")
    if not slash or not _REPOSITORY.match(repository) or not _REFERENCE.match(reference):
        return None
    return registry, repository, reference
