"""Creating tasks: uploads and follow-up stages, from any of the six task-creating routes.

Every route hands a `NewTask` to `create_task`. The caller's access to the workspace is
checked first (strangers learn nothing, and no file is read for them); an earlier use of the
Idempotency-Key is answered before anything is stored; only then is an upload streamed to S3
and the task written, with its function claim and the workspace's limits, in one transaction.
"""

import asyncio
import dataclasses
import hashlib
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any, BinaryIO

from app.auth.access import Access, task_not_found
from app.clock import moment, now_iso, now_ms
from app.errors import Conflict, Unprocessable
from app.functions.models import FunctionRecord
from app.ids import is_id, new_id
from app.logging_setup import task_context
from app.observability import metrics
from app.storage import keys
from app.storage.functions import function_not_found
from app.storage.task_creation import IdempotencyRecord, idempotency_record
from app.storage.tasks import FunctionClaim, IdempotentReplay
from app.tasks import intake, lifecycle, references
from app.tasks.intake import SourceFile
from app.tasks.models import TERMINAL, Task, TaskOptions, TaskType, deployment_status_for
from app.tasks.schemas import NewTask, TaskStatusResponse
from app.tasks.service import TaskRepos

log = logging.getLogger(__name__)

READ_CHUNK = 1024 * 1024


@dataclass(frozen=True)
class CreatedTask:
    task: Task
    replayed: bool  # the task an earlier use of the Idempotency-Key made

    def headers(self) -> dict[str, str]:
        headers = {"Location": f"/api/v1/tasks/{self.task.task_id}"}
        if self.replayed:
            headers["Idempotent-Replayed"] = "true"
        return headers

    def response(self) -> TaskStatusResponse:
        return TaskStatusResponse.of(self.task)


async def create_task(
    *, access: Access, repos: TaskRepos, order: NewTask, idempotency_key: str | None
) -> CreatedTask:
    """Create the task a route asked for (or answer the one its Idempotency-Key made)."""
    await access.workspace(order.workspace_id)  # before the file is read
    references.check_options(
        workspace_id=order.workspace_id, options=order.options, settings=repos.settings
    )
    order = dataclasses.replace(order, created_by=access.caller.subject)
    if order.upload is not None:
        source = await intake.receive_source(order.upload, repos.settings)
        created = await _create_upload_task(
            repos=repos, order=order, source=source, idempotency_key=idempotency_key
        )
    else:
        created = await _create_follow_up_task(
            repos=repos, order=order, idempotency_key=idempotency_key
        )
    task_context.set(created.task.task_id)
    if not created.replayed:
        log.info("%s task created", created.task.type)
        repos.wake()
    return created


# -- uploads ------------------------------------------------------------------------------


async def _create_upload_task(
    *, repos: TaskRepos, order: NewTask, source: SourceFile, idempotency_key: str | None
) -> CreatedTask:
    function, app_name = await _resolve_function(repos=repos, order=order)
    fingerprint = _fingerprint(order, app_name=app_name, input=source.sha256)
    replay = await _earlier_answer(
        repos=repos,
        workspace_id=order.workspace_id,
        idempotency_key=idempotency_key,
        fingerprint=fingerprint,
    )
    if replay is not None:
        return replay
    task_id = new_id()
    key = keys.source_object(order.workspace_id, task_id, source.filename)
    task = _new_task(
        order,
        task_id=task_id,
        app_name=app_name,
        source_code_path=keys.s3_uri(repos.objects.bucket, key),
        source_sha256=source.sha256,
        source_size=source.size,
    )
    await repos.objects.put_stream(
        key=key, chunks=_chunks(source.file), content_type=source.content_type
    )
    try:
        created = await _insert(
            repos=repos, task=task, function=function, idempotency_key=idempotency_key,
            fingerprint=fingerprint,
        )  # fmt: skip
    except BaseException:
        await repos.objects.delete_prefix(prefix=key)
        raise
    if created.replayed:  # a concurrent request with the same key was first
        await repos.objects.delete_prefix(prefix=key)
    return created


def _read(handle: BinaryIO) -> bytes:
    return handle.read(READ_CHUNK)


async def _chunks(handle: BinaryIO) -> AsyncIterator[bytes]:
    """The spooled file in 1 MiB chunks, read in a worker thread (the loop never blocks)."""
    handle.seek(0)
    while chunk := await asyncio.to_thread(_read, handle):
        yield chunk


# -- follow-ups ---------------------------------------------------------------------------


async def _create_follow_up_task(
    *, repos: TaskRepos, order: NewTask, idempotency_key: str | None
) -> CreatedTask:
    """A push, scaffold or deploy task from a value or from an earlier task's output."""
    field = order.input_field
    assert field is not None
    value, app_name, function_id = order.input_value, order.app_name, order.function_id
    if order.from_task_id is not None:
        earlier = await _completed_input(repos=repos, order=order)
        value = getattr(earlier, field)
        app_name = app_name or earlier.app_name
        function_id = function_id or earlier.function_id
    if field == "wasm_path":
        references.artifact_task_id(value=str(value), bucket=repos.objects.bucket)
    order = dataclasses.replace(order, app_name=app_name, function_id=function_id)
    function, app_name = await _resolve_function(repos=repos, order=order)
    if order.from_task_id is None:  # a value from the body: it must be the workspace's own
        await _check_reference(repos=repos, order=order, app_name=app_name, value=str(value))
    fingerprint = _fingerprint(order, app_name=app_name, input=value)
    replay = await _earlier_answer(
        repos=repos,
        workspace_id=order.workspace_id,
        idempotency_key=idempotency_key,
        fingerprint=fingerprint,
    )
    if replay is not None:
        return replay
    inputs: dict[str, str | None] = {field: value}
    task = _new_task(
        order, task_id=new_id(), app_name=app_name, source_task_id=order.from_task_id, **inputs
    )
    return await _insert(
        repos=repos, task=task, function=function, idempotency_key=idempotency_key,
        fingerprint=fingerprint,
    )  # fmt: skip


async def _check_reference(*, repos: TaskRepos, order: NewTask, app_name: str, value: str) -> None:
    """A wasm_path, image_url or manifest given by value resolves inside the workspace."""
    workspace_id, settings = order.workspace_id, repos.settings
    if order.input_field == "wasm_path":
        bucket = repos.objects.bucket
        task_id = references.artifact_task_id(value=value, bucket=bucket)
        task = await repos.tasks.get(task_id=task_id) if is_id(task_id) else None
        references.check_artifact(value=value, bucket=bucket, task=task, workspace_id=workspace_id)
    elif order.input_field == "image_url":
        references.check_image(image=value, workspace_id=workspace_id, settings=settings)
    elif order.input_field == "manifest":
        references.check_manifest(
            manifest=value, workspace_id=workspace_id, app_name=app_name, settings=settings
        )


async def _completed_input(*, repos: TaskRepos, order: NewTask) -> Task:
    """A finished task of the same workspace that produced the order's input."""
    task_id, field = str(order.from_task_id), str(order.input_field)
    task = await repos.tasks.get(task_id=task_id) if is_id(task_id) else None
    if task is None or task.workspace_id != order.workspace_id:
        raise task_not_found(task_id)
    if task.status != "completed" or not getattr(task, field):
        raise Conflict(
            f"Task {task_id} has not produced a {field} (status {task.status})",
            code="TASK_NOT_COMPLETED",
        )
    return task


# -- a function's redeploys (rollback, scale, new settings) ----------------------------


@dataclass(frozen=True)
class FunctionTaskOrder:
    """A task of a function's own stored inputs: no upload, no earlier task to name."""

    task_type: TaskType
    options: TaskOptions
    inputs: dict[str, Any]


async def create_function_task(
    *,
    access: Access,
    repos: TaskRepos,
    function: FunctionRecord,
    request: dict[str, Any],
    prepare: Callable[[], Awaitable[FunctionTaskOrder]],
    idempotency_key: str | None,
) -> CreatedTask:
    """Create a task a function route asked for (`request`: what was asked, for the key).

    An earlier use of the Idempotency-Key is answered before `prepare` looks at the function:
    a retried rollback to "the previous revision" gets the first task, not a second rollback.
    """
    await access.workspace(function.workspace_id)
    fields = {"workspace": function.workspace_id, "function": function.id, "request": request}
    fingerprint = hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()
    created = await _earlier_answer(
        repos=repos,
        workspace_id=function.workspace_id,
        idempotency_key=idempotency_key,
        fingerprint=fingerprint,
    )
    if created is None:
        order = await prepare()
        task = lifecycle.new_task(
            task_id=new_id(), task_type=order.task_type, workspace_id=function.workspace_id,
            app_name=function.name, function_id=function.id, options=order.options,
            now=moment(), created_by=access.caller.subject, **order.inputs,
        )  # fmt: skip
        created = await _insert(
            repos=repos, task=task, function=function, idempotency_key=idempotency_key,
            fingerprint=fingerprint,
        )  # fmt: skip
    task_context.set(created.task.task_id)
    if not created.replayed:
        log.info("%s task created for function %s", created.task.type, function.id)
        repos.wake()
    return created


# -- shared -------------------------------------------------------------------------------


def _fingerprint(order: NewTask, *, app_name: str, input: str | None) -> str:
    """A digest of what was asked: the same Idempotency-Key must come with the same request."""
    fields = {
        "workspace": order.workspace_id,
        "type": order.task_type,
        "app": app_name,
        "function": order.function_id,
        "input": input,
        "options": order.options.model_dump(mode="json", exclude_defaults=True),
    }
    return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()


async def _resolve_function(
    *, repos: TaskRepos, order: NewTask
) -> tuple[FunctionRecord | None, str]:
    """The task's function (in the same workspace) if any, and the app name to build."""
    if order.function_id is None:
        if not order.app_name:
            raise Unprocessable("app_name is required", code="VALIDATION_ERROR")
        return None, order.app_name
    function_id = order.function_id
    function = await repos.functions.get(function_id=function_id) if is_id(function_id) else None
    if function is None or function.workspace_id != order.workspace_id:
        raise function_not_found(function_id)
    if order.app_name and order.app_name != function.name:
        raise Unprocessable(
            f"app_name must be the function's name ({function.name!r}) or left out",
            code="VALIDATION_ERROR",
        )
    return function, function.name


def _new_task(order: NewTask, *, task_id: str, app_name: str, **inputs: Any) -> Task:
    return lifecycle.new_task(
        task_id=task_id,
        task_type=order.task_type,
        workspace_id=order.workspace_id,
        app_name=app_name,
        function_id=order.function_id,
        options=order.options,
        now=moment(),
        created_by=order.created_by,
        **inputs,
    )


async def _earlier_answer(
    *, repos: TaskRepos, workspace_id: str, idempotency_key: str | None, fingerprint: str
) -> CreatedTask | None:
    """The task an earlier use of the request's Idempotency-Key made, if any."""
    if not idempotency_key:
        return None
    record = await repos.tasks.get_idempotency(workspace_id=workspace_id, key=idempotency_key)
    if record is None:
        return None
    return CreatedTask(
        task=await _replayed(repos=repos, record=record, fingerprint=fingerprint), replayed=True
    )


async def _replayed(*, repos: TaskRepos, record: IdempotencyRecord, fingerprint: str) -> Task:
    if record.fingerprint != fingerprint:
        raise Conflict(
            "This Idempotency-Key was used with a different request",
            code="IDEMPOTENCY_KEY_MISMATCH",
        )
    task = await repos.tasks.get_consistent(
        workspace_id=record.workspace_id, task_id=record.task_id
    )
    if task is None:
        raise Conflict("The task of this Idempotency-Key is gone", code="IDEMPOTENCY_KEY_MISMATCH")
    return task


async def _insert(
    *,
    repos: TaskRepos,
    task: Task,
    function: FunctionRecord | None,
    idempotency_key: str | None,
    fingerprint: str,
) -> CreatedTask:
    """Write the task (with its idempotency key and function claim)."""
    claim = None
    if function is not None:
        claim = FunctionClaim(
            workspace_id=function.workspace_id,
            function_id=function.id,
            updated_at=task.created_at,
            deployment_status=deployment_status_for(task),
        )
    idempotency = None
    if idempotency_key:
        record = idempotency_record(
            workspace_id=task.workspace_id, task_id=task.task_id, fingerprint=fingerprint
        )
        idempotency = (idempotency_key, record)
    for attempt in range(2):
        try:
            await repos.tasks.create(
                task=task,
                due_at_ms=now_ms(),
                idempotency=idempotency,
                function=claim,
                limits=repos.limits,
            )
            metrics.record_task_created(task_type=task.type)
            if task.source_size is not None:
                metrics.record_upload(size=task.source_size)
            return CreatedTask(task=task, replayed=False)
        except IdempotentReplay as replay:
            earlier = await _replayed(repos=repos, record=replay.record, fingerprint=fingerprint)
            return CreatedTask(task=earlier, replayed=True)
        except Conflict as exc:
            if exc.code != "TASK_IN_PROGRESS" or attempt or function is None:
                raise
            # The hold may be left by a task that finished while its function update failed.
            if not await _release_if_stale(repos=repos, function_id=function.id):
                raise
    raise AssertionError("unreachable")


async def _release_if_stale(*, repos: TaskRepos, function_id: str) -> bool:
    function = await repos.functions.get(function_id=function_id)
    if function is None or not function.active_task_id:
        return True
    active = await repos.tasks.get_consistent(
        workspace_id=function.workspace_id, task_id=function.active_task_id
    )
    if active is not None and active.status not in TERMINAL:
        return False
    return await repos.functions.follow_task(
        workspace_id=function.workspace_id,
        function_id=function_id,
        task_id=function.active_task_id,
        changes={"updated_at": now_iso()},
        release=True,
    )
