"""Creating tasks (uploads and follow-up stages) and reading them back."""

import asyncio
import hashlib
import json
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, BinaryIO

from app.auth.access import function_not_found, task_not_found
from app.clock import now_iso
from app.config import Settings
from app.errors import Conflict, InvalidInput, Unprocessable
from app.ids import is_id, new_id
from app.storage.functions import FunctionRepository
from app.storage.objects import ObjectStore, s3_uri
from app.storage.tasks import FunctionClaim, IdempotentReplay, TaskRepository, WorkspaceLimits
from app.storage.workspaces import WorkspaceRepository
from app.tasks import state
from app.tasks.intake import SourceFile
from app.tasks.schemas import BuildTaskResult, Stage, TaskList, TaskStatusResponse

log = logging.getLogger(__name__)

IDEMPOTENCY_TTL_SECONDS = 24 * 3600
READ_CHUNK = 1024 * 1024


@dataclass(frozen=True)
class TaskRepos:
    workspaces: WorkspaceRepository
    functions: FunctionRepository
    tasks: TaskRepository
    objects: ObjectStore
    limits: WorkspaceLimits


def to_response(task: dict[str, Any]) -> TaskStatusResponse:
    """The stored item (SPEC §3 attributes) → the API's task status shape."""
    return TaskStatusResponse(
        task_id=task["task_id"],
        workspace_id=task["workspace_id"],
        app_name=task["app_name"],
        function_id=task.get("function_id"),
        type=task["type"],
        status=task["status"],
        stage=task.get("stage"),
        stages=[Stage.model_validate(stage) for stage in task.get("stages", [])],
        result=BuildTaskResult.model_validate(task),
        error_code=task.get("error_code"),
        error_message=task.get("error_message"),
        created_at=task["created_at"],
        updated_at=task["updated_at"],
    )


def _read_and_hash(handle: BinaryIO, digest: Any) -> bytes:
    chunk = handle.read(READ_CHUNK)
    digest.update(chunk)
    return chunk


async def _hashed_chunks(handle: BinaryIO, digest: Any) -> AsyncIterator[bytes]:
    """The file in 1 MiB chunks, feeding `digest` on the way.

    Reading and hashing run in a worker thread (both release the GIL), so they overlap with the
    part being sent to S3 instead of adding to it.
    """
    handle.seek(0)
    while chunk := await asyncio.to_thread(_read_and_hash, handle, digest):
        yield chunk


def _fingerprint(**fields: Any) -> str:
    return hashlib.sha256(json.dumps(fields, sort_keys=True, default=str).encode()).hexdigest()


async def _resolve_function(
    *, repos: TaskRepos, workspace_id: str, function_id: str | None, app_name: str | None
) -> tuple[dict[str, Any] | None, str]:
    """The task's function (in the same workspace) if any, and the app name to build."""
    if function_id is None:
        if not app_name:
            raise Unprocessable("app_name is required", code="VALIDATION_ERROR")
        return None, app_name
    function = await repos.functions.get(function_id=function_id) if is_id(function_id) else None
    if function is None or function["workspace_id"] != workspace_id:
        raise function_not_found(function_id)
    if app_name and app_name != function["name"]:
        raise Unprocessable(
            f"app_name must be the function's name ({function['name']!r}) or left out",
            code="VALIDATION_ERROR",
        )
    return function, function["name"]


async def _insert(
    *,
    repos: TaskRepos,
    task: dict[str, Any],
    function: dict[str, Any] | None,
    idempotency_key: str | None,
    fingerprint: str,
) -> tuple[dict[str, Any], bool]:
    """Write the task (with its idempotency key and function claim); (record, replayed)."""
    claim = None
    if function is not None:
        changes: dict[str, Any] = {
            "latest_task_id": task["task_id"],
            "updated_at": task["created_at"],
        }
        deployment = state.deployment_status_for(task["type"], state.PENDING, task["stage"])
        if deployment:
            changes["deployment_status"] = deployment
        claim = FunctionClaim(
            workspace_id=function["workspace_id"], function_id=function["id"], changes=changes
        )
    idempotency = None
    if idempotency_key:
        idempotency = {
            "key": idempotency_key,
            "fingerprint": fingerprint,
            "expires_at": int(time.time()) + IDEMPOTENCY_TTL_SECONDS,
        }
    for attempt in range(2):
        try:
            await repos.tasks.create(
                task=task,
                due_at_ms=int(time.time() * 1000),
                idempotency=idempotency,
                function=claim,
                limits=repos.limits,
            )
            return task, False
        except IdempotentReplay as replay:
            return await _replayed(repos=repos, record=replay.record, fingerprint=fingerprint), True
        except Conflict as exc:
            if exc.code != "TASK_IN_PROGRESS" or attempt or function is None:
                raise
            # The lock may be left by a task that finished while its function update failed.
            if not await _release_if_stale(repos=repos, function_id=function["id"]):
                raise
    raise AssertionError("unreachable")


async def _release_if_stale(*, repos: TaskRepos, function_id: str) -> bool:
    function = await repos.functions.get(function_id=function_id)
    active = (function or {}).get("active_task_id")
    if not active:
        return True
    task = await repos.tasks.get_consistent(workspace_id=function["workspace_id"], task_id=active)
    if task is not None and task["status"] not in state.TERMINAL_STATUSES:
        return False
    return await repos.functions.follow_task(
        workspace_id=function["workspace_id"],
        function_id=function_id,
        task_id=active,
        changes={"updated_at": now_iso()},
        release=True,
    )


async def _replayed(
    *, repos: TaskRepos, record: dict[str, Any], fingerprint: str
) -> dict[str, Any]:
    if record.get("fingerprint") != fingerprint:
        raise Conflict(
            "This Idempotency-Key was used with a different request",
            code="IDEMPOTENCY_KEY_MISMATCH",
        )
    workspace_id = record["PK"].removeprefix("WS#")
    task = await repos.tasks.get_consistent(workspace_id=workspace_id, task_id=record["task_id"])
    if task is None:
        raise Conflict("The task of this Idempotency-Key is gone", code="IDEMPOTENCY_KEY_MISMATCH")
    return task


async def _earlier_answer(
    *, repos: TaskRepos, workspace_id: str, idempotency_key: str | None, **request: Any
) -> tuple[str, dict[str, Any] | None]:
    """The request's fingerprint, and the task an earlier use of its Idempotency-Key made."""
    fingerprint = _fingerprint(workspace=workspace_id, **request)
    if not idempotency_key:
        return fingerprint, None
    record = await repos.tasks.get_idempotency(workspace_id=workspace_id, key=idempotency_key)
    if record is None:
        return fingerprint, None
    return fingerprint, await _replayed(repos=repos, record=record, fingerprint=fingerprint)


def _new_task(
    *,
    task_type: str,
    workspace_id: str,
    app_name: str,
    function_id: str | None,
    fields: dict[str, Any],
    options: dict[str, Any],
) -> dict[str, Any]:
    now = now_iso()
    stages = state.initial_stages(task_type)
    return {
        "task_id": new_id(),
        "workspace_id": workspace_id,
        "app_name": app_name,
        "function_id": function_id,
        "type": task_type,
        "status": state.PENDING,
        "stage": stages[0]["name"],
        "stages": stages,
        "options": options,
        "version": 0,
        "created_at": now,
        "updated_at": now,
        "events": [
            {"time": now, "stage": None, "level": "info", "message": f"{task_type} task created"}
        ],
        **fields,
    }


async def create_upload_task(
    *,
    repos: TaskRepos,
    source: SourceFile,
    task_type: str,
    workspace_id: str,
    app_name: str | None,
    function_id: str | None,
    options: dict[str, Any],
    idempotency_key: str | None,
) -> tuple[dict[str, Any], bool]:
    """Store an uploaded source and create the task that builds it; (task, replayed)."""
    function, app_name = await _resolve_function(
        repos=repos, workspace_id=workspace_id, function_id=function_id, app_name=app_name
    )
    task = _new_task(
        task_type=task_type,
        workspace_id=workspace_id,
        app_name=app_name,
        function_id=function_id,
        options=options,
        fields={"source_size": source.size},
    )
    key = f"build-sources/{workspace_id}/{task['task_id']}/{source.filename}"
    task["source_code_path"] = s3_uri(repos.objects.bucket, key)
    content_type = "application/zip" if source.filename.endswith(".zip") else "text/x-python"
    # The source is hashed while it streams to S3 (one pass over the file); an earlier use of
    # the Idempotency-Key is therefore recognised after the upload, whose object is then dropped.
    digest = hashlib.sha256()
    await repos.objects.put_stream(
        key=key, chunks=_hashed_chunks(source.file, digest), content_type=content_type
    )
    task["source_sha256"] = digest.hexdigest()
    try:
        fingerprint, replay = await _earlier_answer(
            repos=repos, workspace_id=workspace_id, idempotency_key=idempotency_key,
            type=task_type, app=app_name, function=function_id, sha256=task["source_sha256"],
            options=options,
        )  # fmt: skip
        if replay is not None:
            await repos.objects.delete_prefix(prefix=key)
            return replay, True
        record, replayed = await _insert(
            repos=repos, task=task, function=function, idempotency_key=idempotency_key,
            fingerprint=fingerprint,
        )  # fmt: skip
    except BaseException:
        await repos.objects.delete_prefix(prefix=key)
        raise
    if replayed:
        await repos.objects.delete_prefix(prefix=key)
    return record, replayed


async def _completed_input(
    *, repos: TaskRepos, workspace_id: str, task_id: str, field: str
) -> dict[str, Any]:
    """A finished task of the same workspace that produced `field` (wasm_path, image_url…)."""
    task = await repos.tasks.get(task_id=task_id) if is_id(task_id) else None
    if task is None or task["workspace_id"] != workspace_id:
        raise task_not_found(task_id)
    if task["status"] != state.COMPLETED or not task.get(field):
        raise Conflict(
            f"Task {task_id} has not produced a {field} (status {task['status']})",
            code="TASK_NOT_COMPLETED",
        )
    return task


async def create_follow_up_task(
    *,
    repos: TaskRepos,
    settings: Settings,
    task_type: str,
    workspace_id: str,
    app_name: str | None,
    function_id: str | None,
    from_task_id: str | None,
    input_field: str,
    input_value: str | None,
    options: dict[str, Any],
    idempotency_key: str | None,
) -> tuple[dict[str, Any], bool]:
    """Create a push, scaffold or deploy task from a value or from an earlier task's output."""
    if from_task_id is not None:
        earlier = await _completed_input(
            repos=repos, workspace_id=workspace_id, task_id=from_task_id, field=input_field
        )
        input_value = earlier[input_field]
        app_name = app_name or earlier["app_name"]
        function_id = function_id or earlier.get("function_id")
    if input_field == "wasm_path":
        prefix = f"s3://{settings.s3_bucket}/build-artifacts/"
        if not str(input_value).startswith(prefix) or ".." in str(input_value):
            raise InvalidInput(
                f"wasm_path must be a build artifact under {prefix}", code="INVALID_INPUT"
            )
    function, app_name = await _resolve_function(
        repos=repos, workspace_id=workspace_id, function_id=function_id, app_name=app_name
    )
    fingerprint, replay = await _earlier_answer(
        repos=repos, workspace_id=workspace_id, idempotency_key=idempotency_key,
        type=task_type, app=app_name, function=function_id, input=input_value, options=options,
    )  # fmt: skip
    if replay is not None:
        return replay, True
    task = _new_task(
        task_type=task_type,
        workspace_id=workspace_id,
        app_name=app_name,
        function_id=function_id,
        options=options,
        fields={input_field: input_value, "source_task_id": from_task_id},
    )
    return await _insert(
        repos=repos, task=task, function=function, idempotency_key=idempotency_key,
        fingerprint=fingerprint,
    )  # fmt: skip


async def list_tasks(
    *,
    repos: TaskRepos,
    workspace: dict[str, Any],
    status: str | None,
    limit: int,
    next_token: str | None,
) -> TaskList:
    """One page of a workspace's tasks, newest first."""
    page = await repos.tasks.list_in_workspace(
        workspace_id=workspace["id"], status=status, limit=limit, next_token=next_token
    )
    return TaskList(items=[to_response(item) for item in page.items], next_token=page.next_token)
