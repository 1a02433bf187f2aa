"""S3 access: streamed uploads (multipart, bounded memory), reads and prefix deletes.

Object keys and s3:// paths are built in app.storage.keys.
"""

import asyncio
from asyncio import FIRST_COMPLETED
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

PART_SIZE = 8 * 1024 * 1024  # S3 wants ≥ 5 MiB for every part but the last
PARTS_IN_FLIGHT = 1


class ObjectStore:
    def __init__(self, *, client: Any, bucket: str) -> None:
        self._client = client
        self.bucket = bucket

    async def put_stream(
        self, *, key: str, chunks: AsyncIterator[bytes], content_type: str
    ) -> None:
        """Upload from an async byte stream, at most PARTS_IN_FLIGHT parts (+1 filling) in memory.

        Small objects take one PutObject; larger ones a multipart upload whose parts go out
        while the next one fills. If the stream raises (a limit passed, the client went away),
        the upload is aborted and nothing is left in the bucket.
        """
        buffer = bytearray()
        upload_id: str | None = None
        etags: dict[int, str] = {}
        in_flight: set[asyncio.Task[None]] = set()
        numbers = iter(range(1, 10_001))  # S3 allows part numbers 1..10,000

        async def send(number: int, body: bytes) -> None:
            answer = await self._client.upload_part(
                Bucket=self.bucket, Key=key, UploadId=upload_id, PartNumber=number, Body=body
            )
            etags[number] = answer["ETag"]

        async def queue(body: bytes) -> None:
            nonlocal in_flight
            if len(in_flight) >= PARTS_IN_FLIGHT:
                done, in_flight = await asyncio.wait(in_flight, return_when=FIRST_COMPLETED)
                for finished in done:
                    finished.result()  # an S3 error stops the upload here
            in_flight.add(asyncio.create_task(send(next(numbers), body)))

        try:
            async for chunk in chunks:
                buffer.extend(chunk)
                while len(buffer) >= PART_SIZE:
                    if upload_id is None:
                        created = await self._client.create_multipart_upload(
                            Bucket=self.bucket, Key=key, ContentType=content_type
                        )
                        upload_id = created["UploadId"]
                    await queue(bytes(buffer[:PART_SIZE]))
                    del buffer[:PART_SIZE]
            if upload_id is None:
                await self._client.put_object(
                    Bucket=self.bucket, Key=key, Body=bytes(buffer), ContentType=content_type
                )
                return
            if buffer:
                await queue(bytes(buffer))
            if in_flight:
                for finished in await asyncio.gather(*in_flight, return_exceptions=True):
                    if isinstance(finished, BaseException):
                        raise finished
            parts = [{"PartNumber": n, "ETag": etags[n]} for n in sorted(etags)]
            await self._client.complete_multipart_upload(
                Bucket=self.bucket, Key=key, UploadId=upload_id, MultipartUpload={"Parts": parts}
            )
        except BaseException:
            for pending in in_flight:
                pending.cancel()
            if upload_id is not None:
                await self._client.abort_multipart_upload(
                    Bucket=self.bucket, Key=key, UploadId=upload_id
                )
            raise

    async def read_text(self, *, key: str, max_bytes: int = 1024 * 1024) -> str | None:
        """The last `max_bytes` of a text object, or None when it does not exist."""
        try:
            head = await self._client.head_object(Bucket=self.bucket, Key=key)
        except self._client.exceptions.ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in {"404", "NoSuchKey", "NotFound"}:
                return None
            raise
        size = int(head["ContentLength"])
        request: dict[str, Any] = {"Bucket": self.bucket, "Key": key}
        if size > max_bytes:
            request["Range"] = f"bytes={size - max_bytes}-"
        response = await self._client.get_object(**request)
        async with response["Body"] as body:
            data: bytes = await body.read()
        return data.decode("utf-8", errors="replace")

    async def put_text(self, *, key: str, text: str, content_type: str = "text/plain") -> None:
        await self._client.put_object(
            Bucket=self.bucket, Key=key, Body=text.encode(), ContentType=content_type
        )

    async def exists(self, *, key: str) -> bool:
        response = await self._client.list_objects_v2(Bucket=self.bucket, Prefix=key, MaxKeys=1)
        return any(obj["Key"] == key for obj in response.get("Contents", []))

    async def delete_prefix(self, *, prefix: str) -> int:
        """Delete every object under `prefix`; returns how many."""
        deleted = 0
        paginator = self._client.get_paginator("list_objects_v2")
        async for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
            objects = [{"Key": obj["Key"]} for obj in page.get("Contents", [])]
            if objects:
                await self._client.delete_objects(
                    Bucket=self.bucket, Delete={"Objects": objects, "Quiet": True}
                )
                deleted += len(objects)
        return deleted

    async def list_objects(self, *, prefix: str) -> AsyncIterator[tuple[str, datetime]]:
        """(key, last modified) of every object under `prefix`, page by page."""
        paginator = self._client.get_paginator("list_objects_v2")
        async for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
            for obj in page.get("Contents", []):
                yield obj["Key"], obj["LastModified"]

    async def list_incomplete_uploads(
        self, *, prefix: str
    ) -> AsyncIterator[tuple[str, str, datetime]]:
        """(key, upload id, initiated) of every multipart upload under `prefix` not completed."""
        paginator = self._client.get_paginator("list_multipart_uploads")
        async for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
            for upload in page.get("Uploads", []):
                yield upload["Key"], upload["UploadId"], upload["Initiated"]

    async def last_part_uploaded(self, *, key: str, upload_id: str) -> datetime | None:
        """When the newest part of an unfinished upload arrived (None: no part yet)."""
        latest: datetime | None = None
        paginator = self._client.get_paginator("list_parts")
        async for page in paginator.paginate(Bucket=self.bucket, Key=key, UploadId=upload_id):
            for part in page.get("Parts", []):
                if latest is None or part["LastModified"] > latest:
                    latest = part["LastModified"]
        return latest

    async def abort_upload(self, *, key: str, upload_id: str) -> None:
        """Abort a multipart upload, dropping its parts (gone already: nothing to do)."""
        try:
            await self._client.abort_multipart_upload(
                Bucket=self.bucket, Key=key, UploadId=upload_id
            )
        except self._client.exceptions.ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "NoSuchUpload":
                raise

    async def delete_keys(self, *, keys: list[str]) -> None:
        """Delete these objects (at most 1000 per request, as S3 allows)."""
        for start in range(0, len(keys), 1000):
            batch = [{"Key": key} for key in keys[start : start + 1000]]
            await self._client.delete_objects(
                Bucket=self.bucket, Delete={"Objects": batch, "Quiet": True}
            )

    async def ping(self) -> None:
        await self._client.head_bucket(Bucket=self.bucket)
