"""A source of several S3 parts: streamed (multipart, parts in flight), stored byte for byte."""

import hashlib
import io
import os
import zipfile

import boto3
import httpx

from app.config import Settings
from tests.conftest import create_workspace
from tests.tasks.conftest import HELLO


async def test_a_20_mib_zip_is_stored_whole_with_its_sha256(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr("app.py", HELLO)
        archive.writestr("data.bin", os.urandom(20 * 1024 * 1024))
    payload = buffer.getvalue()
    workspace = await create_workspace(client)

    response = await client.post(
        "/api/v1/build",
        data={"workspace_id": workspace["id"], "app_name": "big"},
        files={"file": ("big.zip", payload)},
    )

    assert response.status_code == 202, response.text
    result = response.json()["result"]
    assert result["source_sha256"] == hashlib.sha256(payload).hexdigest()
    bucket, key = result["source_code_path"].removeprefix("s3://").split("/", 1)
    stored = (
        boto3.client(
            "s3",
            endpoint_url=settings.aws_endpoint_url,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        .get_object(Bucket=bucket, Key=key)["Body"]
        .read()
    )
    assert stored == payload
