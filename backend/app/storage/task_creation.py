"""The items a new task touches, written in one transaction with it.

Besides the BuildTask item: the workspace (it must exist; with limits, its active-task counter
is raised within the limit), the idempotency key (first use wins), the function's claim (one
pipeline per function at a time) and this minute's creation counter. `TaskRepository.create`
sends the transaction and turns a cancellation into the domain error of the item that failed.
"""

import time
from dataclasses import dataclass
from typing import Any, Final

from pydantic import BaseModel, ConfigDict

from app.storage import keys
from app.storage.dynamo import Item, to_item, to_value
from app.storage.repository import record_item

IDEMPOTENCY_TTL_SECONDS: Final = 24 * 3600


class IdempotencyRecord(BaseModel):
    """An `IDEM#…` item: which task a key made, and a digest of the request that made it."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    workspace_id: str
    task_id: str
    fingerprint: str
    ttl: int


@dataclass(frozen=True)
class FunctionClaim:
    """The function the new task will drive: it must exist and have no active task."""

    workspace_id: str
    function_id: str
    updated_at: str
    deployment_status: str | None


@dataclass(frozen=True)
class WorkspaceLimits:
    """Per-workspace abuse limits enforced in the task-creating transaction."""

    max_active: int
    per_minute: int


def idempotency_record(*, workspace_id: str, task_id: str, fingerprint: str) -> IdempotencyRecord:
    return IdempotencyRecord(
        workspace_id=workspace_id,
        task_id=task_id,
        fingerprint=fingerprint,
        ttl=int(time.time()) + IDEMPOTENCY_TTL_SECONDS,
    )


@dataclass
class Creation:
    """The transaction's actions and, in the same order, what each one guards."""

    table: str
    actions: list[dict[str, Any]]
    parts: list[str]

    def add(self, part: str, action: dict[str, Any]) -> None:
        self.parts.append(part)
        self.actions.append(action)


def creation(
    *,
    table: str,
    workspace_id: str,
    task_id: str,
    task_item: Item,
    idempotency: tuple[str, IdempotencyRecord] | None,
    function: FunctionClaim | None,
    limits: WorkspaceLimits | None,
    window: int,
) -> Creation:
    """The TransactWriteItems of a new task (`window`: the current minute, for the rate)."""
    tx = Creation(table=table, actions=[], parts=[])
    workspace = to_item(keys.workspace_key(workspace_id))
    if limits is None:
        check = {"Key": workspace, "ConditionExpression": "attribute_exists(PK)"}
        tx.add("workspace", {"ConditionCheck": {"TableName": table, **check}})
    else:
        update = {
            "Key": workspace,
            "UpdateExpression": "SET active_tasks = if_not_exists(active_tasks, :zero) + :one",
            "ConditionExpression": "attribute_exists(PK) AND "
            "(attribute_not_exists(active_tasks) OR active_tasks < :max)",
            "ExpressionAttributeValues": {
                ":zero": to_value(0),
                ":one": to_value(1),
                ":max": to_value(limits.max_active),
            },
        }
        tx.add("workspace", {"Update": {"TableName": table, **update}})
    put = {"Item": task_item, "ConditionExpression": "attribute_not_exists(PK)"}
    tx.add("task", {"Put": {"TableName": table, **put}})
    if idempotency is not None:
        key, record = idempotency
        item = record_item(
            record, {**keys.idempotency_key(workspace_id, key), "Type": "IdempotencyKey"}
        )
        put = {"Item": item, "ConditionExpression": "attribute_not_exists(PK)"}
        tx.add("idempotency", {"Put": {"TableName": table, **put}})
    if function is not None:
        tx.add("function", {"Update": {"TableName": table, **_claim(function, task_id)}})
    if limits is not None:
        tx.add("rate", {"Update": {"TableName": table, **_rate(workspace_id, window, limits)}})
    return tx


def _claim(function: FunctionClaim, task_id: str) -> dict[str, Any]:
    changes: dict[str, Any] = {"latest_task_id": task_id, "updated_at": function.updated_at}
    if function.deployment_status:
        changes["deployment_status"] = function.deployment_status
    names = {f"#c{i}": name for i, name in enumerate(changes)}
    values = {f":c{i}": to_value(v) for i, v in enumerate(changes.values())}
    sets = ", ".join(f"#c{i} = :c{i}" for i in range(len(changes)))
    return {
        "Key": to_item(keys.function_key(function.workspace_id, function.function_id)),
        "UpdateExpression": f"SET {sets}, active_task_id = :task",
        "ConditionExpression": "attribute_exists(PK) AND attribute_not_exists(active_task_id)",
        "ExpressionAttributeNames": names,
        "ExpressionAttributeValues": {**values, ":task": to_value(task_id)},
    }


def _rate(workspace_id: str, window: int, limits: WorkspaceLimits) -> dict[str, Any]:
    return {
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
