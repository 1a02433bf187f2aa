"""A running build's log, read from the build service from an offset (one reader per task per
replica, shared by the task's subscribers), then the stored copy when the service forgot it."""

import asyncio
import contextlib
import logging

from app.events.channels import TaskChannel
from app.storage import keys
from app.storage.objects import ObjectStore
from app.tasks.infra_client import LOG_READ_BYTES, InfraClient, InfraRejected, InfraUnavailable

log = logging.getLogger(__name__)

# What one channel keeps of a build log; a longer one is in the task's logs route and S3.
LOG_KEPT_BYTES = 2 * 1024 * 1024


def split_lines(data: bytes, *, start: int, final: bool) -> list[tuple[str, int]]:
    """Complete lines of `data` (read from byte `start`), each with the offset past it; with
    `final` the unterminated rest too. A line longer than a whole chunk comes out in pieces."""
    cut = data.rfind(b"\n") + 1
    if final or (cut == 0 and len(data) >= LOG_READ_BYTES):
        cut = len(data)
    lines: list[tuple[str, int]] = []
    position = 0
    while position < cut:
        end = data.find(b"\n", position, cut)
        stop = cut if end < 0 else end + 1
        text = data[position:stop].rstrip(b"\r\n").decode("utf-8", errors="replace")
        lines.append((text, start + stop))
        position = stop
    return lines


class LogTail:
    """Follows one channel's build log until the build has finished and all was read."""

    def __init__(
        self, *, channel: TaskChannel, infra: InfraClient, objects: ObjectStore, poll_seconds: float
    ) -> None:
        self._channel = channel
        self._infra = infra
        self._objects = objects
        self._poll = poll_seconds

    async def run(self) -> None:
        channel = self._channel
        while not channel.log_done:
            if channel.log_offset >= LOG_KEPT_BYTES:
                channel.add_log(
                    [("[the rest of the build log is in the task's logs]", channel.log_offset + 1)],
                    done=True,
                )
                return
            build = next(stage for stage in channel.task.stages if stage.name == "build")
            if build.job_id is None:
                await self._wait()
                continue
            try:
                more = await self._read(build.job_id)
            except InfraUnavailable as exc:
                log.info("build log of task %s: %s; retrying", channel.task.task_id, exc)
                if channel.task.is_terminal:  # no waiting on a service for a finished task
                    await self._stored_or_wait()
                more = False
            except InfraRejected as exc:  # a service without the log route: the stored log
                log.info("build log of task %s: %s", channel.task.task_id, exc)
                await self._stored_or_wait()
                more = False
            if not more and not channel.log_done:
                await self._wait()

    async def _read(self, job_id: str) -> bool:
        """One read from the service; True when more is there to read at once."""
        channel = self._channel
        offset = channel.log_offset
        chunk = await self._infra.build_log(job_id=job_id, offset=offset)
        if chunk is None:  # the service no longer knows the job
            await self._stored_or_wait()
            return False
        data = chunk.text.encode()
        lines = split_lines(data, start=offset, final=chunk.finished)
        channel.add_log(lines, done=chunk.finished)
        return not chunk.finished and chunk.next_offset < chunk.size and bool(lines)

    async def _stored_or_wait(self) -> None:
        """Once the build is over, what it stored is the whole log."""
        channel = self._channel
        task = channel.task
        build = next(stage for stage in task.stages if stage.name == "build")
        if build.status not in ("completed", "failed") and not task.is_terminal:
            return
        text = None
        if task.build_log_path:
            bucket, key = keys.split_s3_uri(task.build_log_path)
            if bucket == self._objects.bucket:
                text = await self._objects.read_text(key=key, max_bytes=LOG_KEPT_BYTES)
        data = (text or "").encode()
        lines = split_lines(data[channel.log_offset :], start=channel.log_offset, final=True)
        channel.add_log(lines, done=True)

    async def _wait(self) -> None:
        """The poll interval, or less when the task changes (a job appears, it finishes)."""
        channel = self._channel
        channel.changed.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(channel.changed.wait(), self._poll)
