"""Function items (`FN#{id}`) with a guard item per name (`FNNAME#{name}`) for uniqueness."""

from typing import Any

from botocore.exceptions import ClientError

from app.aws import cancellation_reasons, is_condition_failure
from app.errors import Conflict, NotFound
from app.storage import keys
from app.storage.dynamo import (
    Page,
    decode_token,
    encode_token,
    from_item,
    get_by_entity_id,
    set_expression,
    to_item,
    to_value,
)

_KEY_ATTRIBUTES = {keys.PK, keys.SK, keys.ENTITY_ID, "Type"}


def _record(item: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in from_item(item).items() if k not in _KEY_ATTRIBUTES}


def _function_not_found(function_id: str) -> NotFound:
    return NotFound(f"Function {function_id} not found", code="FUNCTION_NOT_FOUND")


class FunctionRepository:
    def __init__(self, *, client: Any, table: str) -> None:
        self._client = client
        self._table = table

    async def create(self, *, function: dict[str, Any]) -> None:
        """Write a function and claim its name in one transaction (exactly one winner per name)."""
        workspace_id, name = function["workspace_id"], function["name"]
        item = {
            **keys.function_key(workspace_id, function["id"]),
            keys.ENTITY_ID: keys.function_entity_id(function["id"]),
            "Type": "Function",
            **function,
        }
        guard = {
            **keys.function_name_key(workspace_id, name),
            "Type": "FunctionName",
            "function_id": function["id"],
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
                            "Item": to_item(item),
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
            if "ConditionalCheckFailed" in reasons or "TransactionConflict" in reasons:
                raise Conflict(
                    f"A function named {name!r} already exists in this workspace",
                    code="FUNCTION_NAME_TAKEN",
                ) from exc
            raise

    async def get(self, *, function_id: str) -> dict[str, Any] | None:
        """Find a function by id alone, through IdIndex."""
        item = await get_by_entity_id(
            self._client, self._table, keys.function_entity_id(function_id)
        )
        return _record(item) if item else None

    async def list_in_workspace(
        self, *, workspace_id: str, limit: int, next_token: str | None
    ) -> Page:
        pk = keys.workspace_pk(workspace_id)
        request: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "PK = :pk AND begins_with(SK, :prefix)",
            "ExpressionAttributeValues": {
                ":pk": to_value(pk),
                ":prefix": to_value(keys.FUNCTION_PREFIX),
            },
            "Limit": limit,
        }
        start = decode_token(next_token, expected={keys.PK: pk})
        if start:
            request["ExclusiveStartKey"] = start
        response = await self._client.query(**request)
        return Page(
            items=[_record(item) for item in response.get("Items", [])],
            next_token=encode_token(response.get("LastEvaluatedKey")),
        )

    async def any_in_workspace(self, *, workspace_id: str) -> bool:
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
        return bool(response.get("Items"))

    async def update(
        self, *, workspace_id: str, function_id: str, changes: dict[str, Any]
    ) -> dict[str, Any]:
        """Set `changes` on an existing function; return the new record."""
        try:
            response = await self._client.update_item(
                TableName=self._table,
                Key=to_item(keys.function_key(workspace_id, function_id)),
                ConditionExpression="attribute_exists(PK)",
                **set_expression(changes),
                ReturnValues="ALL_NEW",
            )
        except ClientError as exc:
            if is_condition_failure(exc):
                raise _function_not_found(function_id) from exc
            raise
        return _record(response["Attributes"])

    async def delete(self, *, workspace_id: str, function_id: str, name: str) -> None:
        """Delete a function and release its name."""
        try:
            await self._client.transact_write_items(
                TransactItems=[
                    {
                        "Delete": {
                            "TableName": self._table,
                            "Key": to_item(keys.function_key(workspace_id, function_id)),
                            "ConditionExpression": "attribute_exists(PK)",
                        }
                    },
                    {
                        "Delete": {
                            "TableName": self._table,
                            "Key": to_item(keys.function_name_key(workspace_id, name)),
                        }
                    },
                ]
            )
        except ClientError as exc:
            if "ConditionalCheckFailed" in cancellation_reasons(exc):
                raise _function_not_found(function_id) from exc
            raise

    async def follow_task(
        self,
        *,
        workspace_id: str,
        function_id: str,
        task_id: str,
        changes: dict[str, Any],
        release: bool,
    ) -> bool:
        """Mirror a task's progress on its function, only while it is the function's latest task."""
        names = {f"#c{i}": name for i, name in enumerate(changes)}
        values = {f":c{i}": to_value(v) for i, v in enumerate(changes.values())}
        values[":task"] = to_value(task_id)
        expression = "SET " + ", ".join(f"#c{i} = :c{i}" for i in range(len(changes)))
        condition = "latest_task_id = :task"
        if release:
            expression += " REMOVE active_task_id"
            condition = "active_task_id = :task"
        try:
            await self._client.update_item(
                TableName=self._table,
                Key=to_item(keys.function_key(workspace_id, function_id)),
                UpdateExpression=expression,
                ConditionExpression=condition,
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
            )
        except ClientError as exc:
            if is_condition_failure(exc):
                return False
            raise
        return True
