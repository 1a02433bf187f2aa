"""A task's and a function's logs: pipeline events (in the task item) and build logs (in S3)."""

import base64
import binascii
import json

from app.errors import InvalidInput
from app.functions.models import FunctionRecord
from app.storage import keys
from app.storage.objects import ObjectStore
from app.storage.tasks import TaskRepository
from app.tasks.models import Task
from app.tasks.schemas import LogEntry, LogPage, LogQuery

FUNCTION_TASKS_SHOWN = 10
BUILD_LOG_MAX_BYTES = 512 * 1024


async def task_entries(*, objects: ObjectStore, task: Task) -> list[LogEntry]:
    """Every log line of one task, oldest first."""
    task_id = task.task_id
    entries = [
        LogEntry(
            time=event.time,
            source="pipeline",
            task_id=task_id,
            stage=event.stage,
            level=event.level,
            message=event.message,
        )
        for event in task.events
    ]
    if task.build_log_path:
        bucket, key = keys.split_s3_uri(task.build_log_path)
        text = (
            await objects.read_text(key=key, max_bytes=BUILD_LOG_MAX_BYTES)
            if bucket == objects.bucket
            else None
        )
        build = next((stage for stage in task.stages if stage.name == "build"), None)
        stamp = (build and (build.finished_at or build.started_at)) or task.updated_at
        for line in (text or "").splitlines():
            entries.append(
                LogEntry(time=stamp, source="build", task_id=task_id, stage="build", message=line)
            )
    entries.sort(key=lambda entry: entry.time)  # stable: build lines keep their order
    return entries


async def function_entries(
    *, tasks: TaskRepository, objects: ObjectStore, function: FunctionRecord
) -> list[LogEntry]:
    """The logs of a function's most recent tasks, oldest first."""
    page = await tasks.list_in_workspace(
        workspace_id=function.workspace_id,
        status=None,
        function_id=function.id,
        limit=200,
        next_token=None,
    )
    entries: list[LogEntry] = []
    for task in reversed(page.items[:FUNCTION_TASKS_SHOWN]):
        entries.extend(await task_entries(objects=objects, task=task))
    entries.sort(key=lambda entry: entry.time)
    return entries


def _decode_offset(token: str | None) -> int:
    if not token:
        return 0
    try:
        data = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        offset = int(data["offset"])
    except (binascii.Error, ValueError, KeyError, TypeError) as exc:
        raise InvalidInput(
            "next_token is not a token this API issued", code="INVALID_NEXT_TOKEN"
        ) from exc
    if offset < 0:
        raise InvalidInput("next_token is not a token this API issued", code="INVALID_NEXT_TOKEN")
    return offset


def page(entries: list[LogEntry], query: LogQuery) -> LogPage:
    """Filter by `since`, keep the last `tail`, then cut a page of `limit` from the cursor."""
    since, limit, tail, next_token = query.since, query.limit, query.tail, query.next_token
    if since:
        entries = [entry for entry in entries if entry.time > since]
    if tail:
        entries = entries[-tail:]
    offset = _decode_offset(next_token)
    chunk = entries[offset : offset + limit]
    following = offset + len(chunk)
    token = None
    if following < len(entries):
        token = (
            base64.urlsafe_b64encode(json.dumps({"offset": following}).encode())
            .decode()
            .rstrip("=")
        )
    return LogPage(items=chunk, next_token=token)
