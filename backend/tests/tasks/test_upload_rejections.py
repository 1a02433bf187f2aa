"""Refused uploads: a clear 4xx problem+json, and nothing in S3, DynamoDB or the temp folder."""

import io
import stat
import tempfile
import zipfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import boto3
import httpx
import pytest

from app.config import Settings
from tests.conftest import create_workspace, with_overrides
from tests.tasks.conftest import running_backend

HELLO = b"from spin_sdk import http\n\nclass IncomingHandler(http.IncomingHandler):\n    pass\n"


def _zip(entries: dict[str, bytes], *, symlink: str | None = None) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
        if symlink:
            info = zipfile.ZipInfo(symlink)
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            archive.writestr(info, "/etc/passwd")
    return buffer.getvalue()


def _bomb() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("app.py", HELLO)
        with archive.open("padding.bin", "w") as entry:
            chunk = b"\0" * (1024 * 1024)
            for _ in range(64):
                entry.write(chunk)
    return buffer.getvalue()


@pytest.fixture
def small_limits(settings: Settings) -> Settings:
    return with_overrides(
        settings,
        **{
            "max_upload_bytes": 256 * 1024,
            "max_archive_entries": 20,
            "max_archive_uncompressed_bytes": 8 * 1024 * 1024,
        },
    )


@pytest.fixture
async def limited_client(small_limits: Settings) -> AsyncIterator[httpx.AsyncClient]:
    async with running_backend(small_limits) as http:
        yield http


@pytest.fixture
def private_tmp(tmp_path: Path) -> Iterator[Path]:
    folder = tmp_path / "spool"
    folder.mkdir()
    previous = tempfile.tempdir
    tempfile.tempdir = str(folder)
    try:
        yield folder
    finally:
        tempfile.tempdir = previous


def _stored(settings: Settings) -> tuple[list[str], list[str]]:
    """Task-like items in the table and objects in the bucket."""
    session = boto3.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1"
    )
    table = session.client("dynamodb", endpoint_url=settings.dynamodb_endpoint)
    items = table.scan(TableName=settings.dynamodb_table)["Items"]
    keys = [item["SK"]["S"] for item in items if item["SK"]["S"].startswith(("BUILD#", "IDEM#"))]
    s3 = session.client("s3", endpoint_url=settings.aws_endpoint_url)
    objects = s3.list_objects_v2(Bucket=settings.s3_bucket).get("Contents", [])
    return keys, [obj["Key"] for obj in objects]


CASES = [
    ("app.exe", HELLO, 415, "UNSUPPORTED_FILE_TYPE"),
    ("app.py.exe", HELLO, 415, "UNSUPPORTED_FILE_TYPE"),
    ("app.py", b"", 422, "EMPTY_FILE"),
    ("app.py", "x = 'é'\n".encode("latin-1"), 400, "INVALID_SOURCE"),
    ("app.zip", b"this is not a zip", 400, "INVALID_ARCHIVE"),
    ("app.zip", _zip({"app.py": HELLO, "../x": b"evil"}), 400, "UNSAFE_ARCHIVE_PATH"),
    ("app.zip", _zip({"app.py": HELLO, "/etc/cron.d/x": b"evil"}), 400, "UNSAFE_ARCHIVE_PATH"),
    ("app.zip", _zip({"app.py": HELLO}, symlink="link"), 400, "UNSAFE_ARCHIVE_ENTRY"),
    ("app.zip", _bomb(), 400, "ARCHIVE_TOO_LARGE"),
    ("app.zip", _zip({f"m{i}.py": b"x = 1\n" for i in range(30)} | {"app.py": HELLO}), 400,
     "ARCHIVE_TOO_LARGE"),
    ("app.zip", _zip({"helper.py": b"x = 1\n"}), 400, "MISSING_APP_PY"),
    ("app.zip", _zip({"app.py": HELLO})[:-30], 400, "INVALID_ARCHIVE"),
]  # fmt: skip


@pytest.mark.parametrize(("filename", "content", "status", "code"), CASES)
async def test_bad_upload_is_refused_and_nothing_is_written(
    limited_client: httpx.AsyncClient,
    small_limits: Settings,
    private_tmp: Path,
    filename: str,
    content: bytes,
    status: int,
    code: str,
) -> None:
    workspace = await create_workspace(limited_client)
    response = await limited_client.post(
        "/api/v1/build",
        data={"workspace_id": workspace["id"], "app_name": "hello"},
        files={"file": (filename, content)},
    )
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == code
    assert response.json()["detail"]
    assert _stored(small_limits) == ([], [])
    assert list(private_tmp.iterdir()) == []


async def test_upload_over_the_limit_is_413_naming_the_limit(
    limited_client: httpx.AsyncClient, small_limits: Settings, private_tmp: Path
) -> None:
    workspace = await create_workspace(limited_client)
    big = b"# padding\n" * 40_000  # 400 KB > 256 KiB
    response = await limited_client.post(
        "/api/v1/build",
        data={"workspace_id": workspace["id"], "app_name": "hello"},
        files={"file": ("app.py", big)},
    )
    assert response.status_code == 413
    assert response.json()["code"] == "PAYLOAD_TOO_LARGE"
    assert str(256 * 1024) in response.json()["detail"]
    assert _stored(small_limits) == ([], [])
    assert list(private_tmp.iterdir()) == []


async def test_chunked_upload_over_the_limit_is_cut_off_with_413(
    limited_client: httpx.AsyncClient, small_limits: Settings
) -> None:
    workspace = await create_workspace(limited_client)
    boundary = "x-boundary"
    sent = 0

    async def body() -> AsyncIterator[bytes]:
        nonlocal sent
        head = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="workspace_id"\r\n\r\n'
            f"{workspace['id']}\r\n--{boundary}\r\nContent-Disposition: form-data; "
            f'name="app_name"\r\n\r\nhello\r\n--{boundary}\r\nContent-Disposition: form-data; '
            f'name="file"; filename="app.py"\r\n\r\n'
        ).encode()
        yield head
        for _ in range(200):  # up to 12.8 MB, far past the limit: must stop early
            sent += 64 * 1024
            yield b"#" * (64 * 1024)
        yield f"\r\n--{boundary}--\r\n".encode()

    response = await limited_client.post(
        "/api/v1/build",
        content=body(),
        headers={"content-type": f"multipart/form-data; boundary={boundary}"},
    )
    assert response.status_code == 413
    assert response.json()["code"] == "PAYLOAD_TOO_LARGE"
    assert sent < 1024 * 1024  # refused while arriving, not after reading 12.8 MB
    assert _stored(small_limits) == ([], [])


@pytest.mark.parametrize("missing", ["file", "workspace_id", "app_name"])
async def test_missing_form_field_is_422_naming_it(
    client: httpx.AsyncClient, settings: Settings, missing: str
) -> None:
    workspace = await create_workspace(client)
    data = {"workspace_id": workspace["id"], "app_name": "hello"}
    files = {"file": ("app.py", HELLO)}
    if missing == "file":
        files = {}
    else:
        data.pop(missing)
    response = await client.post("/api/v1/build", data=data, files=files or None)
    assert response.status_code == 422
    assert response.json()["code"] == "VALIDATION_ERROR"
    assert missing in {error["field"] for error in response.json()["errors"]}
    assert _stored(settings) == ([], [])


async def test_unknown_workspace_or_function_is_404_and_nothing_is_stored(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    response = await client.post(
        "/api/v1/build",
        data={"workspace_id": "01hzzzzzzzzzzzzzzzzzzzzzzz", "app_name": "hello"},
        files={"file": ("app.py", HELLO)},
    )
    assert response.status_code == 404
    assert response.json()["code"] == "WORKSPACE_NOT_FOUND"
    workspace = await create_workspace(client)
    response = await client.post(
        "/api/v1/build",
        data={
            "workspace_id": workspace["id"],
            "app_name": "hello",
            "function_id": "01hzzzzzzzzzzzzzzzzzzzzzzz",
        },
        files={"file": ("app.py", HELLO)},
    )
    assert response.status_code == 404
    assert response.json()["code"] == "FUNCTION_NOT_FOUND"
    assert _stored(settings) == ([], [])
