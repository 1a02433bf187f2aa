"""From an uploaded form file to a checked, hashed `SourceFile`, or a clear 4xx.

The multipart parser has already spooled the part (1 MiB in memory, then a temporary file that
Starlette removes after the request). Here its size is bounded, its content checked
(app.uploads.validation) and its sha256 taken, in a worker thread so the event loop never
blocks. The digest is known before anything is stored: an earlier use of the request's
Idempotency-Key is recognised before the source goes to S3.
"""

import asyncio
import hashlib
import os
from dataclasses import dataclass
from typing import BinaryIO

from fastapi import UploadFile

from app.config import Settings
from app.errors import PayloadTooLarge, Unprocessable
from app.uploads import validation

_CHUNK = 1024 * 1024


@dataclass(frozen=True)
class SourceFile:
    """An uploaded source, checked, still in the request's spooled file."""

    file: BinaryIO
    filename: str
    size: int
    sha256: str

    @property
    def content_type(self) -> str:
        return "application/zip" if self.filename.endswith(".zip") else "text/x-python"


def _limit_error(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(
        f"The upload is larger than the limit of {limit} bytes ({limit // (1024 * 1024)} MiB)",
        code="PAYLOAD_TOO_LARGE",
        limit_bytes=limit,
    )


def _check(upload: UploadFile, filename: str, kind: str, settings: Settings) -> SourceFile:
    handle = upload.file
    size = handle.seek(0, os.SEEK_END)
    handle.seek(0)
    if size > settings.max_upload_bytes:
        raise _limit_error(settings.max_upload_bytes)
    if size == 0:
        raise Unprocessable("The uploaded file is empty", code="EMPTY_FILE")
    if kind == "zip":
        validation.check_zip(
            handle,
            max_entries=settings.max_archive_entries,
            max_uncompressed_bytes=settings.max_archive_uncompressed_bytes,
        )
    else:
        validation.check_python_source(handle)
    digest = hashlib.sha256()
    handle.seek(0)
    while chunk := handle.read(_CHUNK):
        digest.update(chunk)
    handle.seek(0)
    return SourceFile(file=handle, filename=filename, size=size, sha256=digest.hexdigest())


async def receive_source(upload: UploadFile, settings: Settings) -> SourceFile:
    """Check the upload's name, size and content; a refused upload is never stored."""
    filename = validation.sanitise_filename(upload.filename)
    kind = validation.source_kind(upload.filename or "")
    if upload.size is not None and upload.size > settings.max_upload_bytes:
        raise _limit_error(settings.max_upload_bytes)
    return await asyncio.to_thread(_check, upload, filename, kind, settings)
