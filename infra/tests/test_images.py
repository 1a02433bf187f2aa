"""Image deletion on ECR (`BatchDeleteImage`), against moto's ECR."""

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest
from asgi_lifespan import LifespanManager

from conftest import AUTH, make_settings
from infra_service.main import create_app

ECR_HOST = "123456789012.dkr.ecr.us-east-1.amazonaws.com"


@pytest.fixture
def ecr(aws_endpoint: str) -> Any:
    client = boto3.client(
        "ecr",
        endpoint_url=aws_endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    client.create_repository(repositoryName="faas-functions")
    return client


@pytest.fixture
async def service(aws_endpoint: str, s3: Any, tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    settings = make_settings(aws_endpoint, tmp_path / "scratch", registry_url=ECR_HOST)
    assert settings.registry_uses_ecr
    app = create_app(settings)
    async with (
        LifespanManager(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://infra.test", headers=AUTH
        ) as http,
    ):
        yield http


def _put(ecr: Any, tag: str) -> str:
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": "sha256:"
                   + tag.encode().hex().ljust(64, "0"), "size": 2},
        "layers": [],
    }  # fmt: skip
    answer = ecr.put_image(
        repositoryName="faas-functions", imageManifest=json.dumps(manifest), imageTag=tag
    )
    digest: str = answer["image"]["imageId"]["imageDigest"]
    return digest


def _tags(ecr: Any) -> set[str]:
    images = ecr.describe_images(repositoryName="faas-functions")["imageDetails"]
    return {tag for image in images for tag in image.get("imageTags", [])}


async def test_ecr_images_are_deleted_by_digest_or_tag_and_the_delete_is_idempotent(
    service: httpx.AsyncClient, ecr: Any
) -> None:
    # One image at a time: moto gives every manifest it stores the same digest.
    first = _put(ecr, "v1")
    answer = await service.delete(f"/v1/images/faas-functions/{first}")
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"repository": "faas-functions", "reference": first, "deleted": True}
    assert _tags(ecr) == set()
    again = await service.delete(f"/v1/images/faas-functions/{first}")
    assert again.status_code == 200 and again.json()["deleted"] is False
    _put(ecr, "v2")
    by_tag = await service.delete("/v1/images/faas-functions/v2")
    assert by_tag.json()["deleted"] is True and _tags(ecr) == set()
    assert (await service.delete("/v1/images/faas-functions/v2")).json()["deleted"] is False
    elsewhere = await service.delete("/v1/images/no-such-repository/v1")
    assert elsewhere.status_code == 200 and elsewhere.json()["deleted"] is False
