"""A task's and a function's logs: pipeline events (in the task item), build logs (in S3) and
a deployed function's runtime lines (from the deploy service, docs/contract.md)."""

import base64
import binascii
import heapq
import json
import logging
from datetime import UTC, datetime

from app.errors import DomainError, InvalidInput
from app.functions.models import FunctionRecord
from app.storage import keys
from app.storage.objects import ObjectStore
from app.storage.tasks import TaskRepository
from app.tasks.infra_client import RuntimeClient
from app.tasks.models import Task
from app.tasks.schemas import LogEntry, LogPage, LogQuery

log = logging.getLogger(__name__)

FUNCTION_TASKS_SHOWN = 10
BUILD_LOG_MAX_BYTES = 512 * 1024
# Runtime lines asked of the deploy service per request (its page limit): the latest ones,
# or with `since` the first ones after it.
RUNTIME_LINES = 1000


def parse_time(stamp: str) -> datetime:
    """An ISO 8601 time (UTC when it names no zone); ValueError if it is none."""
    moment = datetime.fromisoformat(stamp.replace("Z", "+00:00").replace("z", "+00:00"))
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def time_key(stamp: str) -> str:
    """A time that sorts right across precisions and zones: ours have milliseconds, the
    runtime's microseconds (`…00.123Z` → `…00.123000Z`)."""
    try:
        moment = parse_time(stamp)
    except ValueError:
        return stamp
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


async def runtime_entries(
    *, runtime: RuntimeClient, function: FunctionRecord, query: LogQuery, required: bool
) -> list[LogEntry]:
    """What the deployed function printed, oldest first (none when it is not deployed).

    When the deploy service cannot answer, the lines are left out, unless they were asked
    for alone (`required`): then its 503 is the answer.
    """
    if not (function.deployed_namespace and function.deployed_name):
        return []
    try:
        page = await runtime.runtime_logs(
            namespace=function.deployed_namespace,
            name=function.deployed_name,
            since=time_key(query.since) if query.since else None,
            limit=RUNTIME_LINES,
            tail=query.tail or (None if query.since else RUNTIME_LINES),
        )
    except DomainError as exc:
        if required:
            raise
        log.warning("runtime logs of %s left out: %s", function.id, exc.detail)
        return []
    return [
        LogEntry(
            time=entry.time,
            source="runtime",
            level="error" if entry.stream == "stderr" else "info",
            message=entry.message,
            replica=entry.replica,
            stream=entry.stream,
            invocation_id=entry.invocation_id,
        )
        for entry in (page.entries if page else [])
    ]


def merged(first: list[LogEntry], second: list[LogEntry]) -> list[LogEntry]:
    """Two time-ordered lists as one, by time."""
    return list(heapq.merge(first, second, key=lambda entry: time_key(entry.time)))


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
    entries.sort(key=lambda entry: time_key(entry.time))  # stable: build lines keep their order
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
    entries.sort(key=lambda entry: time_key(entry.time))
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
    if query.source:
        entries = [entry for entry in entries if entry.source == query.source]
    if since:
        after = time_key(since)
        entries = [entry for entry in entries if time_key(entry.time) > after]
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
