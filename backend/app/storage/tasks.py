"""BuildTask items (`BUILD#{task_id}`): creation, reads, and the pollers' lease and steps.

One repository for the task's whole life. Creation writes the task with the items it touches
in one transaction (built in app.storage.task_creation). While a task is active it carries
`DueShard`/`DueAt` (epoch ms of its next step), which puts it in the sparse DueIndex; a poller
claims a due task with a conditional write that pushes `DueAt` one lease ahead — the lease —
and every later write checks that it still holds it and that the version is the one it read.
"""

import time
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any, Final

from botocore.exceptions import ClientError

from app.aws import cancellation_reasons, is_condition_failure
from app.errors import Conflict, NotFound, TooManyRequests, storage_error
from app.storage import keys
from app.storage.dynamo import Page, from_item, to_item, to_value
from app.storage.repository import Repository
from app.storage.task_creation import (
    FunctionClaim,
    IdempotencyRecord,
    WorkspaceLimits,
    creation,
)
from app.tasks.models import MAX_EVENTS, Task, TaskEvent

# What a step may change: every field but the version (raised by the write) and the event log
# (appended to).
_STEP_FIELDS: Final = tuple(name for name in Task.model_fields if name not in {"version", "events"})
_WORKSPACES_REMEMBERED: Final = 50_000
_EVENT_LOG: Final = frozenset({"events"})


class IdempotentReplay(Exception):
    """The Idempotency-Key was used before; `record` names the task it created."""

    def __init__(self, record: IdempotencyRecord) -> None:
        super().__init__("idempotency key already used")
        self.record = record


class _LostLease(Exception):
    """The conditional write of a step failed: another poller holds the task now."""


class TaskRepository(Repository[Task]):
    model = Task
    item_type = "BuildTask"

    def __init__(self, *, client: Any, table: str) -> None:
        super().__init__(client=client, table=table)
        # task id → workspace id. A task never changes workspace, so once known, its item is
        # read with a GetItem on the table instead of a Query on IdIndex (the polling path).
        self._workspace_of: OrderedDict[str, str] = OrderedDict()

    def _remember(self, task_id: str, workspace_id: str) -> None:
        self._workspace_of[task_id] = workspace_id
        if len(self._workspace_of) > _WORKSPACES_REMEMBERED:
            self._workspace_of.popitem(last=False)

    # -- creation ----------------------------------------------------------------------------

    async def create(
        self,
        *,
        task: Task,
        due_at_ms: int,
        idempotency: tuple[str, IdempotencyRecord] | None = None,
        function: FunctionClaim | None = None,
        limits: WorkspaceLimits | None = None,
    ) -> None:
        """Write a new task with its idempotency key, function claim and workspace limits.

        Raises IdempotentReplay when the key was used first by another request, and the
        domain error (404, 409, 429) of whichever other item refused.
        """
        workspace_id, task_id = task.workspace_id, task.task_id
        item = self._item(
            task,
            {
                **keys.task_key(workspace_id, task_id),
                keys.ENTITY_ID: keys.task_entity_id(task_id),
                keys.DUE_SHARD: keys.due_shard(task_id),
                keys.DUE_AT: due_at_ms,
            },
        )
        window = int(time.time() // 60)
        tx = creation(
            table=self._table,
            workspace_id=workspace_id,
            task_id=task_id,
            task_item=item,
            idempotency=idempotency,
            function=function,
            limits=limits,
            window=window,
        )
        try:
            await self._client.transact_write_items(TransactItems=tx.actions)
        except ClientError as exc:
            await self._refused(exc, tx.parts, task=task, idempotency=idempotency, limits=limits)
            raise storage_error(exc) from exc
        self._remember(task_id, workspace_id)

    async def _refused(
        self,
        exc: ClientError,
        parts: list[str],
        *,
        task: Task,
        idempotency: tuple[str, IdempotencyRecord] | None,
        limits: WorkspaceLimits | None,
    ) -> None:
        """Raise the domain error of the item that cancelled the creation, if one did."""
        reasons = dict(zip(parts, cancellation_reasons(exc), strict=False))
        failed = {name for name, code in reasons.items() if code == "ConditionalCheckFailed"}
        workspace_id = task.workspace_id
        if "idempotency" in failed and idempotency is not None:
            record = await self.get_idempotency(workspace_id=workspace_id, key=idempotency[0])
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
            retry = max(1, (int(time.time() // 60) + 1) * 60 - int(time.time()))
            raise TooManyRequests(
                f"The workspace may create {limits.per_minute} tasks per minute",
                code="RATE_LIMITED",
                headers={"Retry-After": str(retry)},
            ) from exc
        if "TransactionConflict" in reasons.values():
            raise Conflict(
                "A concurrent request touched the same items; retry", code="CONCURRENT_UPDATE"
            ) from exc

    async def _workspace_exists(self, workspace_id: str) -> bool:
        try:
            response = await self._client.get_item(
                TableName=self._table,
                Key=to_item(keys.workspace_key(workspace_id)),
                ConsistentRead=True,
                ProjectionExpression="PK",
            )
        except ClientError as exc:
            raise storage_error(exc) from exc
        return "Item" in response

    async def get_idempotency(self, *, workspace_id: str, key: str) -> IdempotencyRecord | None:
        """What an earlier use of this Idempotency-Key in the workspace made, if any."""
        try:
            response = await self._client.get_item(
                TableName=self._table,
                Key=to_item(keys.idempotency_key(workspace_id, key)),
                ConsistentRead=True,
            )
        except ClientError as exc:
            raise storage_error(exc) from exc
        item = response.get("Item")
        if not item:
            return None
        # Keys written before the record named its workspace carry it in their PK only.
        return IdempotencyRecord.model_validate({"workspace_id": workspace_id, **from_item(item)})

    # -- reads -------------------------------------------------------------------------------

    async def get(self, *, task_id: str, events: bool = True) -> Task | None:
        """A task by id alone (the hot polling path); without `events`, its event log is left
        unparsed (`events` is empty): the status document does not show it, and a long log
        cost more to parse than the rest of the task.

        The whole item is read: a projection saves no read capacity (DynamoDB charges the item's
        size either way), and on the emulators its parsing costs more than the few events of an
        active task do.
        """
        leave_out = frozenset() if events else _EVENT_LOG
        workspace_id = self._workspace_of.get(task_id)
        if workspace_id is not None:
            key = keys.task_key(workspace_id, task_id)
            task = await self._get(key, consistent=False, leave_out=leave_out)
            if task is not None:
                return task
            self._workspace_of.pop(task_id, None)  # gone, or not yet visible: ask the index
        task = await self._by_entity_id(keys.task_entity_id(task_id), leave_out=leave_out)
        if task is not None:
            self._remember(task_id, task.workspace_id)
        return task

    async def get_many(self, *, task_keys: Sequence[keys.TaskKey]) -> list[Task]:
        """The tasks among `task_keys` that exist (BatchGetItem, 100 keys a request)."""
        found: list[Task] = []
        for start in range(0, len(task_keys), 100):
            wanted = [
                to_item(keys.task_key(key.workspace_id, key.task_id))
                for key in task_keys[start : start + 100]
            ]
            while wanted:
                try:
                    response = await self._client.batch_get_item(
                        RequestItems={self._table: {"Keys": wanted, "ConsistentRead": True}}
                    )
                except ClientError as exc:
                    raise storage_error(exc) from exc
                found += [self._read(item) for item in response["Responses"].get(self._table, [])]
                wanted = response.get("UnprocessedKeys", {}).get(self._table, {}).get("Keys", [])
        return found

    async def get_consistent(self, *, workspace_id: str, task_id: str) -> Task | None:
        """The whole task, event log included, as last written."""
        return await self._get(keys.task_key(workspace_id, task_id))

    async def list_in_workspace(
        self,
        *,
        workspace_id: str,
        status: str | None,
        function_id: str | None = None,
        limit: int,
        next_token: str | None,
        newest_first: bool = True,
    ) -> Page[Task]:
        """A page of a workspace's tasks; filters apply within the page (it may come up short)."""
        request: dict[str, Any] = {"ScanIndexForward": not newest_first}
        filters, values = [], {}
        if status:
            filters.append("#status = :status")
            request["ExpressionAttributeNames"] = {"#status": "status"}
            values[":status"] = to_value(status)
        if function_id:
            filters.append("function_id = :function")
            values[":function"] = to_value(function_id)
        if filters:
            request["FilterExpression"] = " AND ".join(filters)
            request["ExpressionAttributeValues"] = values
        return await self._page(
            pk=keys.workspace_pk(workspace_id),
            prefix=keys.TASK_PREFIX,
            limit=limit,
            next_token=next_token,
            **request,
        )

    async def all_of_function(self, *, workspace_id: str, function_id: str) -> list[Task]:
        """Every task of a function (all pages of the workspace's tasks, filtered)."""
        found: list[Task] = []
        token: str | None = None
        while True:
            page = await self.list_in_workspace(
                workspace_id=workspace_id,
                status=None,
                function_id=function_id,
                limit=1000,
                next_token=token,
            )
            found.extend(page.items)
            if page.next_token is None:
                return found
            token = page.next_token

    async def delete_finished(self, *, task: Task) -> None:
        """Delete a finished task's item (a function's clean-up); an active one stays."""
        try:
            await self._client.delete_item(
                TableName=self._table,
                Key=to_item(keys.task_key(task.workspace_id, task.task_id)),
                ConditionExpression="attribute_not_exists(PK) OR NOT (#status IN (:p, :r))",
                ExpressionAttributeNames={"#status": "status"},
                ExpressionAttributeValues={":p": to_value("pending"), ":r": to_value("running")},
            )
        except ClientError as exc:
            raise storage_error(
                exc,
                on_condition=Conflict(
                    f"Task {task.task_id} is still running", code="TASK_IN_PROGRESS"
                ),
            ) from exc
        self._workspace_of.pop(task.task_id, None)

    # -- the pollers: due index, lease, steps -----------------------------------------------

    async def due(self, *, shard: str, now_ms: int, limit: int) -> list[keys.TaskKey]:
        """Active tasks in `shard` whose next step is due (eventually consistent)."""
        try:
            response = await self._client.query(
                TableName=self._table,
                IndexName=keys.DUE_INDEX,
                KeyConditionExpression="#shard = :shard AND #due <= :now",
                ExpressionAttributeNames={"#shard": keys.DUE_SHARD, "#due": keys.DUE_AT},
                ExpressionAttributeValues={":shard": to_value(shard), ":now": to_value(now_ms)},
                Limit=limit,
            )
        except ClientError as exc:
            raise storage_error(exc) from exc
        return [keys.parse_due_key(item) for item in response["Items"]]

    async def claim(
        self, *, key: keys.TaskKey, now_ms: int, lease_ms: int, owner: str
    ) -> Task | None:
        """Take the lease on a due task and read it (consistently); None if another has it."""
        try:
            response = await self._client.update_item(
                TableName=self._table,
                Key=to_item(keys.task_key(key.workspace_id, key.task_id)),
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
            raise storage_error(exc) from exc
        return self._read(response["Attributes"])

    async def save_step(
        self,
        *,
        before: Task,
        after: Task,
        events: Sequence[TaskEvent],
        owner: str,
        next_due_ms: int | None,
    ) -> Task | None:
        """Write one step's outcome if this poller still holds the lease on `before`'s version.

        `next_due_ms=None` ends the task's life in the due index (it is terminal). Returns the
        task as stored, or None when the write lost (another poller took over, or a stale
        version). The whole resulting item is validated and measured before anything is sent.
        """
        stored, _ = await self.save_last_step(
            before=before, after=after, events=events, owner=owner, next_due_ms=next_due_ms
        )
        return stored

    async def save_last_step(
        self,
        *,
        before: Task,
        after: Task,
        events: Sequence[TaskEvent],
        owner: str,
        next_due_ms: int | None,
        extras: Sequence[dict[str, Any]] = (),
    ) -> tuple[Task | None, bool]:
        """`save_step`, with `extras` (TransactWriteItems actions: the function following the
        task, its new revision) written in the same transaction as a last step when their
        conditions hold. Returns the stored task and whether the extras were written."""
        kept = tuple(events) if len(before.events) < MAX_EVENTS else ()
        stored = after.model_copy(
            update={"version": before.version + 1, "events": before.events + kept}
        )
        task_keys = keys.task_key(before.workspace_id, before.task_id)
        self._item(stored, {**task_keys, keys.ENTITY_ID: keys.task_entity_id(before.task_id)})
        update = self._step_update(before, stored, kept, owner=owner, next_due_ms=next_due_ms)
        written = False
        try:
            if next_due_ms is None:
                written = await self._finish(before, update, extras)
            else:
                await self._client.update_item(**update)
        except _LostLease:
            return None, False
        except ClientError as exc:
            if is_condition_failure(exc):
                return None, False
            raise storage_error(exc) from exc
        return stored, written

    def _step_update(
        self,
        before: Task,
        stored: Task,
        events: tuple[TaskEvent, ...],
        *,
        owner: str,
        next_due_ms: int | None,
    ) -> dict[str, Any]:
        old, new = before.model_dump(mode="json"), stored.model_dump(mode="json")
        names: dict[str, str] = {"#version": "version", "#status": "status"}
        values: dict[str, Any] = {
            ":version": to_value(before.version),
            ":one": to_value(1),
            ":me": to_value(owner),
            ":pending": to_value("pending"),
            ":running": to_value("running"),
        }
        sets, removes = ["#version = #version + :one"], ["lease_owner"]
        for i, name in enumerate(field for field in _STEP_FIELDS if old[field] != new[field]):
            names[f"#c{i}"] = name
            if new[name] is None:
                removes.append(f"#c{i}")
            else:
                values[f":c{i}"] = to_value(new[name])
                sets.append(f"#c{i} = :c{i}")
        if events:
            sets.append("events = list_append(if_not_exists(events, :empty), :events)")
            values[":events"] = to_value([event.model_dump(mode="json") for event in events])
            values[":empty"] = to_value([])
        names["#due"] = keys.DUE_AT
        if next_due_ms is None:
            removes += ["#shard", "#due"]
            names["#shard"] = keys.DUE_SHARD
        else:
            values[":next"] = to_value(next_due_ms)
            sets.append("#due = :next")
        return {
            "TableName": self._table,
            "Key": to_item(keys.task_key(before.workspace_id, before.task_id)),
            "UpdateExpression": f"SET {', '.join(sets)} REMOVE {', '.join(removes)}",
            "ConditionExpression": "#version = :version AND lease_owner = :me "
            "AND #status IN (:pending, :running)",
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": values,
        }

    async def _finish(
        self, before: Task, update: dict[str, Any], extras: Sequence[dict[str, Any]]
    ) -> bool:
        """Write a task's last step, free its slot in the workspace's active-task count and
        write `extras`, in one transaction; returns whether the extras were written.

        A part whose own condition fails (a workspace without a count, a function that moved
        on) is left out and the rest written again: a task must be able to finish whatever
        the counter or its function say.
        """
        release = {
            "TableName": self._table,
            "Key": to_item(keys.workspace_key(before.workspace_id)),
            "UpdateExpression": "SET active_tasks = active_tasks - :one",
            "ConditionExpression": "active_tasks > :zero",
            "ExpressionAttributeValues": {":one": to_value(1), ":zero": to_value(0)},
        }
        with_release, with_extras = True, bool(extras)
        while True:
            actions: list[dict[str, Any]] = [{"Update": update}]
            if with_release:
                actions.append({"Update": release})
            if with_extras:
                actions.extend(extras)
            try:
                await self._client.transact_write_items(TransactItems=actions)
                return with_extras
            except ClientError as exc:
                reasons = cancellation_reasons(exc)
                if reasons and reasons[0] == "ConditionalCheckFailed":
                    raise _LostLease from exc
                failed = [i for i, code in enumerate(reasons) if code == "ConditionalCheckFailed"]
                if not failed:
                    raise
                first_extra = 2 if with_release else 1
                if with_release and 1 in failed:
                    with_release = False
                if with_extras and any(i >= first_extra for i in failed):
                    with_extras = False


__all__ = [
    "FunctionClaim",
    "IdempotencyRecord",
    "IdempotentReplay",
    "TaskRepository",
    "WorkspaceLimits",
]
