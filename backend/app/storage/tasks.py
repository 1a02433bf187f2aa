"""BuildTask items (`BUILD#{task_id}`): creation (with idempotency keys, the function's claim
and the workspace's limits in one transaction) and reads. What the pollers write is in
`app.storage.task_steps`.
"""

import time
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from app.aws import cancellation_reasons
from app.errors import Conflict, NotFound, TooManyRequests
from app.storage import keys
from app.storage.dynamo import (
    Page,
    decode_token,
    encode_token,
    from_item,
    get_by_entity_id,
    to_item,
    to_value,
)

_KEY_ATTRIBUTES = {keys.PK, keys.SK, keys.ENTITY_ID, keys.DUE_SHARD, keys.DUE_AT, "Type"}


def _record(item: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in from_item(item).items() if k not in _KEY_ATTRIBUTES}


# What a task's status shows (and what later tasks read from it); not its event log.
STATUS_ATTRIBUTES = (
    "task_id", "workspace_id", "app_name", "function_id", "type", "status", "stage", "stages",
    "source_code_path", "source_sha256", "wasm_path", "image_url", "manifest", "manifest_path",
    "deployment", "endpoint", "build_log_path", "error_code", "error_message", "created_at",
    "updated_at",
)  # fmt: skip


class IdempotentReplay(Exception):
    """The Idempotency-Key was used before; `task_id` is the task it created."""

    def __init__(self, record: dict[str, Any]) -> None:
        super().__init__("idempotency key already used")
        self.record = record


@dataclass(frozen=True)
class FunctionClaim:
    """A function the new task will drive: it must exist and have no active task."""

    workspace_id: str
    function_id: str
    changes: dict[str, Any]


@dataclass(frozen=True)
class WorkspaceLimits:
    """Per-workspace abuse limits enforced in the task-creating transaction."""

    max_active: int
    per_minute: int


class TaskRepository:
    def __init__(self, *, client: Any, table: str) -> None:
        self._client = client
        self._table = table

    # -- creation ---------------------------------------------------------------------------

    async def create(
        self,
        *,
        task: dict[str, Any],
        due_at_ms: int,
        idempotency: dict[str, Any] | None = None,
        function: FunctionClaim | None = None,
        limits: WorkspaceLimits | None = None,
    ) -> None:
        """Write a new task, its idempotency key and its function's claim in one transaction.

        With `limits`, the workspace's active-task counter and this minute's creation counter
        are raised in the same transaction, each conditioned on staying within its limit.
        """
        workspace_id, task_id = task["workspace_id"], task["task_id"]
        item = {
            **keys.task_key(workspace_id, task_id),
            keys.ENTITY_ID: keys.task_entity_id(task_id),
            keys.DUE_SHARD: keys.due_shard(task_id),
            keys.DUE_AT: due_at_ms,
            "Type": "BuildTask",
            **task,
        }
        workspace_action: dict[str, Any] = {
            "ConditionCheck": {
                "TableName": self._table,
                "Key": to_item(keys.workspace_key(workspace_id)),
                "ConditionExpression": "attribute_exists(PK)",
            }
        }
        if limits is not None:
            workspace_action = {
                "Update": {
                    "TableName": self._table,
                    "Key": to_item(keys.workspace_key(workspace_id)),
                    "UpdateExpression": "SET active_tasks = "
                    "if_not_exists(active_tasks, :zero) + :one",
                    "ConditionExpression": "attribute_exists(PK) AND "
                    "(attribute_not_exists(active_tasks) OR active_tasks < :max)",
                    "ExpressionAttributeValues": {
                        ":zero": to_value(0),
                        ":one": to_value(1),
                        ":max": to_value(limits.max_active),
                    },
                }
            }
        parts = ["workspace", "task"]
        actions: list[dict[str, Any]] = [
            workspace_action,
            {
                "Put": {
                    "TableName": self._table,
                    "Item": to_item(item),
                    "ConditionExpression": "attribute_not_exists(PK)",
                }
            },
        ]
        if idempotency is not None:
            parts.append("idempotency")
            actions.append(
                {
                    "Put": {
                        "TableName": self._table,
                        "Item": to_item(
                            {
                                **keys.idempotency_key(workspace_id, idempotency["key"]),
                                "Type": "IdempotencyKey",
                                "task_id": task_id,
                                "fingerprint": idempotency["fingerprint"],
                                keys.TTL: idempotency["expires_at"],
                            }
                        ),
                        "ConditionExpression": "attribute_not_exists(PK)",
                    }
                }
            )
        if function is not None:
            names = {f"#c{i}": name for i, name in enumerate(function.changes)}
            values = {f":c{i}": to_value(v) for i, v in enumerate(function.changes.values())}
            sets = ", ".join(f"#c{i} = :c{i}" for i in range(len(function.changes)))
            parts.append("function")
            actions.append(
                {
                    "Update": {
                        "TableName": self._table,
                        "Key": to_item(
                            keys.function_key(function.workspace_id, function.function_id)
                        ),
                        "UpdateExpression": f"SET {sets}, active_task_id = :task",
                        "ConditionExpression": "attribute_exists(PK) AND "
                        "attribute_not_exists(active_task_id)",
                        "ExpressionAttributeNames": names,
                        "ExpressionAttributeValues": {**values, ":task": to_value(task_id)},
                    }
                }
            )
        window = int(time.time() // 60)
        if limits is not None:
            parts.append("rate")
            actions.append(
                {
                    "Update": {
                        "TableName": self._table,
                        "Key": to_item(keys.rate_key(workspace_id, str(window))),
                        "UpdateExpression": "ADD created :one SET #ttl = :ttl",
                        "ConditionExpression": "attribute_not_exists(created) OR created < :max",
                        "ExpressionAttributeNames": {"#ttl": keys.TTL},
                        "ExpressionAttributeValues": {
                            ":one": to_value(1),
                            ":max": to_value(limits.per_minute),
                            ":ttl": to_value((window + 2) * 60),
                        },
                    }
                }
            )
        try:
            await self._client.transact_write_items(TransactItems=actions)
        except ClientError as exc:
            reasons = dict(zip(parts, cancellation_reasons(exc), strict=False))
            if not reasons:
                raise
            failed = {name for name, code in reasons.items() if code == "ConditionalCheckFailed"}
            if "idempotency" in failed and idempotency is not None:
                record = await self.get_idempotency(
                    workspace_id=workspace_id, key=idempotency["key"]
                )
                if record is not None:
                    raise IdempotentReplay(record) from exc
            if "workspace" in failed:
                if limits is None or not await self._workspace_exists(workspace_id):
                    raise NotFound(
                        f"Workspace {workspace_id} not found", code="WORKSPACE_NOT_FOUND"
                    ) from exc
                raise TooManyRequests(
                    f"The workspace already has {limits.max_active} active tasks; "
                    "wait for one to finish",
                    code="ACTIVE_TASK_LIMIT",
                    headers={"Retry-After": "10"},
                ) from exc
            if "function" in failed:
                raise Conflict(
                    "The function already has a task in progress; wait for it to finish",
                    code="TASK_IN_PROGRESS",
                ) from exc
            if "rate" in failed and limits is not None:
                retry = max(1, (window + 1) * 60 - int(time.time()))
                raise TooManyRequests(
                    f"The workspace may create {limits.per_minute} tasks per minute",
                    code="RATE_LIMITED",
                    headers={"Retry-After": str(retry)},
                ) from exc
            if "TransactionConflict" in reasons:
                raise Conflict(
                    "A concurrent request touched the same items; retry", code="CONCURRENT_UPDATE"
                ) from exc
            raise

    async def _workspace_exists(self, workspace_id: str) -> bool:
        response = await self._client.get_item(
            TableName=self._table,
            Key=to_item(keys.workspace_key(workspace_id)),
            ConsistentRead=True,
            ProjectionExpression="PK",
        )
        return "Item" in response

    async def get_idempotency(self, *, workspace_id: str, key: str) -> dict[str, Any] | None:
        response = await self._client.get_item(
            TableName=self._table,
            Key=to_item(keys.idempotency_key(workspace_id, key)),
            ConsistentRead=True,
        )
        item = response.get("Item")
        return from_item(item) if item else None

    # -- reads ------------------------------------------------------------------------------

    async def get(self, *, task_id: str) -> dict[str, Any] | None:
        """A task by id alone, without its event log (IdIndex, one Query: the hot polling path)."""
        item = await get_by_entity_id(
            self._client, self._table, keys.task_entity_id(task_id), attributes=STATUS_ATTRIBUTES
        )
        return _record(item) if item else None

    async def get_consistent(self, *, workspace_id: str, task_id: str) -> dict[str, Any] | None:
        response = await self._client.get_item(
            TableName=self._table,
            Key=to_item(keys.task_key(workspace_id, task_id)),
            ConsistentRead=True,
        )
        item = response.get("Item")
        return _record(item) if item else None

    async def list_in_workspace(
        self,
        *,
        workspace_id: str,
        status: str | None,
        function_id: str | None = None,
        limit: int,
        next_token: str | None,
        newest_first: bool = True,
    ) -> Page:
        """A page of a workspace's tasks; filters apply within the page (it may come up short)."""
        pk = keys.workspace_pk(workspace_id)
        request: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "PK = :pk AND begins_with(SK, :prefix)",
            "ExpressionAttributeValues": {
                ":pk": to_value(pk),
                ":prefix": to_value(keys.TASK_PREFIX),
            },
            "Limit": limit,
            "ScanIndexForward": not newest_first,
        }
        filters = []
        if status:
            filters.append("#status = :status")
            request.setdefault("ExpressionAttributeNames", {})["#status"] = "status"
            request["ExpressionAttributeValues"][":status"] = to_value(status)
        if function_id:
            filters.append("function_id = :function")
            request["ExpressionAttributeValues"][":function"] = to_value(function_id)
        if filters:
            request["FilterExpression"] = " AND ".join(filters)
        start = decode_token(next_token, expected={keys.PK: pk})
        if start:
            request["ExclusiveStartKey"] = start
        response = await self._client.query(**request)
        return Page(
            items=[_record(item) for item in response.get("Items", [])],
            next_token=encode_token(response.get("LastEvaluatedKey")),
        )
