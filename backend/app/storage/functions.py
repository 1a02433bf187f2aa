"""Function items (`FN#{id}`) with a guard item per name (`FNNAME#{name}`) for uniqueness.

A function follows its latest task (`follow_task`); the claim a new task takes on it is part
of the task's creation transaction (app.storage.task_creation).
"""

from typing import Any

from botocore.exceptions import ClientError

from app.aws import cancellation_reasons, is_condition_failure
from app.errors import Conflict, NotFound, storage_error
from app.functions.models import FunctionRecord
from app.storage import keys
from app.storage.dynamo import Item, Page, to_item, to_value
from app.storage.repository import Repository, validated_changes


def function_not_found(function_id: str) -> NotFound:
    return NotFound(f"Function {function_id} not found", code="FUNCTION_NOT_FOUND")


class FunctionRepository(Repository[FunctionRecord]):
    model = FunctionRecord
    item_type = "Function"

    async def create(self, *, function: FunctionRecord) -> None:
        """Write a function and claim its name in one transaction (exactly one winner per name)."""
        workspace_id, name = function.workspace_id, function.name
        item = self._item(
            function,
            {
                **keys.function_key(workspace_id, function.id),
                keys.ENTITY_ID: keys.function_entity_id(function.id),
            },
        )
        guard = {
            **keys.function_name_key(workspace_id, name),
            "Type": "FunctionName",
            "function_id": function.id,
        }
        try:
            await self._client.transact_write_items(
                TransactItems=[
                    {
                        "ConditionCheck": {
                            "TableName": self._table,
                            "Key": to_item(keys.workspace_key(workspace_id)),
                            "ConditionExpression": "attribute_exists(PK)",
                        }
                    },
                    {
                        "Put": {
                            "TableName": self._table,
                            "Item": to_item(guard),
                            "ConditionExpression": "attribute_not_exists(PK)",
                        }
                    },
                    {
                        "Put": {
                            "TableName": self._table,
                            "Item": item,
                            "ConditionExpression": "attribute_not_exists(PK)",
                        }
                    },
                ]
            )
        except ClientError as exc:
            reasons = cancellation_reasons(exc)
            if reasons and reasons[0] == "ConditionalCheckFailed":
                raise NotFound(
                    f"Workspace {workspace_id} not found", code="WORKSPACE_NOT_FOUND"
                ) from exc
            taken = Conflict(
                f"A function named {name!r} already exists in this workspace",
                code="FUNCTION_NAME_TAKEN",
            )
            if "TransactionConflict" in reasons:
                raise taken from exc
            raise storage_error(exc, on_condition=taken) from exc

    async def get(self, *, function_id: str) -> FunctionRecord | None:
        """Find a function by id alone, through IdIndex."""
        return await self._by_entity_id(keys.function_entity_id(function_id))

    async def get_consistent(self, *, workspace_id: str, function_id: str) -> FunctionRecord | None:
        """The function as last written (its revision count, say)."""
        return await self._get(keys.function_key(workspace_id, function_id))

    async def list_in_workspace(
        self, *, workspace_id: str, limit: int, next_token: str | None
    ) -> Page[FunctionRecord]:
        return await self._page(
            pk=keys.workspace_pk(workspace_id),
            prefix=keys.FUNCTION_PREFIX,
            limit=limit,
            next_token=next_token,
        )

    async def any_in_workspace(self, *, workspace_id: str) -> bool:
        try:
            response = await self._client.query(
                TableName=self._table,
                KeyConditionExpression="PK = :pk AND begins_with(SK, :prefix)",
                ExpressionAttributeValues={
                    ":pk": to_value(keys.workspace_pk(workspace_id)),
                    ":prefix": to_value(keys.FUNCTION_PREFIX),
                },
                ProjectionExpression="SK",
                Limit=1,
            )
        except ClientError as exc:
            raise storage_error(exc) from exc
        return bool(response.get("Items"))

    async def update(self, *, function: FunctionRecord, changes: dict[str, Any]) -> FunctionRecord:
        """Set `changes` on an existing function; return the new record."""
        return await self._update(
            keys.function_key(function.workspace_id, function.id),
            current=function,
            changes=changes,
            missing=function_not_found(function.id),
            extra_keys={keys.ENTITY_ID: keys.function_entity_id(function.id)},
        )

    async def delete(self, *, function: FunctionRecord) -> None:
        """Delete a function and release its name."""
        workspace_id = function.workspace_id
        try:
            await self._client.transact_write_items(
                TransactItems=[
                    {
                        "Delete": {
                            "TableName": self._table,
                            "Key": to_item(keys.function_key(workspace_id, function.id)),
                            "ConditionExpression": "attribute_exists(PK)",
                        }
                    },
                    {
                        "Delete": {
                            "TableName": self._table,
                            "Key": to_item(keys.function_name_key(workspace_id, function.name)),
                        }
                    },
                ]
            )
        except ClientError as exc:
            raise storage_error(exc, on_condition=function_not_found(function.id)) from exc

    async def follow_task(
        self,
        *,
        workspace_id: str,
        function_id: str,
        task_id: str,
        changes: dict[str, Any],
        release: bool,
        revision: tuple[Item, int] | None = None,
    ) -> bool:
        """Mirror a task's progress on its function, only while it is the function's latest task.

        With `release` the task also gives up its hold on the function. With `revision` (the
        item of a new revision, and the function's revision count it follows) the revision is
        written in the same transaction. False when the function has moved on to another task
        (or is gone, or another revision took the number).
        """
        actions = self.follow_actions(
            workspace_id=workspace_id, function_id=function_id, task_id=task_id,
            changes=changes, release=release, revision=revision,
        )  # fmt: skip
        try:
            if len(actions) == 1:
                await self._client.update_item(**actions[0]["Update"])
            else:
                await self._client.transact_write_items(TransactItems=actions)
        except ClientError as exc:
            if is_condition_failure(exc) or "ConditionalCheckFailed" in cancellation_reasons(exc):
                return False
            raise storage_error(exc) from exc
        return True

    def follow_actions(
        self,
        *,
        workspace_id: str,
        function_id: str,
        task_id: str,
        changes: dict[str, Any],
        release: bool,
        revision: tuple[Item, int] | None = None,
    ) -> list[dict[str, Any]]:
        """The TransactWriteItems actions of `follow_task` (to write with the task's last step).

        The function is updated only while the task is its latest (with `release`: while the
        task holds it); a revision only while the function's revision count is still `count`,
        so two writers can never both make revision n.
        """
        validated_changes(self.model, changes)
        names = {f"#c{i}": name for i, name in enumerate(changes)}
        values = {f":c{i}": to_value(v) for i, v in enumerate(changes.values())}
        values[":task"] = to_value(task_id)
        expression = "SET " + ", ".join(f"#c{i} = :c{i}" for i in range(len(changes)))
        condition = "latest_task_id = :task"
        if release:
            expression += " REMOVE active_task_id"
            condition = "active_task_id = :task"
        if revision is not None:
            values[":count"] = to_value(revision[1])
            counted = "revision_count = :count"
            if revision[1] == 0:
                counted = f"(attribute_not_exists(revision_count) OR {counted})"
            condition = f"{condition} AND {counted}"
        update = {
            "TableName": self._table,
            "Key": to_item(keys.function_key(workspace_id, function_id)),
            "UpdateExpression": expression,
            "ConditionExpression": condition,
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": values,
        }
        actions: list[dict[str, Any]] = [{"Update": update}]
        if revision is not None:
            put = {"Item": revision[0], "ConditionExpression": "attribute_not_exists(PK)"}
            actions.append({"Put": {"TableName": self._table, **put}})
        return actions
