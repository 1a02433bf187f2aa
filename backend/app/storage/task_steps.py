"""What the pollers write on BuildTask items: the due index, the lease, and each step's outcome.

While a task is active it carries `DueShard`/`DueAt` (epoch ms of its next step), which puts it
in the sparse DueIndex; a poller claims a due task with a conditional write that pushes `DueAt`
one lease ahead — the lease — and every later write checks that it still holds it.
"""

from typing import Any

from botocore.exceptions import ClientError

from app.aws import cancellation_reasons, is_condition_failure
from app.storage import keys
from app.storage.dynamo import from_item, to_item, to_value

MAX_EVENTS = 100
_KEY_ATTRIBUTES = {keys.PK, keys.SK, keys.ENTITY_ID, keys.DUE_SHARD, keys.DUE_AT, "Type"}


def _record(item: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in from_item(item).items() if k not in _KEY_ATTRIBUTES}


class _LostLease(Exception):
    """The conditional write of a step failed: another poller holds the task now."""


class TaskStepRepository:
    def __init__(self, *, client: Any, table: str) -> None:
        self._client = client
        self._table = table

    async def due(self, *, shard: str, now_ms: int, limit: int) -> list[dict[str, Any]]:
        """Keys of active tasks in `shard` whose next step is due (eventually consistent)."""
        response = await self._client.query(
            TableName=self._table,
            IndexName=keys.DUE_INDEX,
            KeyConditionExpression="#shard = :shard AND #due <= :now",
            ExpressionAttributeNames={"#shard": keys.DUE_SHARD, "#due": keys.DUE_AT},
            ExpressionAttributeValues={":shard": to_value(shard), ":now": to_value(now_ms)},
            Limit=limit,
        )
        return [{keys.PK: item[keys.PK], keys.SK: item[keys.SK]} for item in response["Items"]]

    async def claim(
        self, *, raw_key: dict[str, Any], now_ms: int, lease_ms: int, owner: str
    ) -> dict[str, Any] | None:
        """Take the lease on a due task and read it (consistently); None if another has it."""
        try:
            response = await self._client.update_item(
                TableName=self._table,
                Key=raw_key,
                UpdateExpression="SET #due = :until, lease_owner = :me",
                ConditionExpression="attribute_exists(#shard) AND #due <= :now",
                ExpressionAttributeNames={"#due": keys.DUE_AT, "#shard": keys.DUE_SHARD},
                ExpressionAttributeValues={
                    ":until": to_value(now_ms + lease_ms),
                    ":now": to_value(now_ms),
                    ":me": to_value(owner),
                },
                ReturnValues="ALL_NEW",
            )
        except ClientError as exc:
            if is_condition_failure(exc):
                return None
            raise
        return _record(response["Attributes"])

    async def save_step(
        self,
        *,
        task: dict[str, Any],
        changes: dict[str, Any],
        owner: str,
        next_due_ms: int | None,
        events: list[dict[str, Any]] | None = None,
    ) -> dict[str, Any] | None:
        """Write one step's outcome if this poller still holds the lease on that version.

        `next_due_ms=None` ends the task's life in the due index (it is terminal). Returns the
        new record, or None when the write lost (another poller took over, or a stale version).
        """
        names: dict[str, str] = {"#version": "version", "#status": "status"}
        values: dict[str, Any] = {
            ":version": to_value(task["version"]),
            ":one": to_value(1),
            ":me": to_value(owner),
            ":pending": to_value("pending"),
            ":running": to_value("running"),
        }
        sets = ["#version = #version + :one"]
        for i, (name, value) in enumerate(changes.items()):
            names[f"#c{i}"] = name
            values[f":c{i}"] = to_value(value)
            sets.append(f"#c{i} = :c{i}")
        if events and len(task.get("events", [])) < MAX_EVENTS:
            sets.append("events = list_append(if_not_exists(events, :empty), :events)")
            values[":events"] = to_value(events)
            values[":empty"] = to_value([])
        removes = ["lease_owner"]
        if next_due_ms is None:
            removes += ["#shard", "#due"]
            names["#shard"], names["#due"] = keys.DUE_SHARD, keys.DUE_AT
        else:
            names["#due"] = keys.DUE_AT
            values[":next"] = to_value(next_due_ms)
            sets.append("#due = :next")
        update = {
            "TableName": self._table,
            "Key": to_item(keys.task_key(task["workspace_id"], task["task_id"])),
            "UpdateExpression": f"SET {', '.join(sets)} REMOVE {', '.join(removes)}",
            "ConditionExpression": "#version = :version AND lease_owner = :me "
            "AND #status IN (:pending, :running)",
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": values,
        }
        try:
            finished = next_due_ms is None and await self._finish(task=task, update=update)
        except _LostLease:
            return None
        if finished:
            response = await self._client.get_item(
                TableName=self._table,
                Key=to_item(keys.task_key(task["workspace_id"], task["task_id"])),
                ConsistentRead=True,
            )
            item = response.get("Item")
            return {**_record(item), "next_due_ms": None} if item else None
        try:
            response = await self._client.update_item(**update, ReturnValues="ALL_NEW")
        except ClientError as exc:
            if is_condition_failure(exc):
                return None
            raise
        return {**_record(response["Attributes"]), "next_due_ms": next_due_ms}

    async def _finish(self, *, task: dict[str, Any], update: dict[str, Any]) -> bool:
        """Write a task's last step and free its slot in the workspace's active-task count.

        Returns False when the count could not be lowered (a workspace without one), so that
        the caller writes the step alone: a task must be able to finish whatever the counter.
        """
        release = {
            "TableName": self._table,
            "Key": to_item(keys.workspace_key(task["workspace_id"])),
            "UpdateExpression": "SET active_tasks = active_tasks - :one",
            "ConditionExpression": "active_tasks > :zero",
            "ExpressionAttributeValues": {":one": to_value(1), ":zero": to_value(0)},
        }
        try:
            await self._client.transact_write_items(
                TransactItems=[{"Update": update}, {"Update": release}]
            )
        except ClientError as exc:
            reasons = cancellation_reasons(exc)
            if len(reasons) == 2 and reasons[1] == "ConditionalCheckFailed" != reasons[0]:
                return False
            if reasons and reasons[0] == "ConditionalCheckFailed":
                raise _LostLease from exc
            raise
        return True
