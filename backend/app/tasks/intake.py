"""From an uploaded form file to a checked `SourceFile` on local disk, or a clear 4xx.

The multipart parser has already spooled the part (1 MiB in memory, then disk). Here it is copied
once into a private temporary file while its size is bounded and its sha256 computed, then
checked (app.uploads.validation) in a worker thread so the event loop never blocks. The caller
deletes the file when done (`discard`).
"""

import asyncio
import hashlib
import tempfile
from pathlib import Path

from fastapi import UploadFile

from app.config import Settings
from app.errors import PayloadTooLarge, Unprocessable
from app.tasks.service import SourceFile
from app.uploads import validation

COPY_CHUNK = 1024 * 1024


def _limit_error(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(
        f"The upload is larger than the limit of {limit} bytes ({limit // (1024 * 1024)} MiB)",
        code="PAYLOAD_TOO_LARGE",
        limit_bytes=limit,
    )


def _spool_and_check(
    upload: UploadFile, filename: str, kind: str, settings: Settings
) -> SourceFile:
    limit = settings.max_upload_bytes
    digest = hashlib.sha256()
    size = 0
    # Kept after closing (delete=False): the S3 upload reads it again; `discard` removes it.
    handle = tempfile.NamedTemporaryFile(  # noqa: SIM115 - closed by the `with` below
        prefix="upload-", suffix=f".{kind}", delete=False
    )
    path = Path(handle.name)
    try:
        with handle:
            upload.file.seek(0)
            while chunk := upload.file.read(COPY_CHUNK):
                size += len(chunk)
                if size > limit:
                    raise _limit_error(limit)
                digest.update(chunk)
                handle.write(chunk)
        if size == 0:
            raise Unprocessable("The uploaded file is empty", code="EMPTY_FILE")
        if kind == "zip":
            validation.check_zip(
                path,
                max_entries=settings.max_archive_entries,
                max_uncompressed_bytes=settings.max_archive_uncompressed_bytes,
            )
        else:
            validation.check_python_source(path)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return SourceFile(path=path, filename=filename, size=size, sha256=digest.hexdigest())


async def receive_source(upload: UploadFile, settings: Settings) -> SourceFile:
    """Check the upload's name, size and content; a refused upload leaves no file behind."""
    filename = validation.sanitise_filename(upload.filename)
    kind = validation.source_kind(upload.filename or "")
    if upload.size is not None and upload.size > settings.max_upload_bytes:
        raise _limit_error(settings.max_upload_bytes)
    return await asyncio.to_thread(_spool_and_check, upload, filename, kind, settings)


def discard(source: SourceFile) -> None:
    """Remove the local copy of an upload."""
    source.path.unlink(missing_ok=True)
