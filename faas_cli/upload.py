"""Upload a bundle as multipart form data, streamed from disk, with a progress bar."""

import uuid
from io import BufferedReader
from typing import Any

from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from faas_cli.bundle import Bundle
from faas_cli.client import UPLOAD_TIMEOUT, ApiClient
from faas_cli.output import Output


class _ProgressReader:
    """A file whose reads advance a progress bar (httpx reads it in chunks while sending)."""

    def __init__(self, file: BufferedReader, progress: Progress, task: TaskID) -> None:
        self._file = file
        self._progress = progress
        self._task = task

    def read(self, size: int = -1) -> bytes:
        chunk = self._file.read(size)
        self._progress.advance(self._task, len(chunk))
        return chunk

    def seek(self, offset: int, whence: int = 0) -> int:
        position = self._file.seek(offset, whence)
        self._progress.update(self._task, completed=position)  # a retry starts again
        return position

    def tell(self) -> int:
        return self._file.tell()

    def fileno(self) -> int:
        return self._file.fileno()


def upload(
    api: ApiClient,
    out: Output,
    path: str,
    bundle: Bundle,
    *,
    data: dict[str, str] | None = None,
) -> Any:
    """POST the bundle as the `file` field (plus form `data`); the answer's JSON.

    An Idempotency-Key makes a retried upload (after a lost answer) return the same task.
    """
    content_type = "application/zip" if bundle.filename.endswith(".zip") else "text/x-python"
    headers = {"Idempotency-Key": str(uuid.uuid4())}
    columns = (
        TextColumn("uploading {task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
    )
    with (
        Progress(*columns, console=out.stderr, disable=not out.interactive, transient=True) as bar,
        bundle.path.open("rb") as file,
    ):
        task = bar.add_task(bundle.filename, total=bundle.size)
        reader = _ProgressReader(file, bar, task)
        result = api.post(
            path,
            files={"file": (bundle.filename, reader, content_type)},
            data=data or {},
            headers=headers,
            timeout=UPLOAD_TIMEOUT,
        )
    out.note(f"uploaded {bundle.filename} ({_size(bundle.size)})")
    return result


def _size(count: int) -> str:
    value = float(count)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{count} B"
