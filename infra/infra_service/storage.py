"""S3 access of the service: one aioboto3 client, opened by the lifespan, used through here."""

import hashlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from infra_service.errors import InvalidRequest
from infra_service.jobs import JobFailure

CHUNK = 1024 * 1024


@dataclass(frozen=True)
class S3Location:
    bucket: str
    key: str

    @property
    def url(self) -> str:
        return f"s3://{self.bucket}/{self.key}"


def parse_s3_path(path: str, *, bucket: str, field: str) -> S3Location:
    """`s3://bucket/key` in the service's own bucket; anything else is refused (422)."""
    if not path.startswith("s3://"):
        raise InvalidRequest(f"{field} must be an s3:// path, got {path[:200]!r}.")
    found_bucket, _, key = path[len("s3://") :].partition("/")
    if found_bucket != bucket:
        raise InvalidRequest(f"{field} must be in the bucket {bucket!r}, got {found_bucket!r}.")
    if not key or key.endswith("/") or any(part in ("", ".", "..") for part in key.split("/")):
        raise InvalidRequest(f"{field} has no usable object key: {path[:200]!r}.")
    return S3Location(bucket, key)


class StorageUnavailable(JobFailure):
    def __init__(self, action: str, exc: Exception) -> None:
        code = exc.response["Error"].get("Code", "") if isinstance(exc, ClientError) else ""
        detail = f" ({code})" if code else ""
        super().__init__("STORAGE_UNAVAILABLE", f"S3 failed to {action}{detail}.")


class ObjectStore:
    """Streams objects between S3 and local files; AWS errors become job failures here."""

    def __init__(self, *, client: Any, bucket: str) -> None:
        self._s3 = client
        self.bucket = bucket

    def location(self, key: str) -> S3Location:
        return S3Location(self.bucket, key)

    async def download(self, source: S3Location, dest: Path, *, max_bytes: int) -> str:
        """Copy an object to `dest`, refusing more than `max_bytes`; returns its sha256."""
        digest = hashlib.sha256()
        written = 0
        try:
            response = await self._s3.get_object(Bucket=source.bucket, Key=source.key)
            body = response["Body"]
            try:
                with dest.open("wb") as out:
                    while chunk := await body.read(CHUNK):
                        written += len(chunk)
                        if written > max_bytes:
                            raise JobFailure(
                                "SOURCE_TOO_LARGE",
                                f"The source is larger than the limit of {max_bytes} bytes.",
                            )
                        digest.update(chunk)
                        out.write(chunk)
            finally:
                body.close()
        except ClientError as exc:
            if exc.response["Error"].get("Code") in ("NoSuchKey", "404", "NoSuchBucket"):
                raise JobFailure("SOURCE_NOT_FOUND", f"No object at {source.url}.") from exc
            raise StorageUnavailable(f"read {source.url}", exc) from exc
        except BotoCoreError as exc:
            raise StorageUnavailable(f"read {source.url}", exc) from exc
        return digest.hexdigest()

    async def stream(self, source: S3Location) -> AsyncIterator[bytes]:
        """The object's bytes in chunks, without holding it whole."""
        try:
            response = await self._s3.get_object(Bucket=source.bucket, Key=source.key)
            body = response["Body"]
            try:
                while chunk := await body.read(CHUNK):
                    yield chunk
            finally:
                body.close()
        except ClientError as exc:
            if exc.response["Error"].get("Code") in ("NoSuchKey", "404", "NoSuchBucket"):
                raise JobFailure("ARTIFACT_NOT_FOUND", f"No object at {source.url}.") from exc
            raise StorageUnavailable(f"read {source.url}", exc) from exc
        except BotoCoreError as exc:
            raise StorageUnavailable(f"read {source.url}", exc) from exc

    async def upload(
        self,
        path: Path,
        target: S3Location,
        *,
        content_type: str,
        metadata: dict[str, str] | None = None,
    ) -> None:
        """Upload a local file (multipart for large files, handled by the transfer manager)."""
        try:
            await self._s3.upload_file(
                str(path),
                target.bucket,
                target.key,
                ExtraArgs={"ContentType": content_type, "Metadata": metadata or {}},
            )
        except (ClientError, BotoCoreError) as exc:
            raise StorageUnavailable(f"write {target.url}", exc) from exc

    async def put_text(self, target: S3Location, text: str, *, content_type: str) -> None:
        try:
            await self._s3.put_object(
                Bucket=target.bucket, Key=target.key, Body=text.encode(), ContentType=content_type
            )
        except (ClientError, BotoCoreError) as exc:
            raise StorageUnavailable(f"write {target.url}", exc) from exc

    async def metadata(self, target: S3Location) -> dict[str, Any] | None:
        """The object's size and user metadata, or None when it does not exist."""
        try:
            head = await self._s3.head_object(Bucket=target.bucket, Key=target.key)
        except ClientError as exc:
            if exc.response["Error"].get("Code") in ("404", "NoSuchKey", "NotFound"):
                return None
            raise StorageUnavailable(f"read {target.url}", exc) from exc
        except BotoCoreError as exc:
            raise StorageUnavailable(f"read {target.url}", exc) from exc
        return {"size": head["ContentLength"], **head.get("Metadata", {})}

    async def copy(self, source: S3Location, target: S3Location) -> None:
        """Server-side copy in one request (metadata included), for cache hits."""
        try:
            await self._s3.copy_object(
                CopySource={"Bucket": source.bucket, "Key": source.key},
                Bucket=target.bucket,
                Key=target.key,
            )
        except (ClientError, BotoCoreError) as exc:
            raise StorageUnavailable(f"copy {source.url} to {target.url}", exc) from exc

    async def read_range(self, source: S3Location, *, offset: int, limit: int) -> tuple[bytes, int]:
        """At most `limit` bytes of the object from `offset`, and the object's size."""
        try:
            response = await self._s3.get_object(
                Bucket=source.bucket, Key=source.key, Range=f"bytes={offset}-{offset + limit - 1}"
            )
            body = response["Body"]
            try:
                data = await body.read()
            finally:
                body.close()
        except ClientError as exc:
            code = exc.response["Error"].get("Code")
            if code == "InvalidRange":  # offset at (or past) the end
                meta = await self.metadata(source)
                return b"", int(meta["size"]) if meta else 0
            if code in ("NoSuchKey", "404", "NoSuchBucket"):
                return b"", 0
            raise StorageUnavailable(f"read {source.url}", exc) from exc
        except BotoCoreError as exc:
            raise StorageUnavailable(f"read {source.url}", exc) from exc
        content_range = str(response.get("ContentRange") or "")
        total = content_range.rpartition("/")[2]
        return data, int(total) if total.isdigit() else offset + len(data)

    async def ping(self) -> None:
        """Fail fast at start-up when the bucket is unreachable."""
        await self._s3.head_bucket(Bucket=self.bucket)
